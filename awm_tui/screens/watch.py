"""The watcher's screen: the run screen over a Follower (awm.run.follow) instead of an engine, for a run another
process runs. `awm-tui watch` (awm_tui.commands.watch) opens it, and so does the picker's Enter on such a run; what it
shows, its keys and how its pause and stop reach the run's owner are said in awm_tui.commands.watch's docstring."""

from __future__ import annotations

from pathlib import Path

from textual.binding import Binding

from awm.errors import UserError
from awm.run import events as ev
from awm.run.follow import POLL_S, Follower
from awm.run.loop import Controls
from awm_tui.host import host
from awm_tui.model import RunModel
from awm_tui.screens.run import RunScreen
from awm_tui.session import Launch


class WatchScreen(RunScreen):
    """The run screen over a Follower instead of an engine (see the module's docstring)."""

    BINDINGS = [
        Binding("p", "pause", "Pause the run", id="pause",
                tooltip="Ask the process that runs it to pause after the issue in flight"),
        Binding("S", "stop_run", "Stop the run", id="stop-run",
                tooltip="Ask the process that runs it to stop at the next safe point (the issue in flight is redone)"),
        Binding("q", "quit_safely", "Quit (the run goes on)", id="quit"),
    ]

    def __init__(self, run_dir: Path | str, interval: float = POLL_S, from_picker: bool = False) -> None:
        self.follower = Follower(Path(run_dir), interval=interval)
        model = RunModel.from_view(self.follower.snapshot())
        super().__init__(Launch(resume=str(run_dir)), model=model, factory=self._follow)
        self.from_picker = from_picker
        self.announced: int | None = None  # the owner the log last said runs the run

    def _follow(self, launch: Launch, subscriber, controls: Controls) -> Follower:
        """The "engine" the run screen's worker runs: the follower, ended by the screen's stop (quitting)."""
        self.follower.subscriber = subscriber
        self.follower.quit = controls.stop_requested
        return self.follower

    def start_engine(self) -> None:
        """Follow the folder (in the run screen's worker); the run's state is the folder's, never "starting"."""
        if getattr(self.app, "quitting", False):
            return
        runs = getattr(self.app, "runs", None)
        if runs is not None and self.model in runs:
            runs.remove(self.model)  # the app's exit lines are for the runs it ran, not those it watched
        self.controls = Controls()
        self.busy = True
        self.agent_log.clear()
        self.agent_log.live.clear()
        owner = self.follower.store.owner()
        who = f"run by pid {owner}" if owner else f"{self.model.state}, no process runs it now"
        self.agent_log.say(f"Watching run {self.model.name} ({who}), read-only: p pauses it, S stops it (safely, "
                           f"by the process that runs it); q quits the watcher and leaves the run going.", "system")
        self.agent_log.say(f"· folder {self.follower.store.dir}", "system")
        self.refresh_summary()
        self.run_engine(self.controls)

    def write_header(self, event: ev.Event) -> None:
        if isinstance(event, ev.RunStarted):
            owner = self.follower.owner()
            if owner == self.announced:
                return  # the same owner: its issue list became known
            self.announced = owner
            self.agent_log.say(f"── run {event.run_id} is being run by pid {owner}: {len(event.instance_ids)} "
                               f"issues, {len(event.finished_ids)} done ──")
            return
        super().write_header(event)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "pause":
            return self.follower.owner() is not None and self.model.state == "running"
        if action == "stop_run":
            return self.follower.owner() is not None and self.model.state in ("running", "pausing")
        if action == "resume":
            return False  # a watcher never runs the run itself
        return super().check_action(action, parameters)

    def action_pause(self) -> None:
        self._ask("pause", "pausing", "to pause after the issue in flight")

    def action_stop_run(self) -> None:
        self._ask("stop", "stopping", "to stop at the next safe point (the issue in flight is redone on resume)")

    def _ask(self, request: str, state: str, words: str) -> None:
        try:
            pid = self.follower.request_stop() if request == "stop" else self.follower.pause()
        except UserError as exc:
            self.notify(exc.message, severity="warning")
            return
        self.model.state = state
        self.agent_log.say(f"── asked pid {pid} {words} ──", "system")
        self.notify(f"Asked pid {pid} {words}.")
        self.refresh_summary()

    def stop_for_quit(self) -> None:
        """q, Ctrl-C, a signal: stop following (the app exits when the follower has stopped); the run goes on."""
        host(self).quitting = True
        self.stopping = True
        self.follower.stop()

    def on_unmount(self) -> None:
        self.follower.stop()  # however the screen goes (the app's exit too): its worker thread ends

    def action_back(self) -> None:
        """Esc: close a box or a replayed log; else, opened from the picker, back to it (the run goes on)."""
        if self.close_boxes():
            return
        if self.agent_log.replaying is not None:
            self.agent_log.live_again()
            return
        if self.from_picker and len(self.app.screen_stack) > 2:
            self.follower.stop()
            self.app.pop_screen()
