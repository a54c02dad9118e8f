"""Out of disk space (ENOSPC, or a quota: EDQUOT) anywhere in the engine is a safe stop, not a crash: the run pauses
with a message naming the folder and the space to free, and resumes where it stopped.

Nothing half-written is left: state files are replaced whole (awm.atomic), a journal line that could not be written
whole is cut off again (atomic.append_line), and the issue in flight is redone on resume. So that the run can still
record that it paused on a full disk, its folder keeps a small reserve file (RESERVE) that is given back at that
moment and made again when the run resumes."""

from __future__ import annotations

import errno
import os
import re
import shutil
import tempfile
from pathlib import Path

from awm import runfiles
from awm.errors import UserError

FULL = (errno.ENOSPC, errno.EDQUOT)
WORDS = ("no space left on device", "disk quota exceeded")
RESERVE = ".space-reserve"
RESERVE_BYTES = 512 * 1024  # room for checkpoint.json (and the journal's last line) when the disk is full
MIN_NEEDED = 64 * 1024 * 1024


class DiskFull(UserError):
    """The disk under the run (its folder, its checkouts, its grading folders) is full: the run pauses."""

    def __init__(self, message: str, path: str = ""):
        super().__init__(message)
        self.full_path = path


def is_full(error: BaseException | str | None) -> bool:
    """Whether an error (its cause or context too), or an error's text as an agent's or a grader's reason keeps
    it, is a full disk."""
    for _ in range(10):
        if isinstance(error, OSError) and error.errno in FULL:
            return True
        if error is not None and any(word in str(error).lower() for word in WORDS):
            return True
        if not isinstance(error, BaseException):
            return False
        error = error.__cause__ or error.__context__
    return False


def reserve(run_dir: Path) -> None:
    """Make the reserve file (at the run's start; a disk already too full to hold it is said at once)."""
    path = run_dir / RESERVE
    try:
        if path.stat().st_size >= RESERVE_BYTES:
            return
    except FileNotFoundError:
        pass
    try:
        with open(path, "wb") as f:
            f.write(b"\0" * RESERVE_BYTES)
            f.flush()
            os.fsync(f.fileno())
    except OSError as exc:
        path.unlink(missing_ok=True)
        if is_full(exc):
            raise stopped(run_dir, exc, run_dir) from None
        raise


def release(run_dir: Path) -> None:
    """Give the reserve back: the room the paused run's last records are written in."""
    (run_dir / RESERVE).unlink(missing_ok=True)


def stopped(run_dir: Path, error: BaseException | str, logs: Path | None = None) -> DiskFull:
    """The message a run pauses with on a full disk: which folder, how much is free, how much to free."""
    named = re.search(r"(?:device|exceeded)\]?:? '(/[^']+)'", str(error))  # an error kept as text names its file
    where = Path(getattr(error, "filename", None) or (named.group(1) if named else run_dir))
    folder = _existing(where)
    free = _free(folder)
    largest = _largest_issue(logs or run_dir)
    needed = max(MIN_NEEDED, 4 * largest)
    per_issue = (f"an issue of this run writes up to {_size(largest)} to its folder, and more" if largest
                 else "an issue writes its logs to the run folder, and more")
    text = (f"the disk is full: writing {where} failed (No space left on device); {_size(free)} free on the disk "
            f"holding {folder}. The run is paused and nothing finished is lost (the issue in flight is redone). "
            f"Free at least {_size(needed)} there ({per_issue} for its checkout and grading under "
            f"{tempfile.gettempdir()}), then resume with `awm-tui --no-ui --resume {run_dir}`.")
    return DiskFull(text, str(where))


def _existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.is_dir():
            return candidate
    return Path("/")


def _free(folder: Path) -> int:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return 0


def _largest_issue(run_dir: Path) -> int:
    """The most any finished issue wrote to the run folder (its logs and its eval/ folder)."""
    sizes: dict[str, int] = {}
    for folder in (run_dir / runfiles.LOGS, run_dir / runfiles.EVAL):
        if not folder.is_dir():
            continue
        for path in folder.rglob("*"):
            try:
                if path.is_file():
                    name = path.relative_to(folder).parts[0]
                    key = name.removeprefix("instance_").split(".", 1)[0] if folder.name == "logs" else name
                    sizes[key] = sizes.get(key, 0) + path.stat().st_size
            except OSError:
                continue
    return max(sizes.values(), default=0)


def _size(n: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"
