"""The headless command's two halves: the subscriber that prints one plain line per issue and a summary, fit for
log files (no cursor tricks), and the signal handling that makes every way it ends a safe stop.

Signals (`Stopper`): SIGINT (Ctrl-C), SIGTERM and SIGHUP (a closed terminal) ask the engine to stop at the next
safe point: the issue in flight is interrupted and dropped (it is redone on resume), the run is recorded as paused,
the command exits 0. They are caught from the very start, before the engine exists (a stop asked for during the
start-up is honoured as soon as it is built). A second Ctrl-C quits at once: one line, the processes the run
started killed, exit status 130; the run is then left as interrupted, resumable like a paused one. A signal the
command was started with ignored (`nohup`, a background job) stays ignored."""

from __future__ import annotations

import os
import signal
import sys
from typing import TYPE_CHECKING, TextIO

from awm.run import events as ev
from awm.run.stats import Stats
from awm_tui.process import detach_from_terminal, isatty, kill_descendants, say_now

if TYPE_CHECKING:
    from awm.run.loop import Controls

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
FORCED_EXIT = 130  # 128 + SIGINT, as a shell reports a command Ctrl-C ended


from awm.fmt import count, duration, money  # noqa: E402,F401 - one way to write them (awm/fmt.py)


def rate(stats: Stats) -> str:
    return f"{stats.success_rate:6.1%} ({stats.passed}/{stats.evaluated})"


def summary(stats: Stats) -> str:
    return (
        f"{stats.processed}/{stats.total} processed: {stats.passed} passed, {stats.failed} failed, "
        f"{count(stats.errors, 'error')}, {stats.skipped} skipped; success rate {stats.success_rate:.1%}; "
        f"{count(stats.workflows, 'workflow')} after {count(stats.induction_rounds, 'induction round')}"
        f"{f' ({count(stats.induction_failures, 'failed induction attempt')})' if stats.induction_failures else ''}"
        f"{model_faults(stats)}; "
        f"cost {money(stats.cost)}{memory_cost(stats)}{discarded_cost(stats)}; "
        f"tokens {stats.prompt_tokens + stats.completion_tokens:,}; elapsed {duration(stats.elapsed_s)}"
        f"{judged(stats)}"
    )


def memory_cost(stats: Stats) -> str:
    if not stats.induction_cost:
        return ""
    return f" (of which memory {money(stats.induction_cost)}: induction, merging, judging, embeddings)"


def discarded_cost(stats: Stats) -> str:
    if not stats.discarded_cost:
        return ""
    return (f" (with {money(stats.discarded_cost)} spent on {count(stats.discarded_attempts, 'attempt')} "
            "interrupted or forgotten, and redone)")


def model_faults(stats: Stats) -> str:
    """Memory's other model calls that failed: the judge's, the LLM merges', the embedding model's."""
    faults = [count(n, what) for n, what in ((stats.judge_failures, "failed judge call"),
                                             (stats.merge_failures, "failed merge"),
                                             (stats.embedding_failures, "failed embedding call")) if n]
    return f" ({', '.join(faults)})" if faults else ""


def judged(stats: Stats) -> str:
    if not stats.judged:
        return ""
    return f"; the judge agreed with the tests on {stats.judge_agreed}/{count(stats.judged, 'issue')}"


