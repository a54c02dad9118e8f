"""The live agent log: actions and trimmed observations of the running issue, bounded, fed in batches; each kind
in its own colour (theme variables readable on light and dark themes), paths under the issue's checkout shown
relative to it; long lines whole (the log scrolls sideways).

Following: the log keeps the newest line in view while `follow` is on, whatever happens to its size (it used to
follow only while it happened to be scrolled to the end, so shrinking the terminal stopped it for good). Scrolling
up turns following off, `f` or `end` turn it back on; the border title always says which.

It also replays a finished issue's log file (`replay`): the live lines are kept meanwhile and come back with
`live_again`. And it searches (`search`): matches highlighted, the view moved to the next one."""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Iterable
from functools import lru_cache

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual import events
from textual.color import Color
from textual.markup import escape
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Log

from awm.run.events import AgentEvent

MAX_LINES = 3000
OBSERVATION_LINES = 6
# a line is shown whole (the log scrolls sideways: shift+wheel, ←/→); only a line longer than this (a minified file,
# a dump) is cut, saying by how much, so that drawing one line stays cheap
WIDTH = 10_000
PREFIX = {"action": "▶ ", "observation": "  ", "error": "! ", "message": "» ", "system": "· "}
KINDS = ("action", "observation", "error", "message", "system", "header")
ENTRY = re.compile(r"^\[(\d\d:\d\d:\d\d)\] ([A-Z]+) ?(.*)$")  # an entry of an instance log (awm.agent.runner)
TRAILERS = ("# agent status", "# ended ")  # what the runner appends after the last entry
SEGMENT = r"[^\s/'\"`:;,()\[\]]+"


@lru_cache(maxsize=256)
def checkout_patterns(instance_id: str) -> tuple[re.Pattern, re.Pattern]:
    """An issue's checkout, `<anything>/<instance id>/<repository>` (the local workspace's layout): as a prefix
    of a path, and alone."""
    root = rf"(?:/{SEGMENT})*/{re.escape(instance_id)}/{SEGMENT}"
    return re.compile(root + "/"), re.compile(root + r"(?![^\s'\"`:;,()\[\]])")


def relative(text: str, instance_id: str = "", checkout: str = "") -> str:
    """Paths under the issue's checkout made relative to it (the checkout itself becomes `.`): the local
    workspace's `<work>/<id>/<repo>`, the Docker image's `/testbed`, or `checkout` when known (a log file says
    it)."""
    if checkout and checkout in text:
        text = text.replace(checkout.rstrip("/") + "/", "").replace(checkout, ".")
    if instance_id and instance_id in text and "/" in text:
        prefix, alone = checkout_patterns(instance_id)
        text = alone.sub(".", prefix.sub("", text))
    if "/testbed" in text:
        text = re.sub(r"/testbed/", "", text)
    return text


MIN_CONTRAST = 5.0  # on the background under the widget (WCAG asks 4.5 for text; the widget's own panel is a shade off)


def luminance(color: Color) -> float:
    channels = [c / 255 for c in (color.r, color.g, color.b)]
    r, g, b = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: Color, b: Color) -> float:
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def legible(widget: Widget, name: str) -> Style:
    """A component class's style (colour, bold), its colour made legible on the widget's background whatever the
    theme: a muted colour (alpha) blended over the background (Rich drops the alpha; `$text-muted` is "auto" and came
    out pure white, on light themes too), then moved toward the foreground until it reaches MIN_CONTRAST (a theme's
    orange or green on a light panel is too pale otherwise). The background is the one under the widget: a focus
    tint does not change it, so focusing the queue draws none of its cells again."""
    style = widget.get_component_rich_style(name, partial=True)
    color = widget.get_component_styles(name).color
    background = widget.background_colors[0]  # what is under the widget: the same focused or not (no restyle)
    foreground = widget.styles.color if widget.styles.color.a == 1 else background.get_contrast_text()
    color = readable(background + color if color.a < 1 else color, background, foreground)
    return style + Style(color=color.rich_color)


