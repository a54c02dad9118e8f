"""The issue's limits while the agent works: its wall-clock budget and the run's stop request. Ending the processes
an issue started is awm.processes."""

from __future__ import annotations

import threading
import time
from typing import Callable


class Guard:
    """Enforces the issue's wall-clock budget and the run's cancel flag: the conversation is paused between steps
    at once; a step still running GRACE_S later gets Ctrl-C, and everything in the workspace is killed after
    three times that."""

    GRACE_S = 2.0

    def __init__(self, deadline: float, cancel: threading.Event | None, interrupt: Callable[[bool], object]):
        self.deadline = deadline
        self.cancel = cancel
        # the workspace's: Ctrl-C its running command (nothing when the shell is at its prompt), or with True kill
        # everything it started. Neither can cut a model call short: a step waiting on the model ends when the
        # reply (or the model's own timeout) comes, and no further step starts.
        self.interrupt = interrupt
        self.reason = ""  # "" | "timeout" | "cancelled"
        self._done = threading.Event()

    def check(self) -> str:
        if not self.reason:
            if self.cancel is not None and self.cancel.is_set():
                self.reason = "cancelled"
            elif time.monotonic() >= self.deadline:
                self.reason = "timeout"
        return self.reason

    def watch(self, conversation) -> None:
        threading.Thread(target=self._loop, args=(conversation,), daemon=True).start()

    def done(self) -> None:
        self._done.set()

    def _loop(self, conversation) -> None:
        stopped_at = None
        while not self._done.wait(0.2):
            if not self.check():
                continue
            # pause() waits for the state lock, which a running step holds: ask from a thread of its own, and
            # again each tick in case run() had not started when first asked (pause() is idempotent)
            threading.Thread(target=conversation.pause, daemon=True).start()
            stopped_at = stopped_at or time.monotonic()
            waited = time.monotonic() - stopped_at
            if waited > 3 * self.GRACE_S:
                self.interrupt(True)
                return
            if waited > self.GRACE_S:
                self.interrupt(False)
