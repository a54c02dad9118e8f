"""The app in a real pseudo-terminal with its stdout redirected to a file (`awm-tui > out.txt`): it draws on the
terminal (stderr) and must be laid out at the terminal's size, not at the 80x24 Textual falls back to when stdout
is not a terminal."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import sys
import termios
import threading
import time
from pathlib import Path

from conftest import ROOT, cli

ROWS, COLUMNS = 33, 117  # neither 24 nor 80
MOVE = re.compile(rb"\x1b\[(\d+);(\d+)H")


def run_in_pty(tmp_path: Path, stdout_to_file: bool) -> tuple[bytes, int]:
    """`awm-tui` (the run picker, no runs) in a pty of ROWS x COLUMNS; what it drew until `q`, and its exit code."""
    home = tmp_path / "home"
    out = tmp_path / "stdout.txt"
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env.update(TERM="xterm-256color", AWM_TUI_HOME=str(home), TEXTUAL_ANIMATIONS="none")
    pid, master = pty.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.chdir(ROOT)
            if stdout_to_file:
                fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                os.dup2(fd, 1)
            os.execve(sys.executable, cli(), env)
        finally:
            os._exit(127)
    fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
    screen = bytearray()

    def read() -> None:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:
                return
            if not data:
                return
            screen.extend(data)

    threading.Thread(target=read, daemon=True).start()
    ended = (0, 0)
    try:
        deadline = time.monotonic() + 60
        while b"No runs yet" not in screen:
            assert time.monotonic() < deadline, f"the picker was not drawn: {bytes(screen[-500:])!r}"
            assert (ended := os.waitpid(pid, os.WNOHANG)) == (0, 0), bytes(screen[-2000:])
            time.sleep(0.05)
        time.sleep(0.3)
        drawn = bytes(screen)
        os.write(master, b"q")
        deadline = time.monotonic() + 30
        while (ended := os.waitpid(pid, os.WNOHANG)) == (0, 0):
            assert time.monotonic() < deadline, "the app did not exit on q"
            time.sleep(0.05)
    finally:
        if ended == (0, 0):
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        os.close(master)
    return drawn, os.waitstatus_to_exitcode(ended[1])


def extent(drawn: bytes) -> tuple[int, int]:
    """The last row and column the app moved its cursor to (1-based), over everything it drew."""
    moves = [(int(r), int(c)) for r, c in MOVE.findall(drawn)]
    assert moves, drawn[:500]
    return max(r for r, _ in moves), max(c for _, c in moves)


def test_with_stdout_redirected_the_app_fills_the_terminal(tmp_path):
    drawn, code = run_in_pty(tmp_path, stdout_to_file=True)
    assert code == 0
    rows, columns = extent(drawn)
    assert rows == ROWS, (rows, columns)  # the footer on the terminal's last row, not on row 24
    assert columns <= COLUMNS


def test_on_a_terminal_the_app_fills_it(tmp_path):
    drawn, code = run_in_pty(tmp_path, stdout_to_file=False)
    assert code == 0
    assert extent(drawn)[0] == ROWS
