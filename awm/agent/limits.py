"""The issue's limits while the agent works: its wall-clock budget and the run's stop request. Ending the processes
an issue started is awm.processes."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol


class Cancel(Protocol):
    """The run's cancel flag as the guard reads it: a threading.Event, or the engine's flag for an agent on a watched
    agent server (set as well when that server is lost)."""

    def is_set(self) -> bool: ...


class Guard:
    """Enforces the issue's wall-clock budget and the run's cancel flag: the conversation is paused between steps
    at once; a step still running GRACE_S later gets Ctrl-C, and everything in the workspace is killed after
    three times that. A model call is bounded too (it is the agent LLM's CallBound, awm.model.client): it is given
    up within a fraction of a second, whatever the model does. And `run` stops waiting for the conversation
    ABANDON_S after the limit or stop, whatever still holds it (a remote conversation, a tool that ignores kills)."""

    GRACE_S = 2.0
    ABANDON_S = 4 * GRACE_S + 2.0

    def __init__(self, deadline: float, cancel: Cancel | None, interrupt: Callable[[bool], object]):
        self.deadline = deadline
        self.cancel = cancel
        # the workspace's: Ctrl-C its running command (nothing when the shell is at its prompt), or with True kill
        # everything it started. Neither can cut a model call short: a step waiting on the model ends when the
        # reply (or the model's own timeout) comes, and no further step starts.
        self.interrupt = interrupt
        self.reason = ""  # "" | "timeout" | "cancelled" | "budget"
        # the issue's spending limit (budget.issue_max_*): a function saying why it is spent ("" while it is not)
        self.spent: Callable[[], str] | None = None
        self.spent_reason = ""
        self.stopped_at: float | None = None  # when the reason was first seen
        self.model_calls = 0  # model calls answered (counted by the bounded LLM)
        self.in_model_call = False  # a model call is waiting for its answer now
        self.hung = False  # the limit or stop came while a model call was waiting
        self.abandoned = False  # `run` stopped waiting for the conversation
        self._done = threading.Event()

    def check(self) -> str:
        if not self.reason:
            reason = ""
            if self.cancel is not None and self.cancel.is_set():
                reason = "cancelled"
            elif time.monotonic() >= self.deadline:
                reason = "timeout"
            elif self.spent is not None:
                self.spent_reason = self.spent()
                reason = "budget" if self.spent_reason else ""
            if reason:
                self.hung = self.in_model_call
                self.stopped_at = time.monotonic()
                self.reason = reason
        return self.reason

    def run(self, work: Callable[[], object]) -> bool:
        """`work()` (the conversation's run) in a daemon thread, waited for until it ends (True; its error raised
        here) or until ABANDON_S after the limit or stop (False: `abandoned`; the thread ends when its call does,
        and must then touch nothing of the issue's)."""
        box: dict[str, BaseException] = {}
        finished = threading.Event()

        def target() -> None:
            try:
                work()
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
                box["error"] = exc
            finally:
                finished.set()

        threading.Thread(target=target, daemon=True, name="awm-agent").start()
        while not finished.wait(0.2):
            if self.check() and time.monotonic() - (self.stopped_at or 0.0) > self.ABANDON_S:
                self.abandoned = True
                return False
        if "error" in box:
            raise box["error"]
        return True

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
            threading.Thread(target=_quietly, args=(conversation.pause,), daemon=True).start()
            stopped_at = stopped_at or time.monotonic()
            waited = time.monotonic() - stopped_at
            if waited > 3 * self.GRACE_S:
                self.interrupt(True)
                return
            if waited > self.GRACE_S:
                self.interrupt(False)


def _quietly(call: Callable[[], object]) -> None:
    try:
        call()
    except Exception:  # noqa: BLE001 - an agent server gone cannot pause; `Guard.run` gives up on it in time
        pass


def issue_budget(max_cost_usd: float | None, max_tokens: int | None,
                 usage: Callable[[], tuple[float, int]]) -> Callable[[], str] | None:
    """The check for an issue's spending limit (budget.issue_max_cost_usd, budget.issue_max_tokens): `usage()` gives
    the issue's cost and tokens so far; the check says which limit is reached ("" while none is). None when the
    spec sets no limit."""
    if max_cost_usd is None and max_tokens is None:
        return None

    def spent() -> str:
        cost, tokens = usage()
        if max_cost_usd is not None and cost >= max_cost_usd:
            return f"the issue's cost ${cost:.2f} reached budget.issue_max_cost_usd (${max_cost_usd:g})"
        if max_tokens is not None and tokens >= max_tokens:
            return f"the issue's {tokens:,} tokens reached budget.issue_max_tokens ({max_tokens:,})"
        return ""

    return spent
