"""Success over time, at any run size: the verdicts and the success rate binned to the pane's width (a run of 10
issues and one of 2,294 both fit on one line per row, never wrapping), the rate's y axis scaled to what the curves
span (a flat-looking 0-100% scale hides the changes a researcher looks for), induction rounds marked on the x axis,
and, when the run names a `memory: off` run as `memory.baseline_run`, that run's curve on the same issues and the
paired difference on the issues both graded (the honest "is memory helping?": same issues, not early issues against
later ones).

`HistoryPane.show(model)` is called after every engine event: it keeps prefix sums over the history, extended as it
grows, and renders again only when the history, the rounds, the width or the baseline changed, so that a call costs
about the same at the 2,294th issue as at the first."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from textual import events, work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.content import Content
from textual.markup import escape
from textual.widgets import Static
from textual.worker import Worker, WorkerState

from awm.experiment.figures import p_phrase, percent, points
from awm.fmt import count
from awm.run.memory_view import Baseline, read_baseline  # noqa: F401 - read_baseline: called by name (tests wrap it)
from awm.run.stats import default_window
from awm_tui.model import IssueRow, RunModel

LEVELS = " ▁▂▃▄▅▆▇█"  # a verdict cell's height: the pass share of its bin
JUDGED = ("PASS", "FAIL", "ERROR")  # graded (ERROR counts as unresolved, as in `compare`); SKIPPED is not
GUTTER = 8  # the y labels' columns ("  62.0% ┤"): the verdict row and the curves start after it
CHART_ROWS = 5  # text rows of the curves: 4 braille dots each
MIN_SPAN = 0.05  # the y range spans at least 5 points, so that noise is not magnified into cliffs

# theme variables, so that light and dark themes both read ($foreground-muted for grey: $text-muted is "auto 60%",
# whose transparency content markup drops, leaving it as bright as the text)
PASS_CELL = "$success on $error"
UNGRADED_CELL = "$foreground-muted"
ERROR_CELL = "bold $text on $error"
CUMULATIVE = "bold $accent"
ROLLING = "$text-primary"
BASELINE = "$foreground-muted"
ROUND = "bold $text-secondary"
AXIS = "$foreground-muted"

BRAILLE_BITS = ((0x01, 0x02, 0x04, 0x40), (0x08, 0x10, 0x20, 0x80))  # [sub-column][dot row]


@dataclass
class Tally:
    """Prefix sums over the history (index i: the first i issues), extended one issue at a time: any bin's counts
    are then two lookups, whatever the run's size."""

    rows: int = 0
    last: IssueRow | None = None  # the last row counted: a history that no longer ends with it is another one
    passed: list[int] = field(default_factory=lambda: [0])
    judged: list[int] = field(default_factory=lambda: [0])
    errors: list[int] = field(default_factory=lambda: [0])
    base_passed: list[int] = field(default_factory=lambda: [0])  # the baseline's verdicts on the same issues
    base_judged: list[int] = field(default_factory=lambda: [0])
    pairs: int = 0  # issues graded in both runs
    ours: int = 0  # of those, resolved here
    theirs: int = 0  # resolved by the baseline
    won: int = 0  # resolved here and not by the baseline
    lost: int = 0

    def fits(self, history: list[IssueRow]) -> bool:
        return len(history) >= self.rows and (self.rows == 0 or history[self.rows - 1] is self.last)

    def extend(self, history: list[IssueRow], baseline: dict[str, str] | None) -> None:
        for row in history[self.rows:]:
            mine_judged, mine_passed = row.state in JUDGED, row.state == "PASS"
            self.passed.append(self.passed[-1] + mine_passed)
            self.judged.append(self.judged[-1] + mine_judged)
            self.errors.append(self.errors[-1] + (row.state == "ERROR"))
            theirs = (baseline or {}).get(row.instance_id)
            their_judged, their_passed = theirs in JUDGED, theirs == "PASS"
            self.base_passed.append(self.base_passed[-1] + their_passed)
            self.base_judged.append(self.base_judged[-1] + their_judged)
            if mine_judged and their_judged:
                self.pairs += 1
                self.ours += mine_passed
                self.theirs += their_passed
                self.won += mine_passed and not their_passed
                self.lost += their_passed and not mine_passed
        self.rows = len(history)
        self.last = history[-1] if history else None


def rate(passed: int, judged: int) -> float:
    return passed / judged if judged else math.nan


def percent_label(value: float, fine: bool) -> str:
    return f"{100 * value:.1f}%" if fine else f"{100 * value:.0f}%"


