"""Remembered preferences: the theme, the log following on/off, the queue's sort and failures-only filter, the
run picker's sort. One small JSON file in the user config dir, replaced whole (awm.atomic) when a preference
changes and read at the app's start. A missing, damaged or foreign file counts as no preferences: each value is
checked, and one that is not what it should be is dropped, never raised."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FILE = "prefs.json"
# each preference, and the type its value must have
TYPES: dict[str, type] = {"theme": str, "follow": bool, "queue_sort": str, "failures_only": bool,
                          "picker_sort": str}


def prefs_path() -> Path:
    from awm.paths import config_root

    return config_root() / FILE


def load(path: Path | None = None) -> dict[str, Any]:
    """The preferences stored, each of the right type; {} when there are none or the file cannot be read."""
    path = path or prefs_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):  # missing, unreadable, not JSON, not UTF-8
        return {}
    if not isinstance(data, dict):
        return {}
    return {key: value for key, value in data.items() if key in TYPES and type(value) is TYPES[key]}


def save(prefs: dict[str, Any], path: Path | None = None) -> str | None:
    """Write the preferences (atomically). None, or why they could not be written."""
    from awm.atomic import write_json

    try:
        write_json(path or prefs_path(), {key: prefs[key] for key in sorted(prefs) if key in TYPES})
    except OSError as exc:
        return str(exc)
    return None
