"""The awm-tui application: the run picker, or a run's screen, over the same engine the headless command runs."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from textual.app import App, SystemCommand
from textual.screen import Screen

from awm.runstore import RunSummary
from awm_tui.model import RunModel
from awm_tui.screens.picker import RunPicker
from awm_tui.screens.run import RunScreen
from awm_tui.session import EngineFactory, Launch, make_engine


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

    def on_mount(self) -> None:
        if self.launch is not None:
            self.push_screen(RunScreen(self.launch, factory=self.factory))
        else:
            self.push_screen(RunPicker(self.runs_root))

    def open_run(self, summary: RunSummary) -> None:
        from awm.runview import load_run

        model = RunModel.from_view(load_run(summary.run_dir))
        if summary.finished:
            self.push_screen(RunScreen(model=model))
        else:
            self.push_screen(RunScreen(Launch(resume=str(summary.run_dir)), model=model, factory=self.factory))

    def start_run(self, spec_path: str) -> None:
        self.push_screen(RunScreen(Launch(spec_path=spec_path), factory=self.factory))

    def action_quit_now(self) -> None:
        if isinstance(self.screen, RunScreen):
            self.screen.action_quit_safely()
        else:
            self.exit(return_code=self.exit_code_on_quit)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        run = next((s for s in reversed(self.screen_stack) if isinstance(s, RunScreen)), None)
        if run is not None:
            yield SystemCommand("Pause after this issue", "Finish the issue in flight, then stop", run.action_pause)
            yield SystemCommand("Resume the run", "Start again after a pause", run.action_resume)
            yield SystemCommand("Quit safely", "Stop at a safe point; the run stays resumable",
                                run.action_quit_safely)
            for name, key in (("issue queue", "queue"), ("agent log", "log")):
                yield SystemCommand(f"Focus the {name}", f"Move the focus to the {name}",
                                    lambda key=key: run.action_focus(key))
            yield SystemCommand("Show the history", "Pass/fail history and induction rounds",
                                lambda: run.action_tab("history"))
            yield SystemCommand("Show the workflow memory", "Browse workflows, now and at any round",
                                lambda: run.action_tab("memory"))