def y_range(values: list[float]) -> tuple[float, float]:
    """What the curves span, to whole points, at least MIN_SPAN wide, within 0-100%."""
    lo, hi = min(values), max(values)
    lo, hi = math.floor(lo * 100 + 1e-9) / 100, math.ceil(hi * 100 - 1e-9) / 100
    if hi - lo < MIN_SPAN:
        middle = (lo + hi) / 2
        lo, hi = middle - MIN_SPAN / 2, middle + MIN_SPAN / 2
        if lo < 0:
            lo, hi = 0.0, MIN_SPAN
        elif hi > 1:
            lo, hi = 1 - MIN_SPAN, 1.0
    return lo, hi


def runs_of(cells: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Neighbouring cells of one style merged into one part: fewer spans to render."""
    merged: list[tuple[str, str]] = []
    for text, style in cells:
        if merged and merged[-1][1] == style:
            merged[-1] = (merged[-1][0] + text, style)
        else:
            merged.append((text, style))
    return merged


def braille(series: list[tuple[list[float], str]], lo: float, hi: float, rows: int) -> list[list[tuple[str, str]]]:
    """The curves as braille dots, one column per bin: each value a dot in the right half of its cell, joined to
    the previous one by a vertical run in the left half. A cell several curves cross takes the colour of the first
    one listed (the one that matters most: drawn last)."""
    columns = len(series[0][0]) if series else 0
    dots = rows * 4
    scale = (dots - 1) / (hi - lo)
    left, right = BRAILLE_BITS
    bits = [[0] * columns for _ in range(rows)]
    styles = [[""] * columns for _ in range(rows)]
    for values, style in reversed(series):
        previous = None
        for column, value in enumerate(values):
            if math.isnan(value):
                previous = None
                continue
            row = min(dots - 1, max(0, round((hi - value) * scale)))
            low, high = (row, row) if previous is None else (min(previous, row), max(previous, row))
            for r in range(low, high + 1):
                bits[r >> 2][column] |= left[r & 3]
                styles[r >> 2][column] = style
            bits[row >> 2][column] |= right[row & 3]
            styles[row >> 2][column] = style
            previous = row
    return [[(chr(0x2800 + b), style) if b else (" ", "") for b, style in zip(bits[r], styles[r])]
            for r in range(rows)]


def fit(parts: list[Content], width: int, gap: str = "  ") -> list[Content]:
    """Legend items packed greedily into lines of at most `width` cells (an item too long for any line is cut by
    the Static's ellipsis): everything shown, nothing wrapped mid-item."""
    lines: list[Content] = []
    for part in parts:
        if lines and lines[-1].cell_length + len(gap) + part.cell_length <= width:
            lines[-1] = Content.assemble(lines[-1], gap, part, strip_control_codes=False)
        else:
            lines.append(part)
    return lines


def columns(n: int, room: int) -> tuple[list[int], list[int], Callable[[int], int], str]:
    """How n issues map onto at most `room` columns: each column's issues [start, end), the column where the issue
    at a position (0-based) begins, and the scale in words. Past `room` issues a column is a bin of ceil(n / room)
    issues; a short run is stretched, each issue as wide as fits (a 10-issue run is still a readable chart)."""
    if n > room:
        per = -(-n // room)
        ends = list(range(per, n, per)) + [n]
        return [0] + ends[:-1], ends, lambda position: position // per, f"{per} per column"
    span = max(1, room // n)
    issues = [i for i in range(n) for _ in range(span)]
    return (issues, [i + 1 for i in issues], lambda position: position * span,
            "1 per column" if span == 1 else f"{span} columns per issue")


def chart(model: RunModel, tally: Tally, width: int, linked: bool) -> Content:
    """The verdict row, the curves, the x axis with the induction rounds, and the legend, each line at most `width`
    cells: n issues binned (or stretched) to the columns there is room for (see `columns`)."""
    n = tally.rows
    room = width - GUTTER - 1  # one column kept for a round induced after the last issue
    if room < 4:
        return Content.styled("(too narrow for the history)", AXIS)
    starts, ends, column_of, scale = columns(n, room)
    passed, judged, errors = tally.passed, tally.judged, tally.errors

    verdicts: list[tuple[str, str]] = []
    for start, end in zip(starts, ends):
        graded = judged[end] - judged[start]
        if not graded:
            verdicts.append(("░", UNGRADED_CELL))
        elif errors[end] - errors[start] == graded:
            verdicts.append(("×", ERROR_CELL))
        else:
            share = (passed[end] - passed[start]) / graded
            verdicts.append((LEVELS[round(share * (len(LEVELS) - 1))], PASS_CELL))

    window = default_window(n)
    cumulative = [rate(passed[e], judged[e]) for e in ends]
    rolling = [rate(passed[e] - passed[e - window], judged[e] - judged[e - window]) if e >= window else math.nan
               for e in ends]
    series = [(cumulative, CUMULATIVE)]
    if linked:
        series.append(([rate(tally.base_passed[e], tally.base_judged[e]) for e in ends], BASELINE))
    series.append((rolling, ROLLING))
    values = [v for curve, _ in series for v in curve if not math.isnan(v)]

    lines: list[Content] = [Content.assemble("verdict ", *runs_of(verdicts), strip_control_codes=False)]
    if values:
        lo, hi = y_range(values)
        fine = hi - lo < 0.1
        for r, cells in enumerate(braille(series, lo, hi, CHART_ROWS)):
            label = percent_label(hi, fine) if r == 0 else percent_label(lo, fine) if r == CHART_ROWS - 1 else ""
            tick = "┤" if label else "│"
            lines.append(Content.assemble((f"{label:>6} {tick}", AXIS), *runs_of(cells), strip_control_codes=False))
    else:
        lines.append(Content.styled(" " * GUTTER + "no graded issue yet: no success rate", AXIS))

    # the x axis: a mark where each round took effect (the first issue given its memory)
    marks: dict[int, int] = {}
    for induction in model.inductions:
        marks[min(column_of(induction.after), len(ends))] = induction.round
    axis = [("┴", ROUND) if c in marks else ("─", AXIS) for c in range(len(ends) + (len(ends) in marks))]
    lines.append(Content.assemble((" " * (GUTTER - 1) + "└", AXIS), *runs_of(axis), strip_control_codes=False))
    labels = [" "] * (len(ends) + 1)
    free = 0
    for column, number in sorted(marks.items()):
        text = f"r{number}"
        if column >= free and column + len(text) <= len(labels):
            labels[column:column + len(text)] = list(text)
            free = column + len(text) + 1
    if marks:
        lines.append(Content.assemble(" " * GUTTER, ("".join(labels).rstrip(), ROUND)))

    def last(value: float) -> str:
        return "–" if math.isnan(value) else percent_label(value, True)

    legend = [Content.assemble(("━", CUMULATIVE), f" cumulative {last(cumulative[-1])}"),
              Content.assemble(("━", ROLLING), f" rolling, last {window}: {last(rolling[-1])}")]
    if linked:
        legend.append(Content.assemble(("━", BASELINE), " baseline, same issues: "
                                       f"{last(rate(tally.base_passed[n], tally.base_judged[n]))}"))
    legend += [Content.styled(f"x: issues 1–{n:,}, {scale}", AXIS),
               Content.assemble(("verdict", AXIS), " ", ("▂▄▆█", PASS_CELL),
                                (" pass share of the column's graded issues", AXIS)),
               Content.assemble(("×", ERROR_CELL), (" all errors", AXIS)),
               Content.assemble(("░", UNGRADED_CELL), (" none graded", AXIS)),
               Content.assemble(("┴", ROUND), (" induction round", AXIS))]
    lines += fit(legend, width)
    return Content("\n").join(lines)


def comparison(baseline: Baseline, tally: Tally, p: float | None = None) -> Content:
    """The paired difference against the baseline run on the issues both graded, or how to get one; `p` is
    McNemar's exact p for the tally's won/lost (None: being computed)."""
    if not baseline.name:
        return Content.from_markup("[$foreground-muted]no baseline: link a [b]memory: off[/b] run as "
                                   "[b]memory.baseline_run[/b] in the spec to compare on the same issues[/]")
    name = escape(baseline.name)
    if baseline.problem:
        return Content.from_markup(f"[$warning]baseline {name}: {escape(baseline.problem)}[/]")
    if baseline.statuses is None:
        return Content.from_markup(f"[$foreground-muted]baseline {name}: reading its journal…[/]")
    if not tally.pairs:
        return Content.from_markup(f"vs baseline [b]{name}[/b]: no issue graded in both runs yet")
    ours, theirs, pairs = tally.ours / tally.pairs, tally.theirs / tally.pairs, tally.pairs
    difference = ours - theirs
    style = "$text-success" if difference > 0 else "$text-error" if difference < 0 else ""
    p_text = "…" if p is None else p_phrase(p)
    return Content.assemble(
        "vs baseline ", (baseline.name, "bold"), f" on the {count(pairs, 'issue')} both graded: {percent(ours)} vs "
        f"{percent(theirs)}, ", (points(difference), style),
        f" (won {tally.won}, lost {tally.lost}, tie {pairs - tally.won - tally.lost}; McNemar {p_text})")


def rounds(model: RunModel) -> str:
    lines = []
    for ind in model.inductions:
        what = ind.what()  # added, updated, evicted: a round that only re-learned adds nothing
        lines.append(f"[$text-secondary]round {ind.round}[/] after {count(ind.after, 'issue')} — {escape(what)}")
    return "\n".join(lines)


class HistoryPane(VerticalScroll):
    BORDER_TITLE = "History"
    DEFAULT_CSS = """
    HistoryPane { scrollbar-gutter: stable; overflow-x: hidden; }
    HistoryPane > #strip { text-wrap: nowrap; text-overflow: ellipsis; }
    HistoryPane > #compare { margin-top: 1; }
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.model: RunModel | None = None
        self.tally = Tally()
        self.baseline = Baseline()
        self.baseline_for: str | None = None  # the run folder whose baseline is read (or being read)
        self.shown: tuple | None = None  # what the strip was last rendered from
        self.listed = -1  # rounds listed in #summary
        self.p_values: dict[tuple[int, int], float] = {}  # McNemar's p by (won, lost), computed in a thread

    def compose(self) -> ComposeResult:
        yield Static(id="strip")
        yield Static(id="compare")
        yield Static(id="summary")

    def show(self, model: RunModel) -> None:
        if model is not self.model or not self.tally.fits(model.history):
            self.model, self.tally, self.shown, self.listed = model, Tally(), None, -1
        if model.run_dir and model.run_dir != self.baseline_for:
            self.baseline_for, self.baseline = model.run_dir, Baseline()
            self.shown = None
            self.load_baseline(model.run_dir)
        self.tally.extend(model.history, self.baseline.statuses)
        self.render_history()

    def render_history(self) -> None:
        model = self.model
        if model is None:
            return
        width = self.scrollable_content_region.width
        linked = self.baseline.statuses is not None
        key = (self.tally.rows, len(model.inductions), width, linked, self.baseline.name, self.baseline.problem,
               len(self.p_values))
        if key != self.shown and width > 0:
            self.shown = key
            self.query_one("#strip", Static).update(
                chart(model, self.tally, width, linked) if self.tally.rows
                else Content.styled("no issue finished yet", "$foreground-muted"))
            discordant = (self.tally.won, self.tally.lost)
            p = self.p_values.get(discordant)
            if p is None and linked and self.tally.pairs:
                self.mcnemar(*discordant)
            self.query_one("#compare", Static).update(comparison(self.baseline, self.tally, p))
        if len(model.inductions) != self.listed:
            self.listed = len(model.inductions)
            self.query_one("#summary", Static).update(rounds(model))

    def on_resize(self, event: events.Resize) -> None:
        self.render_history()

    @work(thread=True, exclusive=True, group="history-baseline", exit_on_error=False)
    def load_baseline(self, run_dir: str) -> tuple[str, Baseline]:
        try:
            return run_dir, read_baseline(run_dir)
        except Exception as exc:  # noqa: BLE001 - a damaged file is a line in the pane, never a traceback
            return run_dir, Baseline("memory.baseline_run", problem=f"cannot be read ({type(exc).__name__}: {exc})")

    @work(thread=True, exclusive=True, group="history-mcnemar", exit_on_error=False)
    def mcnemar(self, won: int, lost: int) -> tuple[tuple[int, int], float]:
        """McNemar's exact test as `compare` computes it (awm.experiment.stats, statsmodels): in a thread, as its
        first use imports scipy (seconds); once per new (won, lost)."""
        from awm.experiment.stats import mcnemar_exact

        return (won, lost), mcnemar_exact(won, lost)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "history-mcnemar":
            event.stop()
            if event.state == WorkerState.SUCCESS:
                result = event.worker.result
                assert result is not None  # (the test's worker returns its pair when it succeeds)
                discordant, p = result
                self.p_values[discordant] = p
                self.render_history()
            return
        if event.worker.group != "history-baseline":
            return
        event.stop()
        if event.state != WorkerState.SUCCESS or self.model is None:
            return
        result = event.worker.result
        assert result is not None  # (the baseline's worker returns its pair when it succeeds)
        run_dir, baseline = result
        if run_dir != self.baseline_for:
            return  # another run's, read too late
        self.baseline = baseline
        # the baseline's verdicts line up with the history: counted again from the start
        self.tally, self.shown = Tally(), None
        self.tally.extend(self.model.history, baseline.statuses)
        self.render_history()
