"""The main screen: issue queue, live agent log, history and workflow memory, fed by the engine's events."""

from __future__ import annotations

import time
import traceback
from collections import deque
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, OptionList, TabbedContent, TabPane
from textual.worker import Worker, WorkerState

from awm.errors import UserError
from awm.run import events as ev
from awm.run.loop import Controls
from awm.paths import home
from awm_tui.messages import EngineEvent, EngineFailed
from awm_tui.model import RunModel
from awm_tui.screens.detail import IssueDetail
from awm_tui.screens.error import ErrorScreen
from awm_tui.session import EngineFactory, EngineLike, Launch
from awm_tui.widgets.agentlog import AgentLog
from awm_tui.widgets.history import HistoryPane
from awm_tui.widgets.memory import MemoryBrowser
from awm_tui.widgets.queue import IssueQueue
from awm_tui.widgets.statusbar import StatusBar

FLUSH_SECONDS = 0.1
FLUSH_BATCH = 500  # agent events written to the log per tick at most
PENDING_MAX = 20_000  # agent events waiting for the log; older ones are dropped first under a flood
BACKPRESSURE = FLUSH_BATCH  # past this many waiting, the engine's thread naps 1 ms per agent event, so that a flood
# cannot take the UI thread's time (the GIL, and the log's work): keys took a median ~160 ms under a flood without it,
# ~40 ms with it (bench/input_latency.py). A nap per event, never a wait: it cannot block, even if the UI is gone.


def log_crash(exc: BaseException) -> Path:
    """The traceback of an unexpected failure, for a bug report: into the data dir, never onto the screen."""
    path = home() / "crash.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write(f"--- {time.strftime('%Y-%m-%dT%H:%M:%S')}\n")
        f.write("".join(traceback.format_exception(exc)))
    return path


