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


def config_root() -> Path:
    """The user config dir (preferences); under AWM_TUI_HOME when it is set."""
    override = os.environ.get("AWM_TUI_HOME")
    if override:
        return Path(override).expanduser() / "config"
    from platformdirs import user_config_path

    return user_config_path("awm-tui", appauthor=False)


def runs_root() -> Path:
    return home() / "runs"


def repo_cache_root() -> Path:
    return home() / "repos"


NAME_MAX_BYTES = 255  # one path component, on the file systems awm-tui meets
PATH_MAX_BYTES = 4095


def check_destination(path: str | Path, label: str, *, kind: str = "folder", empty: bool = False,
                      fix: str = "") -> Path:
    """Refuse, before any work, an output path that cannot be written: a UserError (exit 2, one paragraph) that names
    `label` (the command and its flag or argument, e.g. "export: DIR"), the path, the problem and `fix`.

    kind "folder": the path must be a folder or not exist yet (it is made, parents included); `empty`: an existing
    folder must be empty. kind "file": the path must not be a folder. Either way: nothing on the way is a regular
    file, no name is too long for the file system, and the nearest existing folder can be written to (tried with a
    temporary file, which also catches read-only and pseudo file systems where root's permission checks pass).
    The run folder (awm.run.store.RunStore.create) is checked the same way with its own field-naming messages."""
    import errno
    import tempfile

    from awm.errors import UserError

    given = Path(path).expanduser()
    target = given.absolute()

    def refuse(problem: str) -> UserError:
        return UserError(f"{label} {given} {problem}, so nothing was written. {fix}".rstrip())

    encoded = [len(os.fsencode(part)) for part in target.parts]
    if (encoded and max(encoded) > NAME_MAX_BYTES) or len(os.fsencode(str(target))) > PATH_MAX_BYTES:
        raise refuse("is too long a name for the file system (a name holds at most 255 bytes)")
    try:
        exists = target.exists()
        blocker = next((p for p in target.parents if p.exists() and not p.is_dir()), None)
    except OSError as exc:
        raise refuse(f"is not a path this file system can hold ({exc.strerror})") from None
    if blocker is not None:
        raise refuse(f"is under {blocker}, which is a file, not a folder")
    if exists:
        if kind == "folder" and not target.is_dir():
            raise refuse("is a file, not a folder")
        if kind == "file" and target.is_dir():
            raise refuse("is a folder, not a file")
        if kind == "folder" and empty:
            try:
                present = sorted(p.name for p in target.iterdir())
            except OSError as exc:
                raise refuse(f"cannot be read ({exc.strerror})") from None
            if present:
                shown = ", ".join(present[:4]) + (" …" if len(present) > 4 else "")
                raise refuse(f"exists and is not empty ({shown})")
    folder = target if exists and target.is_dir() else target.parent
    while not folder.exists():
        folder = folder.parent
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".awm-tui-write-check-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if exc.errno == errno.ENAMETOOLONG:
            raise refuse("is too long a name for the file system") from None
        inside = "" if folder == target else f": {folder} is not writable"
        raise refuse(f"cannot be made or written{inside} ({reason})") from None
    return target
