"""Two runs compared issue by issue, from the run picker: the `compare` command's figures (awm.experiment.compare),
on screen. Each run's resolved rate with its Wilson interval, the difference with its paired bootstrap interval and
McNemar's exact p, issues won, lost and tied, cost and steps per issue, and the warnings (other code or prompt
versions, issues left out). A refusal (runs made from different dataset rows, nothing in common) is shown as the
message the command prints, never as a traceback.

The statistics run in a thread: the first comparison loads statsmodels (seconds), and a bootstrap over thousands of
issues takes a moment."""

from __future__ import annotations

import re
from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.markup import escape
from textual.screen import Screen
from textual.widgets import Static
from textual.worker import Worker, WorkerState

from awm.errors import UserError
from awm.experiment.compare import Comparison, p_phrase, percent, points
from awm.experiment.report import memory_figures
from awm.fmt import count, duration, money, plural
from awm_tui.widgets.footer import KeyFooter

NAME_WIDTH = 28  # names longer than this are cut in the tables


def cut(name: str, width: int) -> str:
    return name if len(name) <= width else name[:width - 1] + "…"


def table(header: list[str], rows: list[list[str]], right: set[int]) -> list[str]:
    """Plain columns, padded to their widest cell (right-aligned where numbers are), as markup lines with the header
    in bold. Cells are escaped here."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  ".join(escape(c.rjust(w) if i in right else c.ljust(w))
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return [f"[b]{line(header)}[/b]", *(line(r) for r in rows)]


def first_sentence(text: str) -> str:
    """Up to the first full stop that ends a sentence (not one inside a number or an abbreviation such as "e.g.")."""
    match = re.search(r"(?<!e\.g)(?<!i\.e)\.(\s|$)", text)
    return text[:match.start() + 1] if match else text


def blocks(report: list[tuple]) -> list[str]:
    """The report's sections (awm.experiment.report's blocks) as screen lines: a heading, its tables as columns (the
    box scrolls sideways when they are wider than the screen), each explanation's first sentence muted (the report
    has the rest: `o` opens it). Markdown's code quotes are dropped."""
    lines: list[str] = []
    for block in report:
        kind = block[0]
        if kind == "h2":
            lines += ["", f"[b]{escape(block[1])}[/b]"]
        elif kind == "p":
            lines.append(f"[$foreground-muted]{escape(first_sentence(block[1].replace('`', '')))}[/]")
        elif kind == "table":
            _, header, rows, align = block[:4]
            right = {i for i, a in enumerate(align) if a == "r"}
            lines += table(header, [[str(c).replace("`", "") for c in row] for row in rows], right)
    return lines