class RunScreen(Screen[None]):
    BINDINGS = [
        Binding("p", "pause", "Pause after issue", id="pause"),
        Binding("r", "resume", "Resume", id="resume"),
        Binding("q", "quit_safely", "Quit safely", id="quit"),
        Binding("ctrl+c", "quit_safely", "Quit safely", show=False, priority=True),
        Binding("1", "focus('queue')", "Queue", id="focus-queue"),
        Binding("2", "focus('log')", "Log", id="focus-log"),
        Binding("3", "tab('history')", "History", id="focus-history"),
        Binding("4", "tab('memory')", "Memory", id="focus-memory"),
        Binding("n", "follow_next", "Next in flight", id="follow-next", show=False),
        Binding("escape", "back", "Runs", show=False),
    ]

    def __init__(self, launch: Launch | None = None, model: RunModel | None = None,
                 factory: EngineFactory | None = None) -> None:
        super().__init__()
        self.launch = launch
        self.model = model or RunModel()
        self.factory = factory
        self.engine: EngineLike | None = None
        # The controls of the engine being started or run: made before the factory is called, so that a stop asked
        # for while the engine is being built (15-20 s) is honoured as soon as it exists.
        self.controls: Controls | None = None
        self.busy = False  # the engine's worker is on (starting, running, pausing or stopping)
        self.stopping = False  # a stop was asked for (quit): the app exits once the worker has finished
        # Agent events skip the message queue (one message each would flood it): the engine's thread numbers them
        # and queues them here; every other event goes as a message and records, in `barriers`, how many agent
        # events came before it, so that the log shows them in the engine's order (an issue's actions under its
        # own header, never under the next one's).
        self.pending: deque[tuple[int, ev.AgentEvent]] = deque(maxlen=PENDING_MAX)
        self.sent = 0  # agent events queued so far (only the engine's thread writes it)
        self.barriers: deque[int] = deque()  # one per engine message posted and not handled yet
        self.read_only = launch is None

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        with Horizontal(id="main"):
            yield IssueQueue(id="queue")
            with Vertical(id="right"):
                yield AgentLog(id="log")
                with TabbedContent(id="tabs"):
                    with TabPane("History", id="history"):
                        yield HistoryPane(id="history-pane")
                    with TabPane("Memory", id="memory"):
                        yield MemoryBrowser(id="memory-pane")
        yield Footer()

    def on_mount(self) -> None:
        self.refresh_panes()
        self.set_interval(FLUSH_SECONDS, self.flush_log)
        if self.read_only:
            self.query_one(AgentLog).write_line(f"Run {self.model.name} opened read-only ({self.model.state}).")
        else:
            self.query_one(AgentLog).write_line("Starting the engine…")
            self.start_engine()

    # the engine, in a worker thread; it reports only through messages
    def start_engine(self) -> None:
        if getattr(self.app, "quitting", False):  # a quit (a signal) came before the engine could start
            return
        self.model.state = "starting"
        self.controls = Controls()
        self.busy = True
        self.refresh_panes()
        self.run_engine(self.controls)

    @work(thread=True, exclusive=True, exit_on_error=False, group="engine")
    def run_engine(self, controls: Controls) -> ev.RunFinished | None:
        def subscriber(event: ev.Event) -> None:
            if isinstance(event, ev.AgentEvent):
                if len(self.pending) > BACKPRESSURE:
                    time.sleep(0.001)
                self.pending.append((self.sent, event))
                self.sent += 1
            else:
                self.barriers.append(self.sent)
                self.post_message(EngineEvent(event))

        try:
            self.engine = self.factory(self.launch, subscriber, controls)
            # A stop asked for while the engine was being built: run() pauses before the first issue and records
            # the run as paused (the factory skipped the rest of the start-up).
            return self.engine.run()
        except UserError as exc:
            self.post_message(EngineFailed(exc.message, exc.exit_code))
        except Exception as exc:  # noqa: BLE001 - shown as a message, never as a traceback on screen
            where = log_crash(exc)
            self.post_message(EngineFailed(f"the engine stopped: {type(exc).__name__}: {exc} (details in {where})", 1))
        return None

    def on_engine_event(self, message: EngineEvent) -> None:
        event = message.event
        self.flush_log(before=self.barriers.popleft() if self.barriers else None, limit=None)
        self.model.apply(event)
        if self.stopping and not isinstance(event, ev.RunFinished):
            self.model.state = "stopping"
        log = self.query_one(AgentLog)
        self.sync_log_filter()
        if isinstance(event, ev.IssueStarted):
            log.write_line(f"── {event.instance_id} ({event.index}/{event.total}), "
                           f"{len(event.workflow_ids)} workflows in the prompt ──")
        elif isinstance(event, ev.IssueFinished):
            log.write_line(f"── {event.instance_id}: {' '.join(filter(None, [event.status.value, event.reason]))} ──")
        elif isinstance(event, ev.InductionFinished):
            log.write_line(f"── induction round {event.round}: "
                           f"{', '.join(w.name for w in event.new_workflows) or event.error} ──")
        elif isinstance(event, ev.RunFinished):
            log.write_line(f"── run {event.outcome}: {event.message} ──")
        self.refresh_panes()

    def on_engine_failed(self, message: EngineFailed) -> None:
        self.model.state = "failed"
        self.model.message = message.text
        self.app.exit_code_on_quit = message.exit_code
        self.refresh_panes()
        self.app.push_screen(ErrorScreen(message.text))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "engine" or event.state not in (WorkerState.SUCCESS, WorkerState.ERROR,
                                                                 WorkerState.CANCELLED):
            return
        self.engine = None
        self.busy = False
        if self.stopping or getattr(self.app, "quitting", False):
            if self.model.state == "stopping":
                self.model.state = "paused"
            failed = self.model.message if self.model.state == "failed" else None
            self.app.exit(return_code=getattr(self.app, "exit_code_on_quit", 0),
                          message=f"awm-tui: {failed}" if failed else None)

    def flush_log(self, before: int | None = None, limit: int | None = FLUSH_BATCH) -> None:
        """Write queued agent events to the log: those numbered below `before` (default: all that came before the
        next engine message not handled yet), at most `limit` of them."""
        if before is None and self.barriers:
            before = self.barriers[0]
        if self.pending:
            self.query_one(AgentLog).drain(self.pending, limit, before)

    def refresh_panes(self) -> None:
        self.query_one(StatusBar).show(self.model)
        self.query_one(IssueQueue).show(list(self.model.rows.values()), self.model.current)
        self.query_one(HistoryPane).show(self.model)
        self.query_one(MemoryBrowser).show(self.model)

    # actions
    def action_pause(self) -> None:
        if self.engine is not None and self.model.state == "running":
            self.engine.pause()
            self.model.state = "pausing"
            self.refresh_panes()
            self.notify("Pausing after the issue in flight.")

    def action_follow_next(self) -> None:
        """With several issues in flight (workers > 1): the live log follows the next one (their logs are all kept
        in logs/instance_<id>.log)."""
        followed = self.model.follow_next()
        if followed is None:
            self.notify("Only one issue is in flight.")
            return
        self.sync_log_filter()
        self.query_one(AgentLog).write_line(f"── following {followed} (n: next of {len(self.model.running)} in flight) ──")
        self.refresh_panes()

    def sync_log_filter(self) -> None:
        """Several in flight: the log shows the followed issue's events only; one: everything."""
        self.query_one(AgentLog).only = self.model.current if len(self.model.running) > 1 else None

    def action_resume(self) -> None:
        if self.read_only or self.busy:
            return
        if self.model.state in ("paused", "aborted", "failed"):
            self.start_engine()

    def action_quit_safely(self) -> None:
        """q, Ctrl-C: the app's one way out (Ctrl+Q and the palette's Quit come here too)."""
        self.app.action_quit_now()

    def stop_for_quit(self) -> None:
        """Stop the engine at the next safe point (before the first issue if it is still starting); the app exits
        when the engine's worker has finished. Asking again only says so: the app never leaves an engine running
        behind it."""
        self.app.quitting = True
        if self.stopping:
            self.notify("Still stopping: the agent is being interrupted at a safe point (a model call in flight is "
                        "waited for); the app closes by itself when the engine has stopped.", title="Stopping…")
            return
        self.stopping = True
        self.model.state = "stopping"
        if self.engine is not None:
            self.engine.stop()
        elif self.controls is not None:
            self.controls.stop()  # still starting: the engine will be built with the stop already asked for
        self.refresh_panes()
        self.query_one(AgentLog).write_line("── stopping at the next safe point… ──")
        self.notify("Stopping at the next safe point; the issue in flight will be redone on resume.")

    def stop_now_from_signal(self) -> None:
        """From a signal handler (any moment, the main thread): ask the engine to stop, nothing else. Setting an
        event is all that is safe there; the screen catches up through stop_for_quit on the event loop."""
        if self.busy:
            target = self.engine or self.controls
            if target is not None:
                target.stop()

    def action_focus(self, which: str) -> None:
        self.query_one(f"#{which}").focus()

    def action_tab(self, which: str) -> None:
        self.query_one(TabbedContent).active = which
        pane = self.query_one("#history-pane" if which == "history" else "#memory-list")
        pane.focus()

    def action_back(self) -> None:
        """Back to the run picker, when the run was opened from it and no engine is running."""
        if not self.busy and len(self.app.screen_stack) > 2:
            self.app.pop_screen()

    @on(OptionList.OptionSelected, "#queue")
    def show_detail(self, event: OptionList.OptionSelected) -> None:
        row = self.model.rows.get(event.option.id or "")
        if row is not None:
            self.app.push_screen(IssueDetail(row))
