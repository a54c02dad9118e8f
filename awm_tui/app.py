"""The awm-tui application: the run picker, or a run's screen, over the same engine the headless command runs.

Every way out is the safe stop: q, Ctrl-C, Ctrl+Q (Textual's quit), the palette's one Quit, and the signals
SIGINT, SIGTERM and SIGHUP (a closed terminal) all ask the engine to stop at the next safe point, even while it is
still starting, and the app exits only once the engine's worker has finished (the screen says "stopping…"). The app
never force-quits a running engine: a Python thread cannot be killed, so leaving early would leave the run going on
with nothing to show it. The start-up is the exception: it has not begun the run, so a stop during it waits at most
a couple of seconds (session.build), and the command then ends without waiting for it (cli.run_app). The process
exits 0 after a safe stop. Only the safe quit is advertised: Textual's own Quit is replaced in the palette, and
Ctrl+Q is bound to the safe quit under that name (the palette's Keys panel lists it).

Clocks: the app has one timer, every second (`tick`), which redraws what ticks on the run screen (the run's and the
issues' clocks, the ETA, the cost so far). Times are read from `clock`, replaceable (tests freeze it).

When the app exits, `exit_summary()` gives one line per run it showed, however often it was opened, as the run's
folder has it at exit (state, n/N, rate, cost, folder, how to resume): `awm-tui`'s run_app prints them.

`--resume RUN` shows the run from its folder (finished issues, history, memory) from the first frame; the engine's
events take over once it is up. The app is sized from the terminal it draws on (stderr), not from stdout, which
may be redirected to a file."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from awm import runfiles
from awm.fmt import money
from awm.paths import home
from awm.run.store import RunSummary
from awm_tui.host import host
from awm_tui.model import RunModel
from awm_tui.process import isatty as _isatty
from awm_tui.screens.picker import RunPicker
from awm_tui.screens.run import RunScreen
from awm_tui.session import EngineFactory, Launch, make_engine

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
QUIT_HELP = "Stop at a safe point, then quit; the run stays resumable"
TICK_SECONDS = 1.0


def summary_line(model: RunModel) -> str | None:
    """What is printed for a run when the app exits; None for a run that never got a folder (a failed start)."""
    if not model.run_dir:
        return None
    s = model.stats
    line = (f"awm-tui: run {model.run_id or model.name} {model.state}: {s.processed}/{model.total}, "
            f"success {s.success_rate:.1%} ({s.passed}/{s.evaluated}), {money(s.cost)}; folder {model.run_dir}")
    if model.state != "completed":
        line += f"; resume with `awm-tui --resume {model.run_dir}`"
    return line


def current_model(model: RunModel) -> RunModel:
    """The run as its folder has it now (read at exit), keeping the screen's id and folder; the screen's own
    model when the folder cannot be read (a run that never got one, or one removed meanwhile)."""
    if not model.run_dir or not (Path(model.run_dir) / runfiles.CONFIG).is_file():
        return model
    from awm.run.view import load_run

    try:
        fresh = RunModel.from_view(load_run(Path(model.run_dir)))
    except Exception:  # noqa: BLE001 - gone or damaged: what the screen last knew
        return model
    if fresh.state == "new" and model.state in ("paused", "completed", "aborted", "failed"):
        fresh.state = model.state  # the engine's final word, when the folder was not rewritten (a stop at start-up)
    fresh.run_id = model.run_id or fresh.run_id
    return fresh


def terminal_size(fds: Iterable[int]) -> tuple[int, int] | None:
    """The size of the first of `fds` that is a terminal with a size; None if none is."""
    for fd in fds:
        try:
            size = os.get_terminal_size(fd)
        except (OSError, ValueError):
            continue
        if size.columns > 0 and size.lines > 0:
            return size.columns, size.lines
    return None


def _terminal_sized_driver():
    from textual.drivers.linux_driver import LinuxDriver

    class TerminalSizedDriver(LinuxDriver):
        """LinuxDriver, sized from the terminal it writes to (stderr) or reads from (stdin) before stdout."""

        def _get_terminal_size(self) -> tuple[int, int]:
            if os.environ.get("COLUMNS") or os.environ.get("LINES"):
                return super()._get_terminal_size()
            drawn_on = 2  # stderr, unless the driver has a file of its own
            if self._file is not None:
                try:
                    drawn_on = self._file.fileno()
                except (AttributeError, ValueError, OSError):
                    pass
            return terminal_size((drawn_on, self.fileno, 1)) or super()._get_terminal_size()

    return TerminalSizedDriver


def picker_commands(picker: RunPicker) -> Iterable[SystemCommand]:
    """The run picker's keys, in the palette (as the footer: what would do something now)."""
    run = picker.current()
    if run is not None:
        yield SystemCommand("Open the run" if run.summary.finished else "Resume the run",
                            f"{run.summary.name} ({run.summary.run_dir.name}): "
                            + ("read-only" if run.summary.finished else "resume it where it stopped"),
                            lambda: host(picker).open_run(run.summary))
        marked = run.key in picker.marked
        yield SystemCommand("Unmark the run" if marked else "Mark the run for a comparison",
                            "The first run marked is the reference", picker.action_mark)
    yield SystemCommand("New run", "Start a run from a spec file (e.g. specs/demo.yaml)", picker.action_new_run)
    if len(picker.marked) == 2:
        yield SystemCommand("Compare the marked runs", "Issue by issue, with the `compare` command's figures",
                            picker.action_compare)
    yield SystemCommand("Sort the runs", "The next order: date, name, status, rate, cost, progress",
                        picker.action_sort)
    yield SystemCommand("Reload the runs", "Read the runs folder again", picker.action_reload)


