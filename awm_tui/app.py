"""The awm-tui application: the run picker, or a run's screen, over the same engine the headless command runs.

Every way out is the safe stop: q, Ctrl-C, Ctrl+Q (Textual's quit), the palette's one Quit, and the signals
SIGINT, SIGTERM and SIGHUP (a closed terminal) all ask the engine to stop at the next safe point, even while it is
still starting, and the app exits only once the engine's worker has finished (the screen says "stopping…"). The app
never force-quits: a Python thread cannot be killed, so leaving early would leave the run going on with nothing to
show it. The process exits 0 after a safe stop."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Iterable

from textual.app import App, SystemCommand
from textual.screen import Screen

from awm.run.store import RunSummary
from awm_tui.headless import isatty as _isatty
from awm_tui.model import RunModel
from awm_tui.screens.picker import RunPicker
from awm_tui.screens.run import RunScreen
from awm_tui.session import EngineFactory, Launch, make_engine

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class AwmApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "awm-tui"
    ENABLE_COMMAND_PALETTE = True

    def __init__(self, launch: Launch | None = None, factory: EngineFactory = make_engine,
                 runs_root: Path | None = None) -> None:
        super().__init__()
        self.launch = launch
        self.factory = factory
        self.runs_root = runs_root
        self.quitting = False
        self.exit_code_on_quit = 0
        self.signalled: int | None = None  # the last signal that asked the app to quit
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tty_fds: list[int] = []

    def on_mount(self) -> None:
        self._loop = asyncio.get_running_loop()
        if self.signalled is not None:  # a signal before the app was up: nothing has started, nothing to stop
            self.quitting = True
            self.exit(return_code=self.exit_code_on_quit)
            return
        if self.launch is not None:
            self.push_screen(RunScreen(self.launch, factory=self.factory))
        else:
            self.push_screen(RunPicker(self.runs_root))

    def open_run(self, summary: RunSummary) -> None:
        from awm.run.view import load_run

        model = RunModel.from_view(load_run(summary.run_dir))
        if summary.finished:
            self.push_screen(RunScreen(model=model))
        else:
            self.push_screen(RunScreen(Launch(resume=str(summary.run_dir)), model=model, factory=self.factory))

    def start_run(self, spec_path: str) -> None:
        self.push_screen(RunScreen(Launch(spec_path=spec_path), factory=self.factory))

    # quitting: one way, the safe one
    def busy_runs(self) -> list[RunScreen]:
        """The run screens whose engine is starting, running, pausing or stopping."""
        try:
            stack = self.screen_stack
        except Exception:  # noqa: BLE001 - not up yet, or gone
            return []
        return [s for s in stack if isinstance(s, RunScreen) and s.busy]

    def action_quit_now(self) -> None:
        """Quit: at once when no engine is on; else stop it at a safe point and exit when it has stopped."""
        busy = self.busy_runs()
        self.quitting = True
        if not busy:
            self.exit(return_code=self.exit_code_on_quit)
            return
        for run in busy:
            run.stop_for_quit()

    async def action_quit(self) -> None:
        """Textual's quit (Ctrl+Q, and the palette's Quit): the safe stop, like q."""
        self.action_quit_now()

    def action_help_quit(self) -> None:
        """Textual's Ctrl-C outside a run screen (it would only say how to quit): quit, safely."""
        self.action_quit_now()

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        run = next((s for s in reversed(self.screen_stack) if isinstance(s, RunScreen)), None)
        for command in super().get_system_commands(screen):
            if command.title == "Quit":  # Textual's "as soon as possible": replaced by the one safe quit
                yield SystemCommand("Quit safely", "Stop at a safe point, then quit; the run stays resumable"
                                    if run is not None and run.busy else "Quit awm-tui", self.action_quit_now)
            else:
                yield command
        if run is not None:
            yield SystemCommand("Pause after this issue", "Finish the issue in flight, then stop", run.action_pause)
            yield SystemCommand("Resume the run", "Start again after a pause", run.action_resume)
            for name, key in (("issue queue", "queue"), ("agent log", "log")):
                yield SystemCommand(f"Focus the {name}", f"Move the focus to the {name}",
                                    lambda key=key: run.action_focus(key))
            yield SystemCommand("Show the history", "Pass/fail history and induction rounds",
                                lambda: run.action_tab("history"))
            yield SystemCommand("Show the workflow memory", "Browse workflows, now and at any round",
                                lambda: run.action_tab("memory"))

    # signals (installed by the command, not in tests: they are the process's)
    def install_signal_handlers(self, pending: Iterable[int] = ()) -> None:
        """SIGINT, SIGTERM and SIGHUP quit like q: the engine is told to stop at once (from the handler itself, so
        that it stops even if the UI cannot go on), and the screen follows on the event loop. SIGHUP means the
        terminal is gone: the app's output and input are moved off it first, so that drawing the last frames
        cannot fail or block."""
        self._tty_fds = [fd for fd in (0, 1, 2) if _isatty(fd)]
        for signum in SIGNALS:
            if signal.getsignal(signum) is not signal.SIG_IGN:  # nohup: a closed terminal stays ignored
                signal.signal(signum, self.on_signal)
        for signum in pending:  # came while the app was being imported
            self.on_signal(signum)

    def on_signal(self, signum: int, frame=None) -> None:
        if signum == signal.SIGHUP:
            self.detach_from_terminal()
        self.signalled = signum
        self.quitting = True
        for run in self.busy_runs():
            run.stop_now_from_signal()
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self.action_quit_now)

    def detach_from_terminal(self) -> None:
        """Output to /dev/null and input from a pipe that never speaks, in place of the closed terminal."""
        fds, self._tty_fds = self._tty_fds, []
        if not fds:
            return
        devnull = os.open(os.devnull, os.O_WRONLY)
        for fd in fds:
            if fd == 0:
                quiet, self._quiet_pipe = os.pipe()  # the write end is kept open: reads wait instead of ending
                os.dup2(quiet, 0)
            else:
                os.dup2(devnull, fd)


