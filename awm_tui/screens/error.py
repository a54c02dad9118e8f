"""A user's mistake, shown as the same one paragraph the headless command prints. Esc closes it; the run screen
keeps the error (its status bar says `e: error`, its log has the line) and `e` opens this again."""

from __future__ import annotations

from rich.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static


class ErrorScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape", "dismiss", "Back"), Binding("q", "app.quit_now", "Quit")]
    DEFAULT_CSS = """
    ErrorScreen { align: center middle; }
    ErrorScreen > Vertical { width: 80%; height: auto; max-height: 80%; border: thick $error; background: $surface;
                             padding: 1 2; }
    ErrorScreen #error-hint { color: $text-muted; }
    """

    def __init__(self, message: str) -> None:
        super().__init__()
        self.message = message

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "awm-tui could not go on"
            yield Static(escape(self.message), id="error-text")
            yield Static("\nq quit · Esc back (e shows this again) · select text and Ctrl-C to copy", id="error-hint",
                         markup=False)