class AwmApp(App[None]):
    CSS_PATH = Path(__file__).with_name("app.tcss")  # absolute: Textual reads a relative one beside each subclass's
    # module, and the watcher's and the served app (awm_tui/commands/) are subclasses
    TITLE = "awm-tui"
    ENABLE_COMMAND_PALETTE = True
    # Textual's Ctrl+Q says "Quit the app and return to the command prompt" in the Keys panel: ours is the safe one
    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit safely", tooltip=QUIT_HELP, show=False, priority=True),
        Binding("ctrl+c", "help_quit", show=False, system=True),
        # the run screen has its own help (screens/help.py); elsewhere (the picker, a detail) Textual's keys panel
        Binding("question_mark,f1", "toggle_keys", "Keys", show=False),
    ]
    clock: Callable[[], float] = staticmethod(time.monotonic)

    def __init__(self, launch: Launch | None = None, factory: EngineFactory = make_engine,
                 runs_root: Path | None = None) -> None:
        super().__init__()
        if "TEXTUAL_ANIMATIONS" not in os.environ:
            # No animations unless asked for (TEXTUAL_ANIMATIONS=basic|full): a tab switch's sliding underline alone
            # drew ~15 frames, and under an agent's flood of events those frames delayed what the keys asked for.
            self.animation_level = "none"
        self.launch = launch
        self.factory = factory
        self.runs_root = runs_root
        self.quitting = False
        self.exit_code_on_quit = 0
        self.signalled: int | None = None  # the last signal that asked the app to quit
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tty_fds: list[int] = []
        self.runs: list[RunModel] = []  # every run shown, for the lines printed on exit
        from awm_tui import prefs

        self.prefs = prefs.load()  # remembered preferences (theme, follow, sorts, filter): awm_tui/prefs.py

    def on_mount(self) -> None:
        self._loop = asyncio.get_running_loop()
        if self.prefs.get("theme") in self.available_themes:
            self.theme = self.prefs["theme"]
        self.theme_changed_signal.subscribe(self, lambda theme: self.remember(theme=theme.name))
        self.set_interval(TICK_SECONDS, self.tick)
        if self.signalled is not None:  # a signal before the app was up: nothing has started, nothing to stop
            self.quitting = True
            self.exit(return_code=self.exit_code_on_quit)
            return
        self.push_screen(self.first_screen())

    def remember(self, **values) -> None:
        """A preference changed: the file of preferences is written again (when something differs)."""
        from awm_tui import prefs

        if all(self.prefs.get(key) == value for key, value in values.items()):
            return
        self.prefs.update(values)
        problem = prefs.save(self.prefs)
        if problem is not None:
            self.notify(f"The preferences could not be saved: {problem}", severity="warning")

    def first_screen(self) -> Screen:
        """The screen the app opens on: the run of `launch`, else the run picker (`awm-tui watch`: a watcher)."""
        if self.launch is not None:
            return RunScreen(self.launch, model=self.resumed_model(self.launch), factory=self.factory)
        return RunPicker(self.runs_root)

    @staticmethod
    def resumed_model(launch: Launch) -> RunModel | None:
        """`--resume RUN`: the run as its folder has it (finished issues, history, memory), shown from the first
        frame while the engine starts (15-80 s); the engine's events take over from there. None for a new run, or
        a folder that cannot be read now (the engine's start-up then says why)."""
        if not launch.resume:
            return None
        from awm.run.store import find_run
        from awm.run.view import load_run

        try:
            folder = find_run(launch.resume)
            return RunModel.from_view(load_run(folder)) if folder is not None else None
        except Exception:  # noqa: BLE001 - a damaged folder: the engine's own checks give the message
            return None

    def open_run(self, summary: RunSummary) -> None:
        from awm.errors import UserError
        from awm.run.view import load_run

        try:
            model = RunModel.from_view(load_run(summary.run_dir))
        except UserError as exc:  # a damaged state file: its one paragraph, and the picker stays
            self.notify(exc.message, title="cannot open this run", severity="error", timeout=20)
            return
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
        """Textual's Ctrl-C outside a run screen (it would only say how to quit): copy the selected text if there
        is any, else quit, safely."""
        if not self.copy_selection():
            self.action_quit_now()

    def copy_selection(self) -> bool:
        """Ctrl-C with text selected (the mouse selects in Textual 8): copy it, say so; whether there was any."""
        selected = self.screen.get_selected_text()
        if not selected:
            return False
        self.copy_to_clipboard(selected)
        lines = selected.count("\n") + 1
        self.notify(f"Copied {len(selected)} characters ({lines} line{'s' if lines > 1 else ''}) to the clipboard.",
                    title="Copied")
        return True

    def action_toggle_keys(self) -> None:
        """? or F1 outside the run screen: show or hide the panel of the screen's keys."""
        if self.screen.query("HelpPanel"):
            self.action_hide_help_panel()
        else:
            self.action_show_help_panel()

    def tick(self) -> None:
        """Every second: the screens that show clocks redraw them (the run screen, an issue in flight)."""
        for screen in list(self.screen_stack):
            tick = getattr(screen, "tick", None)
            if callable(tick):
                tick()

    def exit_summary(self) -> list[str]:
        """One line per run shown, however often it was opened (printed by the command once the app has exited),
        as its folder has it now: the state, n/N, rate and cost read at exit, not as the run screen last saw them."""
        latest: dict[str, RunModel] = {}
        for model in self.runs:
            key = model.run_dir or f"<unsaved {id(model)}>"
            latest.pop(key, None)
            latest[key] = model
        order = list(dict.fromkeys(model.run_dir or f"<unsaved {id(model)}>" for model in self.runs))
        return [line for line in (summary_line(current_model(latest[key])) for key in order) if line]

    def get_driver_class(self):
        """Textual's driver, sized from the terminal it draws on: Textual reads the size from stdout, which is a
        file when the output is redirected (`awm-tui > out.txt`), and then lays the app out at 80x24 on a bigger
        terminal."""
        driver = super().get_driver_class()
        from textual.drivers.linux_driver import LinuxDriver

        if driver is LinuxDriver:
            return _terminal_sized_driver()
        return driver

    # screenshots: into the run folder (Textual's default, ~/Downloads, may not exist)
    def screenshot_folder(self) -> Path:
        """The shown run's folder if it exists, else the data dir; `screenshots/` in it, made if needed."""
        run = next((s for s in reversed(self.screen_stack) if isinstance(s, RunScreen)), None)
        base = Path(run.model.run_dir) if run is not None and run.model.run_dir else None
        folder = (base if base is not None and base.is_dir() else home()) / "screenshots"
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def action_screenshot(self, filename: str | None = None, path: str | None = None) -> None:
        """Save an SVG of the screen, and say where."""
        try:
            saved = self.save_screenshot(filename, path or str(self.screenshot_folder()))
        except OSError as exc:
            self.notify(f"The screenshot could not be saved: {exc}", severity="error")
            return
        self.notify(saved, title="Screenshot saved")

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        run = next((s for s in reversed(self.screen_stack) if isinstance(s, RunScreen)), None)
        for command in super().get_system_commands(screen):
            if command.title == "Quit":  # Textual's "as soon as possible": replaced by the one safe quit
                yield SystemCommand("Quit safely", QUIT_HELP if run is not None and run.busy else "Quit awm-tui",
                                    self.action_quit_now)
            elif command.title == "Screenshot":  # Textual's saves into ~/Downloads, failing where there is none
                yield SystemCommand("Screenshot", "Save an SVG screenshot into the run folder (or the data dir)",
                                    lambda: self.set_timer(0.1, self.action_screenshot))
            else:
                yield command
        if isinstance(screen, RunPicker):
            yield from picker_commands(screen)
        if run is not None:
            yield SystemCommand("Help: the keys", "Every key of the run screen, and the run's folder",
                                run.action_help)
            # as the footer: only what would do something now (check_action), so a read-only, paused or finished
            # run lists no pause, and only a paused, stopped or failed one lists resume
            if run.can_cancel_pause():  # pausing: p or r takes the pause back
                yield SystemCommand("Cancel the pause", "Go on to the next issue after the one in flight",
                                    run.cancel_pause)
            elif run.check_action("pause", ()):
                yield SystemCommand("Pause after this issue", "Finish the issue in flight, then stop",
                                    run.action_pause)
            if run.check_action("resume", ()) and not run.can_cancel_pause():
                yield SystemCommand("Resume the run", "Start again after a pause", run.action_resume)
            if run.check_action("show_error", ()):
                yield SystemCommand("The last error", "Show the run's last error again", run.action_show_error)
            for name, key in (("issue queue", "queue"), ("agent log", "log")):
                yield SystemCommand(f"Focus the {name}", f"Move the focus to the {name}",
                                    lambda key=key: run.action_focus_pane(key))
            yield SystemCommand("Show the history", "Pass/fail history and induction rounds",
                                lambda: run.action_tab("history"))
            yield SystemCommand("Show the workflow memory", "Browse workflows, now and at any round",
                                lambda: run.action_tab("memory"))
            if run.zoomed is not None:
                yield SystemCommand("Restore the panes", "Undo the zoom (z or Esc)", run.action_zoom)
            elif run.focused_pane() is not None:
                yield SystemCommand("Zoom the pane", "The focused pane takes the whole screen (z)", run.action_zoom)

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
        for number in pending:  # came while the app was being imported
            self.on_signal(number)

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


