import os
import signal
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("OPENHANDS_SUPPRESS_BANNER", "1")


@pytest.fixture(scope="session")
def awm_home(tmp_path_factory) -> Path:
    """One user data dir for the session: the mini-benchmark repository is built into its cache once."""
    home = tmp_path_factory.mktemp("awm-home")
    os.environ["AWM_TUI_HOME"] = str(home)
    return home


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "awm_tui.commands.cli", *args]


@pytest.fixture
def kill_after():
    """Pids a test appends are killed at its end, passed or not."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
