"""Waiting in a Textual Pilot, and a user data dir of the test's own."""

from __future__ import annotations

import time
from pathlib import Path

import pytest


async def until(pilot, predicate, timeout: float = 10.0, what: str = "") -> None:
    """Let the app run until `predicate()` holds; a test that waits longer than `timeout` fails saying for what."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or predicate}")
        await pilot.pause(0.01)


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A user data dir of the test's own (runs, crash.log, preferences)."""
    path = tmp_path / "home"
    monkeypatch.setenv("AWM_TUI_HOME", str(path))
    return path
