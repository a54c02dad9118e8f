"""Docker images and containers on this machine, made from Debian packages and PyPI only (nothing can be pulled here).

- `engine`: the Docker engine (reachable or not, and why), the labels every container of awm-tui carries, the
  removal of containers a run or a killed process left, and the client the harness is given (host networking).
- `stand_in`: the files of the conda stand-in that the images carry at /opt/miniconda3.
- `build`: the image chain shaped like swebench 4.1.0's, named as it names them: a Debian base made with
  debootstrap, `sweb.base.py.x86_64`, the environment image `sweb.env.py.x86_64.<hash>` from the harness's own
  setup_env.sh, the instance image `sweb.eval.x86_64.<instance>` from its own setup_repo.sh; and the agent server
  (openhands-agent-server at the SDK's version) in a volume mounted read-only into the agent's container.

Nothing here imports the docker SDK at import time."""