def figures(comparison: Comparison) -> str:
    """The comparison as the screen shows it (Content markup)."""
    reference = comparison.reference
    results = comparison.results
    width = min(NAME_WIDTH, max(len(r.arm) for r in results) + 6)
    lines = [f"[b]{escape(results[1].arm)}[/b] against [b]{escape(reference)}[/b] (the reference), on the "
             f"[b]{len(comparison.instances):,}[/b] {plural(len(comparison.instances), 'issue')} both finished and "
             "graded", ""]
    rows = []
    for result in results:
        name = cut(result.arm, width - 6) + (" (ref)" if result.arm == reference else "")
        rows.append([name, f"{result.resolved}/{result.pairs}", percent(result.rate),
                     f"[{percent(result.ci[0])}, {percent(result.ci[1])}]", str(result.errors)])
    lines += table(["run", "resolved", "rate", "95% CI (Wilson)", "errors"], rows, {1, 2, 4})
    for diff in comparison.differences:
        colour = "$text-success" if diff.ci[0] > 0 else "$text-error" if diff.ci[1] < 0 else "$text"
        ties = diff.both_resolved + diff.neither
        lines += [
            "",
            f"difference  [b {colour}]{points(diff.difference)}[/]  95% CI [{points(diff.ci[0])}, "
            f"{points(diff.ci[1])}] (paired bootstrap)",
            f"McNemar     {p_phrase(diff.p_value)} (exact, on the {count(diff.wins + diff.losses, 'issue')} the runs "
            "disagree on)",
            f"issues      won [$text-success]{diff.wins}[/] · lost [$text-error]{diff.losses}[/] · tie {ties} "
            f"(both resolved {diff.both_resolved}, neither {diff.neither})",
        ]
    rows = []
    for usage in comparison.usage:
        rows.append([cut(usage["arm"], width), money(usage["cost"]["median"]), f"{usage['steps']['median']:g}",
                     f"{usage['tokens']['median']:,.0f}", duration(usage["duration_s"]["median"]),
                     money(usage["cost"]["total"]), money(usage["induction_cost"])])
    lines += ["", "[b]per issue (medians)[/b] and totals over the paired issues", *table(
        ["run", "cost", "steps", "tokens", "time", "total cost", "induction"], rows, {1, 2, 3, 4, 5, 6})]
    if comparison.warnings:
        lines += ["", f"[b $text-warning]warnings ({len(comparison.warnings)})[/]"]
        lines += [f"[$text-warning]•[/] {escape(w)}" for w in comparison.warnings]
    lines += blocks(memory_figures(comparison))
    width = max(len(cut(arm.name, width)) for arm in comparison.arms)
    lines += ["", "[b]runs[/b]"]
    lines += [f"{escape(cut(arm.name, width).ljust(width))}  [$foreground-muted]{escape(str(run.path))} "
              f"({escape(run.status)})[/]" for arm in comparison.arms for run in arm.runs]
    lines += ["", "[$foreground-muted]The full report (curves, per-workflow help and harm, per-issue table): "
              "[b]w[/b] writes it, [b]o[/b] opens it[/]"]
    return "\n".join(lines)


