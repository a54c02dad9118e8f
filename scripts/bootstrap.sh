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
export UV_PYTHON_DOWNLOADS="${UV_PYTHON_DOWNLOADS:-never}"
# Optional extras, space-separated: AWM_TUI_EXTRAS=docker adds openhands-workspace (the Docker agent workspace).
# --inexact keeps an extra installed earlier when a later call does not name it.
extras=()
for extra in ${AWM_TUI_EXTRAS:-}; do extras+=(--extra "$extra"); done
if ! "$uv_bin" sync --frozen --inexact --quiet ${extras[@]+"${extras[@]}"} >&2; then
  echo "awm-tui: could not create the environment. It needs Python 3.12 (pyenv install 3.12, or python3.12 on PATH)." >&2
  exit 1
fi
