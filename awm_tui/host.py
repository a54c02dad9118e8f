"""What the run screens (run, watch, picker) ask of the app they run in: awm-tui's app (awm_tui.app.AwmApp) has it.
A protocol, so that the screens need not import the app that imports them (no import cycle)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, cast

if TYPE_CHECKING:
    from textual.screen import Screen

    from awm.run.store import RunSummary


class Host(Protocol):
    quitting: bool  # a quit is under way: nothing new starts
    exit_code_on_quit: int

    def open_run(self, summary: RunSummary) -> None: ...

    def start_run(self, spec_path: str) -> None: ...

    def action_quit_now(self) -> None: ...

    def copy_selection(self) -> bool: ...


def host(screen: Screen) -> Host:
    """The app `screen` runs in, as the screens use it."""
    return cast("Host", screen.app)
