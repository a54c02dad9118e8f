"""What the process does at its ends, for the app and the commands alike: the exit made quick, a line written from a
signal handler, the terminal let go of after SIGHUP, and the processes a run started killed at a forced quit."""

from __future__ import annotations

import os
import signal
from pathlib import Path


def quick_exit() -> None:
    """The process ends within a second of its last line: at exit, the interpreter's final garbage collections
    (finalize_modules: full passes over every object, the agent stack's modules and all they hold) took from 3 s to
    tens of seconds after a run on a loaded machine; objects frozen (gc.freeze) at exit are skipped by them, and are
    freed with the process all the same. The exit handlers still run, and every file is closed. Once per process."""
    import atexit
    import gc

    atexit.unregister(gc.freeze)
    atexit.register(gc.freeze)


def say_now(text: str) -> None:
    """One line to stderr, safe in a signal handler (no buffered stream that the interrupted code may be writing)
    and after the terminal is gone."""
    try:
        os.write(2, (text + "\n").encode("utf-8", "replace"))
    except OSError:
        pass


def detach_from_terminal(fds: list[int]) -> None:
    """After SIGHUP: point the descriptors that were the terminal at /dev/null, so writing cannot fail or block."""
    if not fds:
        return
    try:
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in fds:
            os.dup2(devnull, fd)
    except OSError:
        pass


def isatty(fd: int) -> bool:
    try:
        return os.isatty(fd)
    except OSError:
        return False


def kill_descendants() -> int:
    """SIGKILL every process this one started, and theirs (Linux /proc; elsewhere nothing): the agent's shells and
    commands, test runs. How many were signalled."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], list(children.get(os.getpid(), []))
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    for pid in found:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    return len(found)
