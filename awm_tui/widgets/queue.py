"""The issue queue as a table: state, id, time, cost, steps, workflows injected, memory round.

It is updated in place, cell by cell (`update_row`): an engine event changes the cells of the issues it is about,
a batch of agent events the steps and cost of theirs, and the issues in flight have their clock redrawn once a
second (`tick`). Nothing is cleared and
rebuilt on an event: a rebuild cost ~100 ms per event at 850 issues (and snapped the user's scrolling back); the
table is rebuilt only when the user filters (`/`, `x`) or the run (re)starts with other issues.

Narrow terminals (80-100 columns give the queue ~30-40 cells): the columns come in the order that matters (state,
id, steps, cost, round, then the rest, reachable by scrolling sideways), and the id is shown whole when it fits with
steps, cost and round, else without its repository owner (`django__django-11099` as `django-11099`), else cut from
the left (`…go-11099`) but never so far that two issues read alike (`layout`).

The cursor follows the issue the live log follows, until the user moves it or scrolls that issue out of sight;
`jump` brings it back and resumes following."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, ColumnKey, RowDoesNotExist

from awm.fmt import money
from awm_tui.model import RUNNING, WAITING, IssueRow
from awm_tui.widgets.agentlog import legible

# state: (mark, word, component class for its colour)
MARKS = {WAITING: ("·", "wait", "waiting"), RUNNING: ("▶", "run", "running"), "PASS": ("✓", "PASS", "pass"),
         "FAIL": ("✗", "FAIL", "fail"), "ERROR": ("!", "ERR", "error"), "SKIPPED": ("–", "SKIP", "skipped")}
FAILURES = ("FAIL", "ERROR")
# columns, most telling first (a narrow queue shows the first few): key, header, width (None: the id's), right-aligned
COLUMNS = (("state", "", 6, False), ("id", "issue", None, False), ("steps", "steps", 5, True),
           ("cost", "cost", 7, True), ("round", "round", 5, True), ("wf", "wf", 2, True),
           ("time", "time", 6, True))
ID_WIDTH = (8, 48)  # the id column's width: the longest id, within these bounds
PADDING = 2  # DataTable's cell padding, both sides of every column
WANTED = 3  # the columns after the id that the id gives way to: steps, cost, round
# DataTable's caches of what it drew, by row (see IssueQueue._write): cells, rows, row renderables, lines
ROW_CACHES = ("_cell_render_cache", "_row_render_cache", "_row_renderable_cache", "_line_cache")
STATE_ORDER = {RUNNING: 0, "ERROR": 1, "FAIL": 2, "PASS": 3, "SKIPPED": 4, WAITING: 5}


def finished_in(row: IssueRow) -> float:
    """A finished issue's duration (0 for the others: they sort last by time)."""
    return row.experience.duration_s if row.experience is not None and row.state not in (WAITING, RUNNING) else 0.0


# the queue's orders (s cycles them): the run's, then the most telling first
SORTS: dict[str, Callable[[IssueRow], tuple]] = {
    "position": lambda r: (r.position,),
    "state": lambda r: (STATE_ORDER.get(r.state, 9), r.position),
    "cost": lambda r: (-(r.spent or 0.0), r.position),
    "time": lambda r: (-finished_in(r), r.position),
}


def clock_text(seconds: float | None) -> str:
    """An issue's time in at most 6 cells: 12m34s, 1h02m."""
    if seconds is None:
        return ""
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


def cells(row: IssueRow, now: float) -> tuple[str, ...]:
    """The row's cells as plain text, in column order (styled when drawn)."""
    mark, word, _ = MARKS.get(row.state, ("?", row.state[:4], "waiting"))
    started = row.state != WAITING
    spent, taken = row.spent, row.taken
    return (f"{mark} {word}", row.instance_id, str(taken) if taken is not None else "",
            money(spent) if spent is not None else "", str(row.memory_round) if started else "",
            str(len(row.workflow_ids)) if started else "", clock_text(row.elapsed(now)))


