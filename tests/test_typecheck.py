"""The engine and the app type-check clean: mypy over awm/ and awm_tui/ with the settings in pyproject.toml
([tool.mypy]: which files, which checks, which third-party packages are skipped and why)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow  # a minute from a cold cache (.mypy_cache), seconds after
def test_mypy_is_clean():
    done = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True, timeout=280)
    assert done.returncode == 0, f"mypy (exit {done.returncode}):\n{done.stdout}{done.stderr}"
