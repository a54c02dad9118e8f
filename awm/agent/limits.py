"""The issue's limits while the agent works: its wall-clock budget and the run's stop request. Ending the processes
an issue started is awm.processes."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class Cancel(Protocol):
    """The run's cancel flag as the guard reads it: a threading.Event, or the engine's flag for an agent on a watched
    agent server (set as well when that server is lost)."""

    def is_set(self) -> bool: ...


class StopReason(StrEnum):
    """Why the guard stopped an issue's agent (the same words as the agent's status, awm.agent.runner.AgentStatus)."""

    TIMEOUT = "timeout"  # the issue's wall-clock budget (agent.timeout_minutes)
    CANCELLED = "cancelled"  # the run's stop request
    BUDGET = "budget"  # the issue's spending limit (budget.issue_max_*)


@dataclass(frozen=True)
class Stop:
    """The guard's stop, as it first saw it."""

    reason: StopReason
    at: float  # time.monotonic() when it was seen
    hung: bool = False  # a model call was waiting for its answer then
    spent: str = ""  # BUDGET: which limit was reached, in words


@dataclass(frozen=True)
class Outcome:
    """What the guard did to an issue's agent, once the agent is done with (`Guard.done`): read by the runner instead
    of the guard's state."""

    stop: Stop | None = None  # None: the agent ended within its limits
    abandoned: bool = False  # `Guard.run` stopped waiting for the conversation (it would not end)
    model_calls: int = 0  # model calls answered (counted by the bounded LLM)

    @property
    def reason(self) -> str:
        """The stop's reason ("" when none)."""
        return self.stop.reason if self.stop is not None else ""

    @property
    def hung(self) -> bool:
        """The stop came while the model had not answered."""
        return self.stop is not None and self.stop.hung


class Guard:
    """Enforces the issue's wall-clock budget and the run's cancel flag: the conversation is paused between steps
    at once; a step still running GRACE_S later gets Ctrl-C, and everything in the workspace is killed after
    three times that. A model call is bounded too (it is the agent LLM's CallBound, awm.model.client): it is given
    up within a fraction of a second, whatever the model does. And `run` stops waiting for the conversation
    ABANDON_S after the limit or stop, whatever still holds it (a remote conversation, a tool that ignores kills).
    The first stop it sees is kept, typed (`stop`: a Stop); what it did is `done()`'s Outcome.

    Args:
        deadline: the issue's wall-clock end, a time.monotonic().
        cancel: the run's stop flag (None: none).
        interrupt: the workspace's interrupt (see below).
    """

    GRACE_S = 2.0
    ABANDON_S = 4 * GRACE_S + 2.0

    def __init__(self, deadline: float, cancel: Cancel | None, interrupt: Callable[[bool], object]):
        self.deadline = deadline
        self.cancel = cancel
        # the workspace's: Ctrl-C its running command (nothing when the shell is at its prompt), or with True kill
        # everything it started. Neither can cut a model call short: a step waiting on the model ends when the
        # reply (or the model's own timeout) comes, and no further step starts.
        self.interrupt = interrupt
        # the issue's spending limit (budget.issue_max_*): a function saying why it is spent ("" while it is not)
        self.spent: Callable[[], str] | None = None
        self.stop: Stop | None = None  # set once, by the first `check` that sees a limit or a stop
        self.model_calls = 0  # model calls answered (counted by the bounded LLM)
        self.in_model_call = False  # a model call is waiting for its answer now
        self._abandoned = False  # `run` stopped waiting for the conversation
        self._done = threading.Event()

    @property
    def reason(self) -> str:
        """Why the agent is stopped: a StopReason, "" while it may go on."""
        return self.stop.reason if self.stop is not None else ""

    def check(self) -> str:
        """Looks at the limits now (the stop request first, then the time, then the spending) and keeps the first
        stop seen, with whether a model call was waiting then.

        Returns:
            The stop's StopReason, or "" while the agent may go on.
        """
        if self.stop is None:
            reason: StopReason | None = None
            spent = ""
            if self.cancel is not None and self.cancel.is_set():
                reason = StopReason.CANCELLED
            elif time.monotonic() >= self.deadline:
                reason = StopReason.TIMEOUT
            elif self.spent is not None:
                spent = self.spent()
                reason = StopReason.BUDGET if spent else None
            if reason is not None:
                self.stop = Stop(reason, time.monotonic(), hung=self.in_model_call, spent=spent)
        return self.reason

    def outcome(self) -> Outcome:
        """What the guard has done so far: its stop, whether it gave up on the conversation, the model calls."""
        return Outcome(self.stop, self._abandoned, self.model_calls)

    def run(self, work: Callable[[], object]) -> bool:
        """`work()` (the conversation's run) in a daemon thread, waited for until it ends or until ABANDON_S after
        the limit or stop (then the thread is left: it ends when its call does, and must then touch nothing of the
        issue's).

        Returns:
            True when `work()` ended; False when it was given up (the outcome's `abandoned`).

        Raises:
            Whatever `work()` raised.
        """
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
            if self.check() and self.stop is not None and time.monotonic() - self.stop.at > self.ABANDON_S:
                self._abandoned = True
                return False
        if "error" in box:
            raise box["error"]
        return True

    def watch(self, conversation) -> None:
        """Pauses `conversation` at the limit or stop, then interrupts and kills what its workspace runs (in a thread
        of its own, until `done`)."""
        threading.Thread(target=self._loop, args=(conversation,), daemon=True).start()

    def done(self) -> Outcome:
        """The agent is done with: the watch ends.

        Returns:
            What the guard did (its stop, whether it gave up on the conversation, the model calls answered).
        """
        self._done.set()
        return self.outcome()

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
    """The check for an issue's spending limit (budget.issue_max_cost_usd, budget.issue_max_tokens).

    Args:
        max_cost_usd: the issue's cost limit (None: none).
        max_tokens: the issue's limit of prompt and completion tokens (None: none).
        usage: the issue's (cost, tokens) so far.

    Returns:
        The check, which says which limit is reached ("" while none is); None when the spec sets no limit.
    """
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
