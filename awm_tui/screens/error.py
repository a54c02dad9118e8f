"""A user's mistake, shown as the same one paragraph the headless command prints."""

from __future__ import annotations

from rich.markup import escape
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static


class ErrorScreen(ModalScreen[None]):
    BINDINGS = [("escape", "dismiss", "Back"), ("q", "app.quit_now", "Quit")]
    DEFAULT_CSS = """
    ErrorScreen { align: center middle; }
    ErrorScreen > Vertical { width: 80%; height: auto; max-height: 80%; border: thick $error; background: $surface;
                             padding: 1 2; }
    """

    def __init__(self, message: str) -> None:
        super().__init__()
        self.message = message

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "awm-tui could not go on"
            yield Static(escape(self.message), id="error-text")
            yield Static("\n[dim]q quit · Esc back[/dim]")
