"""Messages from the engine's thread to the UI."""

from __future__ import annotations

from textual.message import Message

from awm.run.events import Event


class EngineEvent(Message):
    def __init__(self, event: Event) -> None:
        super().__init__()
        self.event = event


class EngineFailed(Message):
    """The run could not start or stopped on a user's mistake: the text is the one-paragraph message."""

    def __init__(self, text: str, exit_code: int = 2) -> None:
        super().__init__()
        self.text = text
        self.exit_code = exit_code
