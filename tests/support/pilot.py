"""Waiting in a Textual Pilot, and a user data dir of the test's own."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest


async def until(pilot, predicate, timeout: float = 10.0, what: str = "") -> None:
    """Let the app run until `predicate()` holds; a test that waits longer than `timeout` fails saying for what.

    As before, `predicate()` is last seen holding right after a `pilot.pause()` (the app's pending messages handled,
    its screen drawn), unless it held at once. The waiting in between is a plain sleep, the app's own tasks and
    timers running meanwhile: a pause makes every widget of the screen handle a message and go idle again (~30 ms
    of CPU on the run screen), and a pause every 10 ms made a test waiting for the engine spend a third of a core
    on the waiting alone."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or predicate}")
        await asyncio.sleep(0.01)
        if predicate():
            await pilot.pause(0.01)  # as each wait used to end: the predicate is checked again after a pause


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A user data dir of the test's own (runs, crash.log, preferences)."""
    path = tmp_path / "home"
    monkeypatch.setenv("AWM_TUI_HOME", str(path))
    return path
