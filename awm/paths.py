"""Where awm-tui keeps its files. AWM_TUI_HOME overrides the platform's user data dir (tests use it)."""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    override = os.environ.get("AWM_TUI_HOME")
    if override:
        return Path(override).expanduser()
    from platformdirs import user_data_path

    return user_data_path("awm-tui", appauthor=False)


def runs_root() -> Path:
    return home() / "runs"


def repo_cache_root() -> Path:
    return home() / "repos"