def unique_tail(labels: list[str]) -> int:
    """The fewest last characters that still tell every label apart."""
    longest = max(map(len, labels), default=0)
    for k in range(1, longest + 1):
        if len({label[-k:] for label in labels}) == len(labels):
            return k
    return longest


def layout(ids: list[str], room: int | None) -> tuple[str, int]:
    """How ids are shown in `room` cells (the table's width, None: unknown): ("full" | "short" | "tail", id width).
    Whole when they fit beside the state, steps, cost and round; else the part after `__` (the repository owner
    dropped) if that tells them apart; else that cut from the left to what leaves the steps in view, but never
    shorter than what keeps them distinct."""
    full = min(ID_WIDTH[1], max([ID_WIDTH[0], *map(len, ids)]))
    rest = None if room is None else room - COLUMNS[0][2] - 2 * PADDING  # after the state and the id's padding
    wanted = sum(w + PADDING for _, _, w, _ in COLUMNS[2:2 + WANTED] if w is not None)  # (all have a width)
    if rest is None or rest - wanted >= full:
        return "full", full
    labels = short_labels(ids)
    short = max([ID_WIDTH[0], *map(len, labels)])
    if rest - wanted >= short or not ids:
        return "short", short
    fits = rest - COLUMNS[2][2] - PADDING  # the steps kept in view
    if fits >= short:
        return "short", short
    return "tail", max(unique_tail(labels) + 1, min(short, max(fits, ID_WIDTH[0])))


def short_labels(ids: list[str]) -> list[str]:
    """Ids without their repository owner (`owner__repo-123` → `repo-123`), or whole if that makes two alike."""
    labels = [iid.split("__", 1)[-1] for iid in ids]
    return labels if len(set(labels)) == len(labels) else list(ids)


def labelled(ids: list[str], mode: str, width: int) -> dict[str, str]:
    """Each id's label under a layout (see `layout`)."""
    if mode == "full":
        return {iid: iid for iid in ids}
    labels = short_labels(ids)
    if mode == "tail":
        labels = [label if len(label) <= width else "…" + label[-(width - 1):] for label in labels]
    return dict(zip(ids, labels))


