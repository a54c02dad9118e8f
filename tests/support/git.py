"""git as the tests run it: an identity of their own, no system config, no prompt for credentials."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.invalid",
    "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0",
}
DATED = {**ENV, "GIT_AUTHOR_DATE": "2024-01-01T00:00:00+00:00", "GIT_COMMITTER_DATE": "2024-01-01T00:00:00+00:00"}


def run(cwd: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """git ARGS in `cwd`, whatever its exit status (a minute at most)."""
    return subprocess.run(["git", *args], cwd=cwd, env=env or ENV, capture_output=True, text=True, timeout=60)


def git(cwd: Path, *args: str, env: dict | None = None) -> str:
    """git ARGS in `cwd`: its output; a failure fails the test with git's own words."""
    proc = run(cwd, *args, env=env)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout
