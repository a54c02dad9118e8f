"""The conda stand-in the images carry at /opt/miniconda3, where SWE-bench's images have Miniconda.

conda's channels cannot be reached here, so the harness's scripts (setup_env.sh, setup_repo.sh, eval.sh) meet a
stand-in that gives the commands they run the same effect with Debian's Python and PyPI:
- `source /opt/miniconda3/bin/activate` defines the `conda` shell function (as Miniconda's does) and puts
  /opt/miniconda3/bin on PATH; `source /opt/miniconda3/etc/profile.d/conda.sh` (what `conda init` writes into
  ~/.bashrc) defines the function alone;
- `conda create -n NAME python=X.Y [PKG...] -y` makes a virtual environment /opt/miniconda3/envs/NAME with that
  Python (refused when the image has no such Python) and installs the packages from PyPI;
- `conda activate NAME` / `conda deactivate` enter and leave it (CONDA_DEFAULT_ENV and CONDA_PREFIX as conda sets
  them); `conda install PKG...` installs into the active environment from PyPI;
- `conda init`, `conda config` and `conda clean` do nothing; anything else (an environment.yml, conda-only
  packages) is refused with a message, so a recipe that needs real conda fails loudly instead of differently."""

from __future__ import annotations

ROOT = "/opt/miniconda3"

CONDA_SH = r"""# awm-tui's conda stand-in (not Miniconda): the `conda` shell function, as conda's own profile.d/conda.sh defines it.
conda() {
  case "${1:-}" in
    activate)
      local name="${2:-base}"
      if type deactivate >/dev/null 2>&1; then deactivate; fi
      if [ "$name" = base ]; then
        export CONDA_DEFAULT_ENV=base CONDA_PREFIX=/opt/miniconda3 CONDA_SHLVL=1
        return 0
      fi
      if [ ! -f "/opt/miniconda3/envs/$name/bin/activate" ]; then
        echo "EnvironmentNameNotFound: Could not find conda environment: $name" >&2
        return 1
      fi
      VIRTUAL_ENV_DISABLE_PROMPT=1 . "/opt/miniconda3/envs/$name/bin/activate"
      export CONDA_DEFAULT_ENV="$name" CONDA_PREFIX="/opt/miniconda3/envs/$name" CONDA_SHLVL=2
      ;;
    deactivate)
      if type deactivate >/dev/null 2>&1; then deactivate; fi
      export CONDA_DEFAULT_ENV=base CONDA_PREFIX=/opt/miniconda3 CONDA_SHLVL=1
      ;;
    *)
      command /opt/miniconda3/bin/conda "$@"
      ;;
  esac
}
"""

ACTIVATE = r"""# awm-tui's conda stand-in (not Miniconda): `source /opt/miniconda3/bin/activate [ENV]`
case ":$PATH:" in *:/opt/miniconda3/bin:*) ;; *) export PATH="/opt/miniconda3/bin:$PATH" ;; esac
. /opt/miniconda3/etc/profile.d/conda.sh
conda activate "${1:-base}"
"""

CONDA = r"""#!/bin/bash
# awm-tui's conda stand-in (not Miniconda): what the SWE-bench harness's scripts ask of conda, with Debian's Python
# and PyPI. See awm/images/stand_in.py in awm-tui.
set -euo pipefail
root=/opt/miniconda3
refuse() { echo "conda (awm-tui stand-in): $*" >&2; exit 1; }
command="${1:-}"
shift || true
case "$command" in
  create)
    name="" python="" packages=()
    while [ $# -gt 0 ]; do
      case "$1" in
        -n|--name) name="$2"; shift 2 ;;
        -c|--channel) shift 2 ;;
        -y|--yes|-q|--quiet) shift ;;
        python=*) python="${1#python=}"; shift ;;
        -*) refuse "option $1 of conda create is not supported" ;;
        *) packages+=("$1"); shift ;;
      esac
    done
    [ -n "$name" ] || refuse "conda create needs -n NAME"
    interpreter="python3"
    if [ -n "$python" ]; then
      interpreter="python$(echo "$python" | cut -d. -f1,2)"
      command -v "$interpreter" >/dev/null 2>&1 || \
        refuse "this image has no Python $python ($interpreter); it has $(python3 --version 2>&1)"
    fi
    "$interpreter" -m venv "$root/envs/$name"
    if [ ${#packages[@]} -gt 0 ]; then
      "$root/envs/$name/bin/python" -m pip install "${packages[@]}"
    fi
    ;;
  install)
    target="${CONDA_PREFIX:-$root}"
    [ "$target" != "$root" ] || refuse "conda install into the base environment is not supported; activate one"
    packages=()
    while [ $# -gt 0 ]; do
      case "$1" in
        -n|--name) target="$root/envs/$2"; shift 2 ;;
        -c|--channel) shift 2 ;;
        -y|--yes|-q|--quiet) shift ;;
        python=*) shift ;;  # the environment's Python stays what it was made with
        -*) refuse "option $1 of conda install is not supported" ;;
        *) packages+=("$1"); shift ;;
      esac
    done
    if [ ${#packages[@]} -gt 0 ]; then
      "$target/bin/python" -m pip install "${packages[@]}"
    fi
    ;;
  init|config|clean)
    ;;
  activate|deactivate)
    refuse "run 'source /opt/miniconda3/bin/activate' first: conda $command changes the calling shell"
    ;;
  env)
    if [ "${1:-}" = list ]; then ls -1 "$root/envs"; else refuse "conda env ${1:-} is not supported (no conda channels here)"; fi
    ;;
  --version|-V)
    echo "conda 0.0 (awm-tui stand-in)"
    ;;
  *)
    refuse "conda ${command} is not supported (no conda channels here)"
    ;;
esac
"""

FILES = {
    "etc/profile.d/conda.sh": CONDA_SH,
    "bin/activate": ACTIVATE,
    "bin/conda": CONDA,
}