class HeadlessPrinter:
    """`err`: where an aborted run's stop message goes (the headless command's stderr, with its exit status 2), else
    with the rest, in `out`; either way once."""

    def __init__(self, out: TextIO = sys.stdout, quiet: bool = False, err: TextIO | None = None):
        self.out: TextIO | None = out  # None once it is gone (say)
        self.quiet = quiet
        self.err = err
        self.width = 0

    def say(self, text: str, stream: TextIO | None = None) -> None:
        out = self.out if stream is None else stream
        if out is None:
            return
        try:
            out.write(text + "\n")
            out.flush()
        except (OSError, ValueError):  # the terminal or pipe is gone (SIGHUP, `| head`): go on, silently
            if stream is None:
                self.out = None
            else:
                self.err = None

    def __call__(self, event: ev.Event) -> None:
        if isinstance(event, ev.RunStarted):
            self.width = max((len(i) for i in event.instance_ids), default=0)
            order = f" ({event.order})" if event.order else ""
            if event.resumed:
                issues = count(len(event.instance_ids), "issue")
                self.say(f"awm-tui: resuming run {event.run_id} ({event.model}), {issues}"
                         f"{order}, {len(event.finished_ids)} already done; folder {event.run_dir}")
            else:
                warm = (f", memory warm-started from {event.warm_from} ({count(event.stats.workflows, 'entry')})"
                        if event.warm_from else "")
                issues = count(len(event.instance_ids), "issue")
                self.say(f"awm-tui: starting run {event.run_id} ({event.model}), {issues}"
                         f"{order}{warm}; folder {event.run_dir}")
            for notice in event.notices:
                self.say(f"awm-tui: warning: {notice}")
        elif isinstance(event, ev.Notice):  # rare and needing attention: said even with --quiet
            self.say(f"awm-tui: warning: {event.text}")
        elif self.quiet and not isinstance(event, ev.RunFinished):
            return
        elif isinstance(event, ev.IssueFinished):
            s = event.stats
            reason = f"  {event.reason}" if event.reason and event.status.value != "PASS" else ""
            given = len(event.experience.workflow_ids) if event.experience is not None else 0
            self.say(f"[{event.index:>{len(str(event.total))}}/{event.total}] {event.instance_id:<{self.width}}  "
                     f"{event.status.value:<7} rate {rate(s)}  memory {given}/{s.workflows}  cost {money(s.cost)}  "
                     f"{duration(event.duration_s)}{reason[:160]}")
        elif isinstance(event, ev.InductionFinished):
            what = "pitfall induction" if event.kind == "pitfall" else "induction"
            if event.error and not event.new_workflows:
                self.say(f"      {what} round {event.round}: {event.error}")
            else:
                new = [w.name for w in event.new_workflows if w.version <= 1]
                updated = [f"{w.name} v{w.version}" for w in event.new_workflows if w.version > 1]
                parts = ([f"+{len(new)} ({', '.join(new)})"] if new else []) + (
                    [f"{len(updated)} updated ({', '.join(updated)})"] if updated else [])
                self.say(f"      {what} round {event.round}: {'; '.join(parts) or 'nothing new'}; "
                         f"{len(event.workflow_ids)} in memory")
        elif isinstance(event, ev.RunFinished):
            self.say(f"awm-tui: {event.outcome}: {summary(event.stats)}")
            if event.outcome == "aborted" and self.err is not None:
                self.say(f"awm-tui: {event.message}", self.err)
            elif event.outcome != "completed":
                self.say(f"awm-tui: {event.message}")
            self.say(f"awm-tui: outputs in {event.run_dir}")
            if event.outcome == "paused":
                self.say(f"awm-tui: resume with `awm-tui --no-ui --resume {event.run_dir}`")


class Stopper:
    """The headless command's signal handlers (see the module's docstring). Install first; `attach` the run's
    Controls once they exist (a signal before that is remembered and passed on); name the run folder once known."""

    def __init__(self) -> None:
        self.controls: Controls | None = None
        self.requested: int | None = None  # the signal that asked for the stop
        self.run_dir: str | None = None
        self.ttys: list[int] = []

    def install(self, pending: list[int] | tuple[int, ...] = ()) -> Stopper:
        self.ttys = [fd for fd in (0, 1, 2) if isatty(fd)]
        for signum in SIGNALS:
            if signal.getsignal(signum) is not signal.SIG_IGN:
                signal.signal(signum, self.handle)
        for number in pending:
            self.handle(number)
        return self

    def attach(self, controls: Controls) -> Controls:
        self.controls = controls
        if self.requested is not None:
            controls.stop()
        return controls

    @property
    def stop_requested(self) -> bool:
        return self.requested is not None

    def handle(self, signum: int, frame=None) -> None:
        if signum == signal.SIGHUP:
            detach_from_terminal(self.ttys)
            self.ttys = []
        if self.requested is not None:
            if signum == signal.SIGINT:
                self.quit_at_once()
            return  # already stopping
        self.requested = signum
        if self.controls is not None:
            self.controls.stop()
        names: dict[int, str] = {signal.SIGINT: "", signal.SIGTERM: "SIGTERM: ", signal.SIGHUP: "SIGHUP: "}
        what = names.get(signum, "")
        say_now(f"awm-tui: {what}stopping at the next safe point; the issue in flight will be redone on resume "
                f"(Ctrl-C again to quit at once)")

    def quit_at_once(self) -> None:
        where = (f"the issue in flight is dropped; resume with `awm-tui --no-ui --resume {self.run_dir}`"
                 if self.run_dir else "nothing was run")
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError, RuntimeError):  # RuntimeError: the interrupted code was writing to it
                pass
        say_now(f"awm-tui: quit at once (second Ctrl-C); {where}")
        kill_descendants()
        os._exit(FORCED_EXIT)