def readable(color: Color, background: Color, foreground: Color | None = None) -> Color:
    """`color` moved toward the foreground (the background's contrasting text by default) until it reaches
    MIN_CONTRAST on `background`: a theme's orange or green, legible on its light panels too."""
    foreground = foreground or background.get_contrast_text()
    if foreground.a < 1:  # the contrast text is a shade translucent: as it shows on this background
        foreground = background + foreground
    return next((c for c in (color.blend(foreground, k / 10) for k in range(11))
                 if contrast(c, background) >= MIN_CONTRAST), foreground)


def cut(line: str) -> str:
    return line if len(line) <= WIDTH else f"{line[:WIDTH]}… ({len(line) - WIDTH:,} more characters)"


def render(event: AgentEvent, checkout: str = "") -> list[str]:
    text = relative(event.text, event.instance_id, checkout)
    lines = [cut(line) for line in text.splitlines() if line.strip()] or [""]
    if event.kind == "observation" and len(lines) > OBSERVATION_LINES:
        lines = lines[: OBSERVATION_LINES - 1] + [f"… ({len(lines) - OBSERVATION_LINES + 1} more lines)"]
    if event.kind in ("message", "system"):
        lines = lines[:2]
    head = f"{PREFIX.get(event.kind, '  ')}{event.tool + ': ' if event.tool and event.kind == 'action' else ''}"
    return [head + lines[0]] + ["    " + line for line in lines[1:]]


def parse_log(text: str, instance_id: str) -> list[tuple[str, str]]:
    """An instance log (logs/instance_<id>.log) as (line, kind) pairs, rendered like the live events: its header
    lines, then every entry (`[HH:MM:SS] KIND tool` and the text under it)."""
    checkout = ""
    preamble: list[str] = []
    memory_lines = 0
    entries: list[tuple[str, str, list[str]]] = []
    trailer: list[str] = []
    in_memory = False
    for line in text.splitlines():
        match = ENTRY.match(line)
        if match:
            entries.append((match[2].lower(), match[3].strip(), []))
            in_memory = False
        elif line.startswith(TRAILERS):
            trailer.append(line[2:])
        elif entries:
            entries[-1][2].append(line)
        elif line.startswith("# workspace "):
            checkout = line[len("# workspace "):].strip()
            preamble.append(line[2:])
        elif line.startswith("# workflow memory"):
            in_memory = True
        elif in_memory:
            memory_lines += line.strip() != ""
        elif line.startswith("# "):
            preamble.append(line[2:])
    out = [(PREFIX["system"] + relative(line, instance_id, checkout), "system") for line in preamble[:1]]
    out += [(PREFIX["system"] + line, "system") for line in preamble[1:]]
    if memory_lines:
        out.append((f"{PREFIX['system']}workflow memory in the system prompt: {memory_lines} lines", "system"))
    for kind, tool, body in entries:
        kind = kind if kind in PREFIX else "system"
        for line in render(AgentEvent(instance_id, kind, tool, "\n".join(body)), checkout):
            out.append((line, kind))
    out += [(PREFIX["system"] + line, "system") for line in trailer]
    return out


