#!/usr/bin/env bash
set -eo pipefail

# AWM Online Learning Runner Script: the design's run_awm.sh (its section 3.4), a thin wrapper over awm-tui.
# Usage: scripts/run_awm.sh [llm_config] [options...]
#   llm_config  a [llm.NAME] table of ./config.toml (default llm.eval); with no spec in the options, the run takes
#               awm-tui's defaults (specs/django.yaml) with these flags over them (see the README, "Command line")
#   options     any awm-tui argument, passed on: --no-ui (headless), --limit N, --dataset NAME, a spec, ...
# Environment (the design's): OUTPUT_DIR, REPO_FILTER, INDUCTION_TRIGGER, MAX_ITERATIONS.
# Which awm-tui: the one on PATH (an installed awm-tui or an activated .venv), else this checkout's ./awm-tui (which
# makes .venv on first use, as the design's `poetry run` did).

LLM_CONFIG=${1:-"llm.eval"}
shift || true

echo "Running AWM Online Learning with LLM config: $LLM_CONFIG"

# Default options
OUTPUT_DIR="${OUTPUT_DIR:-evaluation/evaluation_outputs/awm}"
REPO_FILTER="${REPO_FILTER:-django/django}"
INDUCTION_TRIGGER="${INDUCTION_TRIGGER:-10}"
MAX_ITERATIONS="${MAX_ITERATIONS:-100}"

AWM_TUI="$(command -v awm-tui || true)"
if [ -z "$AWM_TUI" ]; then
  AWM_TUI="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/awm-tui"
fi

exec "$AWM_TUI" \
    --llm-config "$LLM_CONFIG" \
    --output-dir "$OUTPUT_DIR" \
    --repo-filter "$REPO_FILTER" \
    --induction-trigger "$INDUCTION_TRIGGER" \
    --max-iterations "$MAX_ITERATIONS" \
    "$@"
