"""`?` (and F1): every key of the run screen, what it does, grouped; and which run this is (its id and folder).

The keys are written here once, by group; tests check that every key the run screen binds is in this list, so
that it cannot drift from the bindings."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, VerticalScroll
from textual.markup import escape
from textual.screen import ModalScreen
from textual.widgets import Static

from awm_tui.model import RunModel

# (group, [(keys, what they do)]): keys as Binding names them, several separated by ", "
KEYS: list[tuple[str, list[tuple[str, str]]]] = [
    ("The run", [
        ("p", "pause after the issue in flight (it finishes; the run stays resumable); p again while pausing: "
              "the pause is cancelled"),
        ("r", "resume a paused, stopped or failed run; while pausing: cancel the pause"),
        ("q, ctrl+q", "quit safely: the engine stops at a safe point (the issue in flight is redone on resume), "
                      "then the app closes"),
        ("ctrl+c", "copy the selected text (select with the mouse); with nothing selected: quit safely, like q"),
        ("e", "the last error again"),
    ]),
    ("Panes", [
        ("1", "focus the issue queue"),
        ("2", "focus the agent log"),
        ("3", "the history (success over time, induction rounds)"),
        ("4", "the workflow memory"),
        ("n", "with several issues in flight: the log follows the next one"),
        ("z", "zoom: the focused pane (queue, log, or history/memory) takes the whole screen; z or Esc restores"),
        ("escape", "close the filter or search box; undo a zoom; leave a replayed log (a read-only run: back to "
                   "the run picker at once); back to the run picker"),
    ]),
    ("Issue queue", [
        ("enter", "the issue's detail (in flight: its clock, steps, cost and last actions so far; Enter there: "
                  "its detail so far)"),
        ("/", "filter by id (in the log: search)"),
        ("x", "failures only (FAIL and ERROR) on/off"),
        ("s", "sort: by position, state, cost (highest first), time (longest first)"),
        ("j", "jump back to the issue in flight, and follow it again"),
        ("l", "replay the issue's log file in the log pane (l again: back to the live log)"),
        ("o", "the issue's log file in $PAGER (else $EDITOR, else less); in its detail: the file of the tab shown "
              "(and / there searches the tab, n and N its matches)"),
        ("home, end", "first, last issue"),
    ]),
    ("Agent log", [
        ("f", "follow the newest line on/off (scrolling up turns it off; the log's title says which)"),
        ("/", "search the log: Enter goes to the next match, Esc closes"),
        ("n, N", "the log focused, with a search: its next match, the one before"),
    ]),
    ("Workflow memory (its table focused: 4)", [
        ("enter", "the entry in full: every version, its state and usefulness (d and k work there too; D: the "
                  "newest version's diff against the one before, D again: the next older pair)"),
        ("D", "the highlighted entry with its newest version's diff against the one before"),
        ("[, ]", "the memory one round earlier, later"),
        ("i", "the round's induction prompt and the model's reply"),
        ("d", "disable the entry, or enable it again (applied before the run's next issue)"),
        ("k", "keep the entry: pin it (never evicted or replaced), or unpin it"),
        ("/", "filter the entries by name, id, kind or text (Enter keeps it, Esc clears it)"),
    ]),
    ("Anywhere", [
        ("?, f1", "this help"),
        ("ctrl+p", "command palette: themes, a screenshot (saved in the run folder), the keys panel"),
    ]),
]


def run_text(model: RunModel | None) -> str:
    """Which run this is: its id, state and folder."""
    if model is None or not (model.run_id or model.run_dir):
        return "[$foreground-muted]No run folder yet (the engine has not started the run).[/]"
    return (f"[b]Run[/b] {escape(model.run_id or model.name)}  [$foreground-muted]{escape(model.state)}[/]\n"
            f"[b]Folder[/b] {escape(model.run_dir) or '–'}")


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "dismiss", "Close"),
        Binding("q", "dismiss", "Close", show=False),
        Binding("question_mark", "dismiss", "Close", show=False),
        Binding("f1", "dismiss", "Close", show=False),
    ]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 100; max-width: 95%; height: 90%; border: thick $accent;
                                  background: $surface; padding: 0 1; }
    HelpScreen #help-run { margin: 0 0 1 0; }
    HelpScreen .help-group { color: $accent; text-style: bold; }
    HelpScreen .help-keys { grid-size: 2; grid-columns: 14 1fr; height: auto; margin: 0 0 1 0; }
    HelpScreen .help-key { text-style: bold; padding: 0 0 0 2; }
    HelpScreen #help-close { color: $text-muted; }
    """

    def __init__(self, model: RunModel | None = None) -> None:
        super().__init__()
        self.model = model

    def compose(self) -> ComposeResult:
        with VerticalScroll() as box:
            box.border_title = "Keys of the run screen"
            yield Static(run_text(self.model), id="help-run")
            for group, rows in KEYS:
                yield Static(group, classes="help-group", markup=False)
                with Grid(classes="help-keys"):
                    for keys, what in rows:
                        yield Static(keys, classes="help-key", markup=False)
                        yield Static(what, classes="help-what", markup=False)
            yield Static("Esc, q or ? closes this help.", id="help-close", markup=False)
