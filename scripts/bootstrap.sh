#!/usr/bin/env bash
# Creates or updates .venv from uv.lock. Needs only a python3 (for uv itself) and a Python 3.12 install
# that uv can find (pyenv's, or python3.12 on PATH).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
uv_bin=uv
if ! uv --version >/dev/null 2>&1; then
  uv_bin="$root/.tools/bin/uv"
  if [ ! -x "$uv_bin" ]; then
    echo "awm-tui: installing uv into .tools/ (first run only)" >&2
    python3 -m pip install --quiet --disable-pip-version-check --target "$root/.tools" uv >&2
  fi
fi
# bubblewrap runs the local workspace's agent in a sandbox (agent.sandbox: auto). Installed here when it is missing
# and this is root with apt-get; never a reason to fail: without it `auto` runs the agent unconfined and says so at
# the run's start. A failed attempt is not repeated for a day (.tools/.no-bubblewrap).
if ! command -v bwrap >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  marker="$root/.tools/.no-bubblewrap"
  if [ ! -e "$marker" ] || [ -n "$(find "$marker" -mmin +1440 2>/dev/null)" ]; then
    echo "awm-tui: installing bubblewrap (the sandbox of the local workspace's agent)" >&2
    install_bwrap() { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends bubblewrap \
      >/dev/null 2>&1; }
    if install_bwrap || { apt-get update -qq >/dev/null 2>&1 && install_bwrap; }; then
      rm -f "$marker"
    else
      mkdir -p "$root/.tools" && touch "$marker"
      echo "awm-tui: could not install bubblewrap; agent.sandbox: auto runs the agent unconfined (said at the run's" \
        "start). Install it yourself: apt-get install bubblewrap" >&2
    fi
  fi
fi
export UV_PYTHON_DOWNLOADS="${UV_PYTHON_DOWNLOADS:-never}"
# Optional extras, space-separated: AWM_TUI_EXTRAS=docker adds openhands-workspace (the Docker agent workspace).
# --inexact keeps an extra installed earlier when a later call does not name it.
extras=()
for extra in ${AWM_TUI_EXTRAS:-}; do extras+=(--extra "$extra"); done
if ! "$uv_bin" sync --frozen --inexact --quiet ${extras[@]+"${extras[@]}"} >&2; then
  echo "awm-tui: could not create the environment. It needs Python 3.12 (pyenv install 3.12, or python3.12 on PATH)." >&2
  exit 1
fi
