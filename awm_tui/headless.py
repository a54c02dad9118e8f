"""The headless subscriber: one plain line per issue and a summary, fit for log files (no cursor tricks)."""

from __future__ import annotations

import sys
from typing import TextIO

from awm import events as ev
from awm.stats import Stats


def money(x: float) -> str:
    return f"${x:.4f}" if x < 1 else f"${x:.2f}"


def duration(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s"


def rate(stats: Stats) -> str:
    return f"{stats.success_rate:6.1%} ({stats.passed}/{stats.evaluated})"


def summary(stats: Stats) -> str:
    return (
        f"{stats.processed}/{stats.total} processed: {stats.passed} passed, {stats.failed} failed, "
        f"{stats.errors} errors, {stats.skipped} skipped; success rate {stats.success_rate:.1%}; "
        f"{stats.workflows} workflows after {stats.induction_rounds} induction rounds; cost {money(stats.cost)}; "
        f"tokens {stats.prompt_tokens + stats.completion_tokens:,}; elapsed {duration(stats.elapsed_s)}"
    )


class HeadlessPrinter:
    def __init__(self, out: TextIO = sys.stdout, quiet: bool = False):
        self.out = out
        self.quiet = quiet
        self.width = 0

    def say(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def __call__(self, event: ev.Event) -> None:
        if isinstance(event, ev.RunStarted):
            self.width = max((len(i) for i in event.instance_ids), default=0)
            verb = "resuming" if event.resumed else "starting"
            self.say(f"awm-tui: {verb} run {event.run_id} ({event.model}), {len(event.instance_ids)} issues, "
                     f"{len(event.finished_ids)} already done; folder {event.run_dir}")
        elif self.quiet and not isinstance(event, ev.RunFinished):
            return
        elif isinstance(event, ev.IssueFinished):
            s = event.stats
            reason = f"  {event.reason}" if event.reason and event.status.value != "PASS" else ""
            self.say(f"[{event.index:>{len(str(event.total))}}/{event.total}] {event.instance_id:<{self.width}}  "
                     f"{event.status.value:<7} rate {rate(s)}  workflows {s.workflows}  cost {money(s.cost)}  "
                     f"{event.duration_s:.1f}s{reason[:160]}")
        elif isinstance(event, ev.InductionFinished):
            if event.error and not event.new_workflows:
                self.say(f"      induction round {event.round}: {event.error}")
            else:
                names = ", ".join(w.name for w in event.new_workflows)
                self.say(f"      induction round {event.round}: +{len(event.new_workflows)} ({names}); "
                         f"{len(event.workflow_ids)} in memory")
        elif isinstance(event, ev.RunFinished):
            self.say(f"awm-tui: {event.outcome}: {summary(event.stats)}")
            if event.outcome != "completed":
                self.say(f"awm-tui: {event.message}")
            self.say(f"awm-tui: outputs in {event.run_dir}")
