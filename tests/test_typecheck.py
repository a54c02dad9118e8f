"""The engine and the app type-check clean: mypy over awm/ and awm_tui/ with the settings in pyproject.toml
([tool.mypy]: which files, which checks, which third-party packages are skipped and why)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Left to fix (issue 22): files another change was rewriting at the same time. Once mypy is clean on them, this
# mark goes, and the test guards every later change.
LEFT = ("awm/run/loop.py", "awm/experiment/compare.py", "awm_tui/run_memory.py", "awm_tui/screens/detail.py")


@pytest.mark.slow  # a minute from a cold cache (.mypy_cache), seconds after
@pytest.mark.xfail(strict=False, reason=f"mypy still reports errors in {', '.join(LEFT)}")
def test_mypy_is_clean():
    done = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True, timeout=280)
    assert done.returncode == 0, f"mypy (exit {done.returncode}):\n{done.stdout}{done.stderr}"