class IssueQueue(DataTable):
    BORDER_TITLE = "Issues"
    COMPONENT_CLASSES = {f"issue-queue--{css}" for _, _, css in MARKS.values()}
    DEFAULT_CSS = """
    IssueQueue > .issue-queue--waiting { color: $foreground-muted; }
    IssueQueue > .issue-queue--running { color: $text-warning; text-style: bold; }
    IssueQueue > .issue-queue--pass { color: $text-success; }
    IssueQueue > .issue-queue--fail { color: $text-error; }
    IssueQueue > .issue-queue--error { color: $text-error; text-style: bold; }
    IssueQueue > .issue-queue--skipped { color: $text-secondary; }
    """
    BINDINGS = [
        Binding("home", "first", "First", show=False),
        Binding("end", "last", "Last", show=False),
    ]

    def __init__(self, **kwargs) -> None:
        super().__init__(cursor_type="row", **kwargs)
        self.source: dict[str, IssueRow] = {}  # the model's rows (the same objects): what the table shows
        self.shown: dict[str, tuple[str, ...]] = {}  # the cells on screen, by issue id: only changes are written
        self.filter_text = ""
        self.failures_only = False
        self.sort_by = "position"
        self.following = True  # the cursor follows the issue in flight
        self.followed: str | None = None  # the row it was last moved to, following
        self.now = 0.0
        self._styles: dict[str, Style] = {}
        self.id_layout: tuple[str, int] = ("full", ID_WIDTH[0])  # how ids are shown (see `layout`), for this width
        self.labels: dict[str, str] = {}  # each id's label on screen (when not the id itself)
        self.id_of: dict[str, str] = {}  # and back

    # ------------------------------------------------------------------ building
    def on_mount(self) -> None:
        for key, header, width, right in COLUMNS:
            self.add_column(Text(header, justify="right" if right else "left"), key=key, width=width or ID_WIDTH[0])
        self._update_title()

    def matches(self, row: IssueRow) -> bool:
        return ((not self.filter_text or self.filter_text in row.instance_id.lower())
                and (not self.failures_only or row.state in FAILURES))

    def load(self, rows: dict[str, IssueRow], now: float) -> None:
        """Show the model's rows: cell updates only when the table already holds exactly these issues (a resumed
        run), else a rebuild (the run's start, a filter)."""
        self.source, self.now = rows, now
        wanted = [r for r in rows.values() if self.matches(r)]
        if [r.instance_id for r in wanted] == list(self.shown) and self.sort_by == "position":
            for row in wanted:
                self.update_row(row, now)
            return
        self._rebuild(wanted)

    def _room(self) -> int | None:
        """The cells the columns have (a vertical scrollbar's always counted out), None before the first layout."""
        width = self.size.width
        return width - self.styles.scrollbar_size_vertical if width > 0 else None

    def on_resize(self, event: events.Resize) -> None:
        """Another width may show the ids otherwise (whole, short, cut): then the table is built again."""
        if layout(list(self.source), self._room()) != self.id_layout:
            self._rebuild([r for r in self.source.values() if self.matches(r)])

    def _rebuild(self, wanted: list[IssueRow]) -> None:
        keep = self._cursor_key()
        self.clear()
        self.shown = {}
        ids = list(self.source)
        self.id_layout = mode, id_width = layout(ids, self._room())
        self.labels = {iid: label for iid, label in labelled(ids, mode, id_width).items() if label != iid}
        self.id_of = {label: iid for iid, label in self.labels.items()}
        self.columns[ColumnKey("id")].width = id_width
        for row in sorted(wanted, key=SORTS[self.sort_by]):
            self._add(row)
        self._skip_measuring()
        target = self.followed if self.following else keep
        if target in self.shown:
            self.move_cursor(row=self.get_row_index(target), scroll=True)
        self._update_title()

    def _skip_measuring(self) -> None:
        """Every column has a fixed width, so the new rows' cells need not be measured: DataTable measures each
        new cell when idle (for auto-width columns), which took most of a 2,294-row build (~0.5 s). Its pending
        set of new rows is private; without it (another Textual) the rows are only measured, as before."""
        new_rows = getattr(self, "_new_rows", None)
        if isinstance(new_rows, set):
            new_rows.clear()

    def _add(self, row: IssueRow) -> None:
        values = cells(row, self.now)
        self.add_row(*self._styled(values, row), key=row.instance_id)
        self.shown[row.instance_id] = values

    def _styled(self, values: tuple[str, ...], row: IssueRow) -> list[Text]:
        css = MARKS.get(row.state, ("", "", "waiting"))[2]
        state = Text(values[0], style=self._style(css), no_wrap=True)
        label = Text(self.labels.get(values[1], values[1]), no_wrap=True)
        rest = [Text(v, justify="right" if right else "left", no_wrap=True)
                for v, (_, _, _, right) in zip(values[2:], COLUMNS[2:])]
        return [state, label, *rest]

    def _style(self, css: str) -> Style:
        if css not in self._styles:
            self._styles[css] = legible(self, f"issue-queue--{css}")  # readable on this theme's background
        return self._styles[css]

    def notify_style_update(self) -> None:
        """Styles changed: on focus and blur (the table's tint and cursor colours), on hover, or a theme.

        DataTable drops every drawn cell, row and line here and draws the visible ones again: ~20 ms a frame at
        2,294 rows, twice per focus change, most of a focus switch's time on screen. Those caches' keys already
        hold what a focus or hover change alters (the base style and the pseudo-classes), so they are kept then,
        and both states stay drawn: switching back costs nothing. A theme change drops them all, as DataTable does.
        Then the state cells are drawn again in the new colours (once the new styles are in place, and only if the
        colours changed)."""
        theme = self.app.theme if self.is_attached else None
        caches = [getattr(self, name, None) for name in ROW_CACHES]
        if theme is not None and theme == getattr(self, "_styled_theme", theme) and all(
                cache is not None for cache in caches) and hasattr(self, "_get_styles_to_render_cell"):
            super(DataTable, self).notify_style_update()  # Widget's: the widget's own style caches
            self._styles_cache.clear()
            self._get_styles_to_render_cell.cache_clear()  # the component styles (cursor colours) of this state
            self.refresh()
        else:
            super().notify_style_update()
        self._styled_theme = theme
        if self._styles and self.is_mounted:
            self.call_after_refresh(self._restyle)

    def _restyle(self) -> None:
        if not self.is_attached:
            return
        old, self._styles = self._styles, {}
        try:
            if all(self._style(css) == style for css, style in old.items()):
                return
        except KeyError:  # its screen was closed meanwhile: its component styles are gone
            return
        for iid, values in self.shown.items():
            row = self.source.get(iid)
            if row is not None:
                self.update_cell(iid, "state", self._styled(values, row)[0])

    # ------------------------------------------------------------------ updating in place
    def update_row(self, row: IssueRow, now: float) -> None:
        """One issue changed: rewrite the cells that differ (or add/remove it when it enters or leaves the
        filter). O(1) in the number of issues."""
        self.now = now
        iid = row.instance_id
        if iid not in self.source:
            self.source[iid] = row
        if iid not in self.shown:
            if self.matches(row):
                self._add(row)  # a new failure under "failures only", or an issue the run did not list
                self._update_title()
            return
        if not self.matches(row):
            self.remove_row(iid)
            del self.shown[iid]
            self._update_title()
            return
        values = cells(row, now)
        old = self.shown[iid]
        if values == old:
            return
        styled = self._styled(values, row)
        self._write(iid, {key: cell for (key, *_), new, before, cell in zip(COLUMNS, values, old, styled)
                          if new != before or key == "state"})
        self.shown[iid] = values

    def _write(self, iid: str, changed: dict[str, Text]) -> None:
        """Write one row's changed cells and draw that row again, only it.

        DataTable.update_cell makes the whole table draw again (its caches of drawn cells, rows and lines are all
        keyed by a count of updates that it bumps): ~60 ms at 160x45 for a cell written, most of the UI thread's
        time during a run and what kept keys waiting. Here the row's data is written and only that row's entries
        are dropped from those caches. They are DataTable's private state (textual is pinned, 8.2.8; the tests
        check what is drawn); without them, update_cell does it the slow way."""
        caches = [cache for name in ROW_CACHES if (cache := getattr(self, name, None)) is not None]
        data = getattr(self, "_data", None)
        if data is None or iid not in data or len(caches) < len(ROW_CACHES):
            for key, cell in changed.items():
                self.update_cell(iid, key, cell)
            return
        for key, cell in changed.items():
            data[iid][ColumnKey(key)] = cell
        index = self.get_row_index(iid)
        line = index + (self.header_height if self.show_header else 0)
        cell_cache, row_cache, renderables, lines = caches
        for cache, stale in ((cell_cache, lambda k: k[0] == iid), (row_cache, lambda k: k[0] == iid),
                             (renderables, lambda k: k[1] == index), (lines, lambda k: k[0] == line)):
            for key in [k for k in cache.keys() if stale(k)]:
                cache.discard(key)
        self.refresh_row(index)

    def tick(self, ids: Iterable[str], now: float) -> None:
        """The issues in flight: their clock, steps and cost so far (once a second, not on every agent event)."""
        for iid in ids:
            row = self.source.get(iid)
            if row is not None:
                self.update_row(row, now)

    def resort(self) -> None:
        """Sort the rows again by the current order (after an issue finished: its cost and time are known)."""
        if self.sort_by == "position" or not self.shown:
            return
        keep = self._cursor_key()
        order = {iid: SORTS[self.sort_by](self.source[iid]) for iid in self.shown if iid in self.source}
        self.sort("id", key=lambda cell: order.get(self.id_of.get(cell.plain, cell.plain), (9,)))
        if keep in self.shown:
            self.move_cursor(row=self.get_row_index(keep), scroll=False)

    # ------------------------------------------------------------------ following the issue in flight
    def follow(self, iid: str | None) -> None:
        """Move the cursor to the issue in flight, unless the user moved it away or scrolled the followed row out
        of sight (their scrolling is never undone by an event)."""
        if iid is None or not self.following or iid not in self.shown:
            return
        if self.followed in self.shown and self.followed != iid and not self._visible(self.followed):
            return
        self.followed = iid
        self.move_cursor(row=self.get_row_index(iid))

    def jump(self, iid: str | None) -> bool:
        """Back to the issue in flight, following it again (j)."""
        self.following = True
        if iid is None or iid not in self.shown:
            return False
        self.followed = iid
        self.move_cursor(row=self.get_row_index(iid))
        return True

    def _visible(self, iid: str) -> bool:
        try:
            index = self.get_row_index(iid)
        except RowDoesNotExist:
            return False
        top = int(self.scroll_y)
        height = max(1, self.scrollable_content_region.height - (self.header_height if self.show_header else 0))
        return top <= index < top + height

    def _cursor_key(self) -> str | None:
        if not self.row_count:
            return None
        try:
            return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        except CellDoesNotExist:  # a cursor past the rows (during a rebuild)
            return None

    def highlighted_id(self) -> str | None:
        """The issue under the cursor."""
        return self._cursor_key()

    def _user_moved(self) -> None:
        """The user moved the cursor: off the followed issue, following stops (j resumes); back on it, it goes on."""
        if self.followed is not None:
            self.following = self._cursor_key() == self.followed

    def on_click(self, event: events.Click) -> None:
        self.call_after_refresh(self._user_moved)

    def action_cursor_up(self) -> None:
        super().action_cursor_up()
        self._user_moved()

    def action_cursor_down(self) -> None:
        super().action_cursor_down()
        self._user_moved()

    def action_page_up(self) -> None:
        super().action_page_up()
        self._user_moved()

    def action_page_down(self) -> None:
        super().action_page_down()
        self._user_moved()

    def action_scroll_top(self) -> None:
        super().action_scroll_top()
        self._user_moved()

    def action_scroll_bottom(self) -> None:
        super().action_scroll_bottom()
        self._user_moved()

    # ------------------------------------------------------------------ the user's view: filter, failures, sort
    def set_filter(self, text: str) -> None:
        text = text.strip().lower()
        if text != self.filter_text:
            self.filter_text = text
            self.load(self.source, self.now)
            self._update_title()

    def toggle_failures(self) -> bool:
        self.failures_only = not self.failures_only
        self.load(self.source, self.now)
        self._update_title()
        return self.failures_only

    def cycle_sort(self) -> str:
        order = list(SORTS)
        self.sort_by = order[(order.index(self.sort_by) + 1) % len(order)]
        keep = self._cursor_key()
        if self.sort_by == "position":
            def position(cell: Text) -> int:
                row = self.source.get(self.id_of.get(cell.plain, cell.plain))
                return row.position if row is not None else 0

            self.sort("id", key=position)
        else:
            self.resort()
        if keep in self.shown:
            self.move_cursor(row=self.get_row_index(keep))
        self._update_title()
        return self.sort_by

    def _update_title(self) -> None:
        parts = []
        if self.filter_text:
            parts.append(f"/{self.filter_text}")
        if self.failures_only:
            parts.append("failures")
        if self.sort_by != "position":
            parts.append(f"by {self.sort_by}")
        shown = len(self.shown)
        count = f"{shown}/{len(self.source)}" if shown != len(self.source) else str(shown)
        self.border_title = f"Issues {count}" + (f" · {' · '.join(parts)}" if parts else "")

    # ------------------------------------------------------------------ keys
    def action_first(self) -> None:
        if self.row_count:
            self.move_cursor(row=0)
            self._user_moved()

    def action_last(self) -> None:
        if self.row_count:
            self.move_cursor(row=self.row_count - 1)
            self._user_moved()