class AgentLog(Log):
    BORDER_TITLE = "Agent log"
    COMPONENT_CLASSES = {*(f"agent-log--{kind}" for kind in KINDS), "agent-log--match"}
    DEFAULT_CSS = """
    AgentLog > .agent-log--action { color: $text-accent; }
    AgentLog > .agent-log--observation { color: $foreground-muted; }
    AgentLog > .agent-log--error { color: $text-error; text-style: bold; }
    AgentLog > .agent-log--message { color: $text-success; }
    AgentLog > .agent-log--system { color: $text-secondary; }
    AgentLog > .agent-log--header { color: $text-primary; text-style: bold; }
    AgentLog > .agent-log--match { background: $warning 50%; text-style: bold; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(max_lines=MAX_LINES, auto_scroll=False, **kwargs)
        self.only: str | None = None  # with several issues in flight: the one whose events are shown
        self.follow = True  # keep the newest line in view
        self.live: deque[tuple[str, str]] = deque(maxlen=MAX_LINES)  # the live lines, kept during a replay
        self.replaying: str | None = None  # the issue whose log file is shown instead of the live lines
        self.term = ""  # the search, lower case ("" none)
        self.match_line: int | None = None
        self.matches = 0
        self._kinds: list[str] = []  # each line's kind, beside Log's lines
        self._styles: dict[str, Style] = {}

    def on_mount(self) -> None:
        self.update_title()

    # ------------------------------------------------------------------ writing
    def drain(self, pending: deque[tuple[int, AgentEvent]], limit: int | None = 2000, before: int | None = None,
              on_event: Callable[[AgentEvent], None] | None = None) -> int:
        """Write queued (number, event) pairs in one go: up to `limit` of them (None: no limit), only those numbered
        below `before` (None: any); the rest wait for the next call. `on_event` sees every event taken (the model's
        steps and cost so far), shown or not."""
        lines: list[tuple[str, str]] = []
        count = 0
        while pending and (limit is None or count < limit) and (before is None or pending[0][0] < before):
            event = pending.popleft()[1]
            count += 1
            if on_event is not None:
                on_event(event)
            if self.only is None or event.instance_id == self.only:
                lines.extend((line, event.kind) for line in render(event))
        if lines:
            self.add(lines[-MAX_LINES:])  # more would only be pruned
        return count

    def say(self, text: str, kind: str = "header") -> None:
        """A line of the app's own: an issue's header, a start-up step, an error."""
        self.add([(text, kind)])

    def write_lines(self, lines: Iterable[str], scroll_end: bool | None = None) -> AgentLog:
        """Log's API (lines of no particular kind): kept working, through `add`."""
        self.add([(line, "plain") for line in lines])
        return self

    def add(self, lines: list[tuple[str, str]]) -> None:
        """(line, kind) pairs: into the live lines, and onto the screen unless a replay is shown."""
        pairs = [(part or " ", kind) for line, kind in lines for part in (line.splitlines() or [""])]
        self.live.extend(pairs)
        if self.replaying is None:
            self._show(pairs)

    def _show(self, pairs: list[tuple[str, str]]) -> None:
        self._kinds.extend(kind for _, kind in pairs)  # before Log prunes its lines: pruned alike
        super().write_lines([line for line, _ in pairs], scroll_end=False)
        if self.follow:
            self.scroll_end(animate=False, immediate=True, x_axis=False)

    def _prune_max_lines(self) -> None:
        excess = len(self._lines) - self.max_lines if self.max_lines is not None else 0
        super()._prune_max_lines()
        if excess > 0:
            del self._kinds[:excess]
            if self.match_line is not None:
                self.match_line = self.match_line - excess if self.match_line >= excess else None

    def clear(self) -> AgentLog:
        super().clear()
        self._kinds.clear()
        self.match_line = None
        return self

    # ------------------------------------------------------------------ following
    def set_follow(self, on: bool) -> None:
        if on != self.follow:
            self.follow = on
            self.update_title()
        if on:
            self.scroll_end(animate=False, immediate=True, x_axis=False)

    def toggle_follow(self) -> bool:
        self.set_follow(not self.follow)
        return self.follow

    def on_resize(self, event: events.Resize) -> None:
        """Shrinking the terminal moves the end of the log out of view: following puts it back."""
        if self.follow:
            self.call_after_refresh(self.scroll_end, animate=False, immediate=True, x_axis=False)

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        self.set_follow(False)

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        self.call_after_refresh(self._follow_at_end)

    def _follow_at_end(self) -> None:
        if self.is_vertical_scroll_end and self.max_scroll_y > 0:
            self.set_follow(True)

    def action_scroll_up(self) -> None:
        self.set_follow(False)
        super().action_scroll_up()

    def action_page_up(self) -> None:
        self.set_follow(False)
        super().action_page_up()

    def action_scroll_home(self) -> None:
        self.set_follow(False)
        super().action_scroll_home()

    def action_scroll_end(self) -> None:
        self.set_follow(True)

    # ------------------------------------------------------------------ replaying an issue's log file
    def replay(self, instance_id: str, lines: list[tuple[str, str]], source: str) -> None:
        """Show an issue's log file in place of the live lines (which go on being kept)."""
        self.replaying = instance_id
        self.clear()
        self._show([(f"── log of {instance_id} ({source}) ──", "header"), *lines[-(MAX_LINES - 1):]])
        self.scroll_home(animate=False, immediate=True)
        self.follow = False
        self.update_title()

    def live_again(self) -> None:
        """Back to the live lines, following."""
        self.replaying = None
        self.clear()
        self.follow = True
        self._show(list(self.live))
        self.update_title()

    # ------------------------------------------------------------------ searching
    def search(self, term: str, backwards: bool = False) -> tuple[int | None, int]:
        """Highlight `term` (any case) and move to its next match after the last one (wrapping), or the one before it
        (`backwards`: N); following stops so the match stays in view. (line index or None, matches)."""
        term = term.strip().lower()
        if term != self.term:
            self.term, self.match_line = term, None
            self._render_line_cache.clear()
            self.refresh()
        found = [i for i, line in enumerate(self._lines) if term and term in line.lower()]
        self.matches = len(found)
        if not found:
            self.match_line = None
            self.update_title()
            return None, 0
        if backwards:
            start = self.match_line - 1 if self.match_line is not None else int(self.scroll_y)
            self.match_line = next((i for i in reversed(found) if i <= start), found[-1])
        else:
            start = self.match_line + 1 if self.match_line is not None else int(self.scroll_y)
            self.match_line = next((i for i in found if i >= start), found[0])
        self.set_follow(False)
        height = self.scrollable_content_region.height
        self.scroll_to(y=max(0, self.match_line - height // 3), animate=False, immediate=True)
        self.update_title()
        return self.match_line, self.matches

    def on_key(self, event: events.Key) -> None:
        """n, with a search: its next match (wrapping); N the one before. Taken here rather than bound, so that
        without a search n is the run screen's (the next issue in flight) and the footer keeps the screen's keys."""
        if event.key in ("n", "N") and self.term:
            event.stop()
            event.prevent_default()
            self.search(self.term, backwards=event.key == "N")

    def end_search(self) -> None:
        if self.term:
            self.term, self.match_line, self.matches = "", None, 0
            self._render_line_cache.clear()
            self.refresh()
            self.update_title()

    # ------------------------------------------------------------------ drawing
    def update_title(self) -> None:
        if self.replaying is not None:
            mode = f"[$accent]log of {escape(self.replaying)}[/] (l: live)"
        elif self.follow:
            mode = f"following {escape(self.only)} (n: next)" if self.only else "following"
        else:
            mode = "[$warning]not following[/] (f: follow)"
        search = ""
        if self.term:
            found = f"{self.match_line_number()}/{self.matches}" if self.matches else "no match"
            search = f" · /{escape(self.term)} {found} (n/N)"
        self.border_title = f"Agent log · {mode}{search}"

    def match_line_number(self) -> int:
        if self.match_line is None:
            return 0
        return sum(1 for line in self._lines[: self.match_line + 1] if self.term in line.lower())

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles = {}

    def _style(self, name: str) -> Style:
        if name not in self._styles:
            self._styles[name] = legible(self, f"agent-log--{name}")
        return self._styles[name]

    def _render_line_strip(self, y: int, rich_style: Style) -> Strip:
        """Log's line, in its kind's colour, with the search's matches highlighted (and the text selection)."""
        selection = self.text_selection
        cacheable = selection is None
        if cacheable and y in self._render_line_cache:
            return self._render_line_cache[y]
        line = self._process_line(self._lines[y])
        text = Text(line, no_wrap=True)
        text.stylize(rich_style)
        kind = self._kinds[y] if y < len(self._kinds) else "plain"
        if kind in KINDS:
            text.stylize(self._style(kind))
        if self.term:
            lower, start = line.lower(), 0
            while (start := lower.find(self.term, start)) != -1:
                text.stylize(self._style("match"), start, start + len(self.term))
                start += len(self.term)
        if selection is not None and (span := selection.get_span(y - self._clear_y)) is not None:
            start, end = span
            text.stylize(self.screen.get_component_rich_style("screen--selection"), start,
                         len(text) if end == -1 else end)
        strip = Strip(text.render(self.app.console), cell_len(line))
        if cacheable:
            self._render_line_cache[y] = strip
        return strip
