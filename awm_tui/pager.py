"""`o`: a run-folder file in the pager ($PAGER, else $EDITOR, else less), the app suspended meanwhile
(`App.suspend`: the terminal is handed over, and taken back when the pager exits)."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

from textual.app import App, SuspendNotSupported


def pager_command(path: str | Path, env: Mapping[str, str] | None = None) -> list[str] | None:
    """How to read `path`: $PAGER (for reading), else $EDITOR (when $PAGER is not set), else less; each may carry
    arguments ("less -R"). None when none of them is found."""
    env = os.environ if env is None else env
    for name in ("PAGER", "EDITOR"):
        value = env.get(name, "").strip()
        if not value:
            continue
        try:
            words = shlex.split(value)
        except ValueError:
            words = value.split()
        if words and shutil.which(words[0], path=env.get("PATH")):
            return [*words, str(path)]
        break  # the one set is not found: less, rather than the editor when a pager was asked for
    found = shutil.which("less", path=env.get("PATH"))
    return [found, str(path)] if found else None


def open_in_pager(app: App, path: Path | None, what: str) -> bool:
    """Show `path` in the pager, the app suspended; a message instead when the file is not there yet, no pager is
    found, or the terminal cannot be handed over. True when the pager ran."""
    if path is None or not path.is_file():
        app.notify(f"No {what} yet" + (f" ({path})." if path is not None else "."), severity="warning")
        return False
    command = pager_command(path)
    if command is None:
        app.notify(f"No pager found ($PAGER, $EDITOR, less): the {what} is {path}", severity="warning", timeout=20)
        return False
    try:
        with app.suspend():
            subprocess.run(command, check=False)
    except SuspendNotSupported:
        app.notify(f"This terminal cannot be handed over to {Path(command[0]).name}: the {what} is {path}",
                   severity="warning", timeout=20)
        return False
    except OSError as exc:
        app.notify(f"{command[0]} could not be started ({exc.strerror or exc}): the {what} is {path}",
                   severity="warning", timeout=20)
        return False
    return True