class CompareScreen(Screen[None]):
    """`reference` and `other`: (name, run folder); the reference is the first run marked in the picker."""

    BINDINGS = [Binding("escape", "back", "Back to the runs"), Binding("q", "back", "Back", show=False),
                Binding("w", "write_report", "Write the report"), Binding("o", "open_report", "Open the report")]
    DEFAULT_CSS = """
    CompareScreen #compare-title { height: 1; background: $panel; padding: 0 1; }
    CompareScreen #compare-box { height: 1fr; border: round $primary; padding: 0 1; overflow-x: auto; }
    CompareScreen #compare-text { width: auto; min-width: 100%; text-wrap: nowrap; }
    """

    def __init__(self, reference: tuple[str, Path], other: tuple[str, Path]) -> None:
        super().__init__()
        self.reference = reference
        self.other = other
        self.comparison: Comparison | None = None
        self.problem: str | None = None  # why there is no comparison (a refusal, or a failure)
        self.report: Path | None = None  # report.html, once written
        self.writing = False

    def compose(self) -> ComposeResult:
        yield Static(f"[b]awm-tui[/b] · compare {escape(self.other[0])} with {escape(self.reference[0])}",
                     id="compare-title")
        with VerticalScroll(id="compare-box"):
            yield Static(f"Comparing {escape(self.other[0])} with {escape(self.reference[0])} issue by issue… "
                         "[$foreground-muted](the first comparison loads the statistics libraries: a few seconds)[/]",
                         id="compare-text")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#compare-box").border_title = "Comparison"
        self.run_compare()

    @work(thread=True, exclusive=True, group="compare", exit_on_error=False)
    def run_compare(self) -> Comparison:
        from awm.experiment.compare import compare, load_arm

        return compare([load_arm(name, path) for name, path in (self.reference, self.other)])

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "report":
            self.report_written(event)
            return
        if event.worker.group != "compare":
            return
        text = self.query_one("#compare-text", Static)
        if event.state == WorkerState.SUCCESS:
            comparison = event.worker.result
            assert comparison is not None  # (the compare worker returns one when it succeeds)
            self.comparison = comparison
            text.update(figures(comparison))
            self.refresh_bindings()  # w and o now do something: shown in the footer
        elif event.state == WorkerState.ERROR:
            error = event.worker.error
            if isinstance(error, UserError):
                self.problem = error.message
            else:  # a damaged file the readers did not foresee: a message, never a traceback
                self.problem = f"the comparison failed: {type(error).__name__}: {error}"
            text.update(f"[b $text-error]These runs cannot be compared.[/]\n\n{escape(self.problem)}\n\n"
                        "[$foreground-muted]Esc: back to the runs[/]")
            self.notify(self.problem, title="Cannot compare", severity="error")

    def action_back(self) -> None:
        self.dismiss()

    # the full report: the `awm-tui compare` command's (report.md, report.html, figures, comparison.json)
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "write_report":
            return self.comparison is not None and not self.writing
        if action == "open_report":
            return self.comparison is not None
        return True

    def report_folder(self) -> Path:
        """Where `w` writes: reports/compare-<other>-vs-<reference>-<time> in the data dir (made if missing)."""
        import re
        import time

        from awm.paths import home

        def safe(name: str) -> str:
            return re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:40] or "run"

        stamp = time.strftime("%Y%m%d-%H%M%S")
        return home() / "reports" / f"compare-{safe(self.other[0])}-vs-{safe(self.reference[0])}-{stamp}"

    def action_write_report(self) -> None:
        """w: the report written (in a thread: the figures take a few seconds), and where it is said."""
        if self.comparison is None or self.writing:
            return
        self.writing = True
        self.refresh_bindings()
        self.notify("Writing the report (figures, report.md, report.html, comparison.json)…", timeout=3)
        self.write_report(self.comparison, self.report_folder())

    @work(thread=True, exclusive=True, group="report", exit_on_error=False)
    def write_report(self, comparison: Comparison, folder: Path) -> Path:
        from awm.experiment.report import write_report

        return Path(write_report(comparison, folder)["html"])

    def report_written(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.SUCCESS:
            self.writing = False
            report = event.worker.result
            assert report is not None  # (the report worker returns its path when it succeeds)
            self.report = report
            self.refresh_bindings()
            self.notify(f"{report.parent}\n(report.html, report.md, the figures, comparison.json) · o opens "
                        "it", title="Report written", timeout=20)
        elif event.state == WorkerState.ERROR:
            self.writing = False
            self.refresh_bindings()
            error = event.worker.error
            text = error.message if isinstance(error, UserError) else f"{type(error).__name__}: {error}"
            self.notify(text, title="The report could not be written", severity="error", timeout=20)

    def action_open_report(self) -> None:
        """o: report.html in the browser ($BROWSER, else xdg-open or open); without one, where it is. Written first
        if it is not yet."""
        if self.report is None:
            if not self.writing:
                self.action_write_report()
            self.notify("The report is being written: press o again once it is.", timeout=5)
            return
        command = browser_command(str(self.report))
        if command is None:
            self.notify(f"No browser found ($BROWSER, xdg-open): the report is {self.report}", title="Report",
                        timeout=30)
            return
        import subprocess

        try:
            subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
        except OSError as exc:
            self.notify(f"{command[0]} could not be started ({exc.strerror or exc}): the report is {self.report}",
                        title="Report", severity="warning", timeout=30)
            return
        self.notify(f"Opening {self.report} with {Path(command[0]).name}.", title="Report")


def browser_command(path: str) -> list[str] | None:
    """How to open `path`: $BROWSER (a list separated by ':', each a command, with %s for the path or after it),
    else xdg-open (or macOS's open); None when there is none."""
    import os
    import shlex
    import shutil

    for entry in filter(None, os.environ.get("BROWSER", "").split(os.pathsep)):
        words = shlex.split(entry)
        if words and shutil.which(words[0]):
            return [w.replace("%s", path) for w in words] if "%s" in entry else [*words, path]
    for opener in ("xdg-open", "open"):
        found = shutil.which(opener)
        if found:
            return [found, path]
    return None
