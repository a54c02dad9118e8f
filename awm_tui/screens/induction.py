"""An induction round's prompt and the model's reply, as kept under the run folder's induction/: what the
inducer was shown and what it answered, to see why a round learned what it did."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static, TabbedContent, TabPane

from awm_tui.run_memory import RunMemory

MAX_CHARS = 200_000  # a prompt past this is cut in the middle: the whole file is named above it


def read_text(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        return f"(cannot be read: {exc.strerror})"
    if len(text) > MAX_CHARS:
        half = MAX_CHARS // 2
        return f"{text[:half]}\n… [{len(text) - MAX_CHARS} characters cut: the file has them all] …\n{text[-half:]}"
    return text


def label(path: Path) -> str:
    """prompt, reply, reply 2 (a retried attempt), pitfalls prompt, ..."""
    parts = path.name.split(".")
    what = "prompt" if parts[-2] == "prompt" else "reply"
    attempt = next((p[len("attempt"):] for p in parts if p.startswith("attempt")), "")
    prefix = "pitfalls " if path.name.startswith("pitfalls_") else ""
    return f"{prefix}{what}{' ' + attempt if attempt else ''}"


class InductionRoundScreen(ModalScreen[None]):
    BINDINGS = [("escape", "dismiss", "Close"), ("q", "dismiss", "Close")]
    DEFAULT_CSS = """
    InductionRoundScreen { align: center middle; }
    InductionRoundScreen > Vertical {
        width: 1fr; height: 1fr; margin: 1 2; border: thick $accent; background: $surface;
    }
    InductionRoundScreen .induction-path { color: $text-muted; padding: 0 1; }
    InductionRoundScreen VerticalScroll { padding: 0 1; }
    """

    def __init__(self, round_number: int, files: list[Path], memory: RunMemory) -> None:
        super().__init__()
        self.round_number = round_number
        self.files = files
        self.memory = memory

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = f"Induction round {self.round_number}"
            box.border_subtitle = "Esc close · ←/→ prompt, reply"
            with TabbedContent(id="induction-tabs"):
                for n, path in enumerate(self.files):
                    with TabPane(label(path), id=f"induction-{n}"):
                        yield Static(self.memory.relative(path), classes="induction-path")
                        with VerticalScroll():
                            yield Static(Content(read_text(path)), classes="induction-text")
