"""The top bar: state, progress (n/N), success rate, cost and elapsed time first; then the issues in flight, the
run, the workflows and the model, as far as the width allows.

It is fitted to its width (`fit`): at 80 columns the key fields (state, n/N, rate, cost, time) must stay whole, so
the less important ones are shortened, then dropped, least important first: the model name goes first (a long
litellm name is what clipped "running" at 120 columns)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from rich.cells import cell_len
from textual import events
from textual.content import Content
from textual.markup import escape
from textual.widgets import Static

from awm.fmt import count, duration, money
from awm_tui.model import RunModel

# theme variables: readable on light and dark themes alike ($foreground-muted: $text-muted's transparency is lost
# in content markup)
STATE_STYLE = {"running": "$success", "pausing": "$warning", "paused": "$warning", "stopping": "$warning",
               "completed": "$accent", "aborted": "$error", "failed": "$error", "starting": "$foreground-muted"}
SHOWN = {"stopping": "stopping…", "pausing": "pausing…", "starting": "starting…"}
SEPARATOR = " · "
WIDE = 1000  # the width assumed before the bar is laid out


@dataclass
class Field:
    """One field of a fitted line: its forms from the fullest to the shortest (markup), and its priority (0: the
    most important, shortened and dropped last). `keep`: only shortened, dropped only if even the kept fields do
    not fit."""

    priority: int
    forms: tuple[str, ...]
    keep: bool = False


@lru_cache(maxsize=4096)
def plain_len(markup: str) -> int:
    """Cells a field takes on screen (cached: the same fields come back on every redraw)."""
    return cell_len(Content.from_markup(markup).plain)


def fit(fields: list[Field], width: int, separator: str = SEPARATOR) -> str:
    """The fields, in their order, joined by `separator`, in at most `width` cells. While too wide, the least
    important field gives way first: shortened step by step, then dropped (a `keep` field is only shortened); then
    the next least important. If the kept fields alone are still too wide, they are dropped too, least important
    first."""
    chosen = [0] * len(fields)  # index into each field's forms; len(forms) means dropped
    lengths = [[plain_len(f) for f in field.forms] for field in fields]

    def total() -> int:
        shown = [lengths[i][c] for i, c in enumerate(chosen) if c < len(fields[i].forms)]
        return sum(shown) + cell_len(separator) * max(0, len(shown) - 1)

    order = sorted(range(len(fields)), key=lambda i: -fields[i].priority)
    for force in (False, True):
        for i in order:
            limit = len(fields[i].forms) - (1 if fields[i].keep and not force else 0)
            while total() > width and chosen[i] < limit:
                chosen[i] += 1
        if total() <= width:
            break
    return separator.join(f.forms[c] for f, c in zip(fields, chosen) if c < len(f.forms))


def short_model(name: str) -> str:
    """A litellm model name without its provider prefix: `openrouter/anthropic/claude-x` -> `claude-x`."""
    return name.rsplit("/", 1)[-1]


def workflow_forms(in_memory: int, disabled: int) -> tuple[str, ...]:
    """Memory's size, widest form first; a disabled entry is in memory but never given, so it is not counted usable."""
    if not disabled:
        return count(in_memory, "workflow"), f"{in_memory} wf"
    usable = max(0, in_memory - disabled)
    return (f"{count(usable, 'workflow')} usable ({disabled} disabled)",
            f"{usable} wf usable ({disabled} off)")


def status_fields(model: RunModel) -> list[Field]:
    s = model.stats
    state = SHOWN.get(model.state, model.state)
    style = STATE_STYLE.get(model.state, "$foreground")
    state_forms: tuple[str, ...] = (f"[{style}]{state}[/]",)
    if model.error:
        state_forms = (f"[{style}]{state}[/] [$error]e: error[/]", *state_forms)
    in_flight = len(model.running)
    name = model.run_id or model.name
    return [
        Field(9, ("[b]awm-tui[/b]",)),
        *([Field(6, (escape(name),))] if name else []),
        *([Field(8, (escape(model.model), escape(short_model(model.model))))] if model.model else []),
        Field(1, (f"{s.processed}/{model.total} done", f"{s.processed}/{model.total}"), keep=True),
        Field(2, (f"success {s.success_rate:.1%} ({s.passed}/{s.evaluated})", f"{s.success_rate:.1%} "
                  f"({s.passed}/{s.evaluated})", f"{s.success_rate:.0%}"), keep=True),
        Field(7, workflow_forms(s.workflows, model.disabled_in_memory())),
        *([Field(5, (f"{in_flight} in flight (n: next)", f"{in_flight} in flight"))] if in_flight > 1 else []),
        Field(3, (money(model.cost_so_far()),), keep=True),
        Field(4, (duration(model.elapsed()),), keep=True),
        Field(0, state_forms, keep=True),
    ]


class Line(Static):
    """A line of figures, redrawn only when its text changes and without a layout: its size is fixed by the CSS,
    and a layout of the run screen costs far more than drawing a line (these lines are set ten times a second
    during a flood of agent events, and every second for the clocks)."""

    text: str | None = None

    def set(self, text: str) -> None:
        if text != self.text:
            self.text = text
            self.update(text, layout=False)


class StatusBar(Line):
    DEFAULT_CSS = """
    StatusBar { height: 1; background: $panel; color: $text; padding: 0 1; }
    """

    model: RunModel | None = None

    def show(self, model: RunModel) -> None:
        """Draw the model's figures, fitted to the bar's width (cheap: called on every event and every second)."""
        self.model = model
        width = self.content_size.width if self.is_mounted and self.content_size.width else WIDE
        self.set(fit(status_fields(model), width))

    def on_resize(self, event: events.Resize) -> None:
        if self.model is not None:
            self.show(self.model)
