"""Files that are never half-written: whole-file replace by rename, and a journal appended line by line."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def write_json(path: Path, data: Any) -> None:
    write_text(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def read_json(path: Path, default: Any = None) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return default


class Unreadable(ValueError):
    """A whole-file JSON that cannot be read back; the message says what is wrong with it (for a sentence about
    the file: "... is damaged (<message>)")."""


def load_json(path: Path) -> Any:
    """A file written by write_json, parsed: FileNotFoundError when there is none, Unreadable when it cannot be read
    or is not JSON (cut short, overwritten), with what is wrong."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise Unreadable(f"it cannot be read: {exc.strerror}") from None
    if not raw.strip():
        raise Unreadable("it is empty")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Unreadable("it is not text") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        # write_json's files end with their closing bracket: one that does not was cut short (a kill, a full disk)
        cut = "" if text.rstrip().endswith(("}", "]")) else ", cut short"
        raise Unreadable(f"not valid JSON{cut}: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None


def append_line(path: Path, record: dict[str, Any]) -> None:
    """Append one JSON line and make it durable before returning: the commit point of a journal."""
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        start = os.lseek(fd, 0, os.SEEK_END)
        try:
            view = memoryview(line)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        except OSError:  # a full disk: the part that was written is cut off again, the file is as it was
            try:
                os.ftruncate(fd, start)
            except OSError:
                pass  # the next read drops a torn last line
            raise
    finally:
        os.close(fd)


class DamagedLine(ValueError):
    """A journal line that is not a record, with complete lines after it: not a torn append, so not dropped.
    `last`: the line is the file's last one (a readable record that is not what the journal holds)."""

    def __init__(self, path: Path, line: int, problem: str, last: bool = False):
        super().__init__(f"{path}, line {line}: {problem}")
        self.path, self.line, self.problem, self.last = path, line, problem, last


@dataclass(frozen=True)
class Torn:
    """A journal's unreadable last line, which read_lines drops (what a kill mid-append leaves): its number, what is
    wrong with it, and its start (to name the record it was, if it can be told)."""

    line: int
    problem: str
    text: str

    def instance_id(self) -> str | None:
        """The instance id the line's start names, if it names one."""
        import re

        found = re.search(r'"instance_id"\s*:\s*"([^"\\]+)"', self.text)
        return found.group(1) if found else None


def read_lines(path: Path, repair: bool = False) -> Iterator[dict[str, Any]]:
    """Yield the journal's complete records. A torn last line (a kill mid-append) is dropped, and cut off
    the file when `repair` is set so later appends start on a clean line. A damaged line with more lines after it
    raises DamagedLine and changes nothing: dropping it would drop every good record after it too."""
    for _, record in read_numbered(path, repair):
        yield record


def read_numbered(path: Path, repair: bool = False) -> Iterator[tuple[int, dict[str, Any]]]:
    """read_lines' records with their line numbers (1-based) in the file."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return
    records, good_end, _ = _scan(path, raw)
    if repair and good_end < len(raw):
        with open(path, "r+b") as f:
            f.truncate(good_end)
            f.flush()
            os.fsync(f.fileno())
    yield from records


def cut_torn(path: Path) -> None:
    """Cut a torn last line off the journal (read_lines with `repair`, without yielding the records)."""
    for _ in read_numbered(path, repair=True):
        break


def torn_line(path: Path) -> Torn | None:
    """The journal's last line if read_lines drops it as torn (None: there is none, or the file is whole). Reads
    only; raises DamagedLine as read_lines does."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    return _scan(path, raw)[2]


def _scan(path: Path, raw: bytes) -> tuple[list[tuple[int, dict[str, Any]]], int, Torn | None]:
    """The records with their line numbers, where the good part of the file ends, and the torn last line."""
    lines = raw.splitlines(keepends=True)
    last = max((i for i, line in enumerate(lines) if line.strip()), default=-1)  # blank lines are no records
    good_end = 0
    records = []
    torn = None
    for i, line in enumerate(lines):
        if i > last:
            break
        problem = None
        if not line.strip():
            good_end += len(line)
            continue
        if not line.endswith(b"\n"):
            problem = "a line without its end"
        else:
            try:
                record = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                problem = f"not JSON ({getattr(exc, 'msg', None) or exc})"
            else:
                if not isinstance(record, dict):
                    problem = "not a JSON object"
        if problem:
            if i < last:
                raise DamagedLine(path, i + 1, problem)
            torn = Torn(i + 1, problem, line[:200].decode("utf-8", "replace"))
            break  # the torn last line of a kill mid-append
        records.append((i + 1, record))
        good_end += len(line)
    return records, good_end, torn


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


SCRATCH = ".scratch-"  # + "<pid>-<label>-<random>": a folder being built, swapped in by rename when whole


def scratch_dir(parent: Path, label: str) -> Path:
    """A folder to build something in before it is renamed into place, named with this process's id so that what a
    killed process left can be told from what a live one is building (see clear_scratch)."""
    parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"{SCRATCH}{os.getpid()}-{label}-", dir=parent))


def clear_scratch(parent: Path) -> list[Path]:
    """Remove the scratch folders under `parent` (one level down too) whose process is gone: a half-made clone or
    build a kill left behind."""
    import shutil

    removed = []
    for path in [*parent.glob(f"{SCRATCH}*"), *parent.glob(f"*/{SCRATCH}*")]:
        pid = path.name[len(SCRATCH):].split("-", 1)[0]
        if pid.isdigit() and not alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def alive(pid: int) -> bool:
    """Whether a process with this id exists (on this machine)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def held(path: Path) -> bool:
    """Whether some process holds an exclusive lock (`locked`, or RunStore.lock) on the lock file `path` now."""
    import fcntl

    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops the shared lock, if taken
    return False


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive lock held until the block ends, shared by every process on the machine; the OS drops it if the
    process dies. `path` is a lock file (made if missing, never removed, so every process locks the same file) or
    an existing folder (locked itself: nothing is left beside it)."""
    import fcntl

    fd = os.open(path, os.O_RDONLY) if Path(path).is_dir() else os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing drops the lock
