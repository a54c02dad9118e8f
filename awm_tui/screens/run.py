"""The main screen: status and progress, the issue queue, the live agent log, history and workflow memory, fed by
the engine's events.

Cost per engine event: the model is updated, the cells of the issues the event is about are rewritten in place,
the status bar and the progress line are redrawn; the history and the memory browser only when the event changes
what they show (a start, a finish, an induction round, the end). What ticks (the run's and the issues' clocks,
the ETA, the cost so far) is redrawn by the app's one-second timer (`tick`), from the model's clock."""

from __future__ import annotations

import time
import traceback
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.markup import escape
from textual.screen import ModalScreen, Screen
from textual.timer import Timer
from textual.widgets import DataTable, Input, Static, TabbedContent, TabPane
from textual.worker import Worker, WorkerState

from awm.errors import UserError
from awm.fmt import count, duration, money, plural
from awm.paths import home
from awm.run import events as ev
from awm.run.loop import Controls
from awm.run.store import RunStore
from awm_tui.host import host
from awm_tui.messages import EngineEvent, EngineFailed
from awm_tui.model import ERROR_STREAK, RUNNING, IssueRow, RunModel
from awm_tui.screens.detail import IssueDetail, read_tail
from awm_tui.screens.error import ErrorScreen
from awm_tui.screens.help import HelpScreen
from awm_tui.session import EngineFactory, EngineLike, Launch, StartupAbandoned, StartupStep, build
from awm_tui.widgets.agentlog import AgentLog, parse_log
from awm_tui.widgets.footer import KeyFooter
from awm_tui.widgets.history import HistoryPane
from awm_tui.widgets.memory import MemoryBrowser
from awm_tui.widgets.progress import RunProgress
from awm_tui.widgets.queue import IssueQueue
from awm_tui.widgets.statusbar import StatusBar

if TYPE_CHECKING:
    from textual.notifications import SeverityLevel


FLUSH_SECONDS = 0.1
FLUSH_BATCH = 500  # agent events written to the log per tick at most
PENDING_MAX = 20_000  # agent events waiting for the log; older ones are dropped first under a flood
BACKPRESSURE = FLUSH_BATCH  # past this many waiting, the engine's thread naps 1 ms per agent event, so that a flood
# cannot take the UI thread's time (the GIL, and the log's work): keys took a median ~160 ms under a flood without it,
# ~40 ms with it (bench/input_latency.py). A nap per event, never a wait: it cannot block, even if the UI is gone.
FILTER_DELAY = 0.2  # typing in the queue's filter: the table is rebuilt once the typing pauses
REPLAY_DELAY = 0.2  # a read-only run: the highlighted issue's log is loaded once the cursor rests
REPLAY_BYTES = 4_000_000  # the end of a longer log file is replayed
RESUMABLE = ("paused", "aborted", "failed")
PANE_EVENTS = (ev.RunStarted, ev.IssueFinished, ev.InductionFinished, ev.RunFinished)  # change history/memory


def log_crash(exc: BaseException) -> Path:
    """The traceback of an unexpected failure, for a bug report: into the data dir, never onto the screen."""
    path = home() / "crash.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write(f"--- {time.strftime('%Y-%m-%dT%H:%M:%S')}\n")
        f.write("".join(traceback.format_exception(exc)))
    return path


def in_flight_text(row: IssueRow, model: RunModel) -> str:
    """What is known of an issue in flight: its clock, steps, cost and tokens so far, its memory, its last actions."""
    iid = escape(row.instance_id)
    if row.state != RUNNING:
        return (f"[b]{iid}[/b] — {escape(row.state)}\n\nIt is no longer in flight: Esc, then Enter on it in the "
                "queue for its detail.")
    elapsed = row.elapsed(model.clock())
    figures = [duration(elapsed) if elapsed is not None else "–",
               count(row.steps, "step") if row.steps is not None else "steps not reported yet",
               money(row.cost) if row.cost is not None else "cost not reported yet"]
    if row.tokens is not None:
        figures.append(count(row.tokens, "token"))
    workflows = ", ".join(escape(w) for w in row.workflow_ids) or "none"
    actions = "\n".join(f"  ▶ {escape(a)}" for a in row.last_actions) or "  [$foreground-muted](none yet)[/]"
    return (f"[b]{iid}[/b] — [$warning]in flight[/] (the full detail comes when it finishes)\n\n"
            f"{' · '.join(figures)}\n"
            f"issue {row.position}/{model.total} · memory round {row.memory_round} · workflows in the prompt: "
            f"{workflows}\n\n[b]Last actions[/b]\n{actions}")


class InFlight(ModalScreen[None]):
    """Enter on an issue in flight: what is known so far, ticking (the app's timer calls `tick`); Enter again opens
    the issue's detail (its log so far, the memory it was given)."""

    BINDINGS = [Binding("escape", "dismiss", "Close"), Binding("q", "dismiss", "Close", show=False),
                Binding("enter", "detail", "The detail so far")]
    DEFAULT_CSS = """
    InFlight { align: center middle; }
    InFlight > VerticalScroll { width: 90%; height: auto; max-height: 90%; border: thick $warning;
                                background: $surface; padding: 0 1; }
    """

    def __init__(self, row: IssueRow, model: RunModel) -> None:
        super().__init__()
        self.row, self.model = row, model

    def compose(self) -> ComposeResult:
        with VerticalScroll() as box:
            box.border_title = "Issue in flight (Esc to close)"
            yield Static(in_flight_text(self.row, self.model), id="in-flight-text")

    def tick(self) -> None:
        self.query_one("#in-flight-text", Static).update(in_flight_text(self.row, self.model))

    def action_detail(self) -> None:
        self.dismiss()
        self.app.push_screen(IssueDetail(self.row))


class RunScreen(Screen[None]):
    BINDINGS = [
        Binding("p", "pause", "Pause", id="pause", tooltip="Pause after the issue in flight"),
        Binding("r", "resume", "Resume", id="resume"),
        # while pausing (the issue in flight finishing), p or r takes the pause back
        Binding("p", "cancel_pause", "Cancel the pause", id="cancel-pause", tooltip="Go on after the issue in flight"),
        Binding("r", "cancel_pause", "Cancel the pause", show=False),
        Binding("q", "quit_safely", "Quit safely", id="quit"),
        Binding("ctrl+c", "copy_or_quit", "Copy, or quit safely", show=False, priority=True),
        Binding("question_mark", "help", "Help", id="help", key_display="?"),
        Binding("f1", "help", "Help", show=False),
        Binding("slash", "search", "Filter/search", id="search", key_display="/"),
        Binding("f", "follow", "Follow", id="follow"),
        Binding("e", "show_error", "Error", id="error"),
        Binding("n", "follow_next", "Next in flight", id="follow-next"),
        Binding("x", "failures", "Failures only", id="failures", show=False),
        Binding("s", "sort", "Sort", id="sort", show=False),
        Binding("j", "jump", "Jump to the issue in flight", id="jump", show=False),
        Binding("l", "replay", "The issue's log", id="replay", show=False),
        Binding("o", "open_log", "The issue's log in the pager", id="open-log", show=False),
        Binding("1", "focus_pane('queue')", "Queue", id="focus-queue", show=False),
        Binding("2", "focus_pane('log')", "Log", id="focus-log", show=False),
        Binding("3", "tab('history')", "History", id="focus-history", show=False),
        Binding("4", "tab('memory')", "Memory", id="focus-memory", show=False),
        Binding("z", "zoom", "Zoom the pane", id="zoom", show=False),
        Binding("escape", "back", "Back", show=False),
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
        self._bindings_state: tuple | None = None
        self._filter_timer: Timer | None = None
        self._replay_timer: Timer | None = None

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        yield RunProgress(id="progress")
        with Horizontal(id="main"):
            with Vertical(id="left"):
                yield IssueQueue(id="queue")
                yield Input(placeholder="filter by id (Enter: keep, Esc: clear)", id="queue-filter")
            with Vertical(id="right"):
                with Vertical(id="log-box"):
                    yield AgentLog(id="log")
                    yield Input(placeholder="search the log (Enter: next match, Esc: close)", id="log-search")
                with TabbedContent(id="tabs"):
                    with TabPane("History", id="history"):
                        yield HistoryPane(id="history-pane")
                    with TabPane("Memory", id="memory"):
                        yield MemoryBrowser(id="memory-pane")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.model.clock = getattr(self.app, "clock", time.monotonic)
        runs = getattr(self.app, "runs", None)
        if runs is not None and not any(m is self.model for m in runs):
            runs.append(self.model)  # for the line printed when the app exits
        self.status, self.progress = self.query_one(StatusBar), self.query_one(RunProgress)
        self.queue, self.agent_log = self.query_one(IssueQueue), self.query_one(AgentLog)
        for box in ("#queue-filter", "#log-search"):
            self.query_one(box).display = False
        self.apply_prefs(getattr(self.app, "prefs", {}))
        self.queue.load(self.model.rows, self.model.clock())
        self.refresh_panes()
        self.set_interval(FLUSH_SECONDS, self.flush_log)
        if self.read_only:
            self.agent_log.say(f"Run {self.model.name} opened read-only ({self.model.state}).", "system")
        else:
            self.agent_log.say("Starting the engine…", "system")
            self.start_engine()

    def apply_prefs(self, prefs: dict) -> None:
        """The remembered queue sort, failures-only filter and log following (awm_tui/prefs.py)."""
        from awm_tui.widgets.queue import SORTS as QUEUE_SORTS

        if prefs.get("queue_sort") in QUEUE_SORTS:
            self.queue.sort_by = prefs["queue_sort"]
        if isinstance(prefs.get("failures_only"), bool):
            self.queue.failures_only = prefs["failures_only"]
        if prefs.get("follow") is False:
            self.agent_log.set_follow(False)

    def remember(self, **values) -> None:
        remember = getattr(self.app, "remember", None)
        if remember is not None:
            remember(**values)

    # ------------------------------------------------------------------ the engine, in a worker thread
    def start_engine(self) -> None:
        if getattr(self.app, "quitting", False):  # a quit (a signal) came before the engine could start
            return
        self.model.starting()
        self.controls = Controls()
        self.busy = True
        self.refresh_summary()
        self.run_engine(self.controls)

    @work(thread=True, exclusive=True, exit_on_error=False, group="engine")
    def run_engine(self, controls: Controls) -> ev.RunFinished | None:
        def subscriber(event: ev.Event) -> None:
            # called from the engine's threads, one event at a time (Engine.emit's contract): `sent`, `pending` and
            # `barriers` need no lock of their own; the UI thread takes them (flush_log, on_engine_event)
            if isinstance(event, ev.AgentEvent):
                if len(self.pending) > BACKPRESSURE:
                    time.sleep(0.001)
                self.pending.append((self.sent, event))
                self.sent += 1
            else:
                self.barriers.append(self.sent)
                self.post_message(EngineEvent(event))

        try:
            # the start-up in a thread of its own (session.build): a quit does not wait for it (beyond a grace)
            # (a screen without a launch is read-only and starts no engine; the app gives every other its factory)
            assert self.factory is not None and self.launch is not None
            self.engine = build(self.factory, self.launch, subscriber, controls)
            # A stop asked for while the engine was being built: run() pauses before the first issue and records
            # the run as paused (the factory skipped the rest of the start-up).
            return self.engine.run()
        except StartupAbandoned:  # a stop during the start-up: the run is left as its folder has it
            return None
        except UserError as exc:
            self.post_message(EngineFailed(exc.message, exc.exit_code))
        except Exception as exc:  # noqa: BLE001 - shown as a message, never as a traceback on screen
            where = log_crash(exc)
            self.post_message(EngineFailed(f"the engine stopped: {type(exc).__name__}: {exc} (details in {where})", 1))
        return None

    def on_engine_event(self, message: EngineEvent) -> None:
        event = message.event
        self.flush_log(before=self.barriers.popleft() if self.barriers else None, limit=None, summary=False)
        if isinstance(event, StartupStep):
            self.model.startup.append(event.text)
            self.agent_log.say(f"· {event.text}… ({duration(self.model.starting_for())})", "system")
            self.refresh_summary()
            return
        touched = self.touched_by(event)
        self.model.apply(event)
        if self.stopping and not isinstance(event, ev.RunFinished):
            self.model.state = "stopping"
        self.sync_log_filter()
        self.update_queue(event, touched)
        self.write_header(event)
        self.notify_about(event)
        if isinstance(event, PANE_EVENTS):
            self.refresh_panes()
        else:
            self.refresh_summary()

    def touched_by(self, event: ev.Event) -> list[str]:
        """The issues whose row an event changes (read before the model applies it)."""
        if isinstance(event, (ev.IssueStarted, ev.IssueFinished)):
            return [event.instance_id]
        if isinstance(event, ev.RunFinished):
            return list(self.model.running)
        return []

    def update_queue(self, event: ev.Event, touched: list[str]) -> None:
        now = self.model.clock()
        if isinstance(event, ev.RunStarted):
            self.queue.load(self.model.rows, now)
        for iid in touched:
            row = self.model.rows.get(iid)
            if row is not None:
                self.queue.update_row(row, now)
        if isinstance(event, ev.IssueFinished):
            self.queue.resort()
        if isinstance(event, (ev.IssueStarted, ev.IssueFinished)):
            self.queue.follow(self.model.current)

    def write_header(self, event: ev.Event) -> None:
        """The log's own lines: where an issue, an induction round or the run starts and ends."""
        log = self.agent_log
        if isinstance(event, ev.RunStarted):
            verb = "resuming" if event.resumed else "starting"
            order = f" ({event.order})" if event.order else ""
            issues = count(len(event.instance_ids), "issue")
            log.say(f"── {verb} run {event.run_id} ({event.model}): {issues}{order}, "
                    f"{len(event.finished_ids)} already done; started in {duration(self.model.starting_for())} ──")
            log.say(f"· folder {event.run_dir}", "system")
            for notice in event.notices:
                log.say(f"warning: {notice}", "error")
        elif isinstance(event, ev.IssueStarted):
            log.say(f"── {event.instance_id} ({event.index}/{event.total}), "
                    f"{count(len(event.workflow_ids), 'workflow')} in the prompt ──")
        elif isinstance(event, ev.IssueFinished):
            log.say(f"── {event.instance_id}: {' '.join(filter(None, [event.status.value, event.reason]))} ──",
                    "error" if event.status.value == "ERROR" else "header")
        elif isinstance(event, ev.InductionFinished):
            log.say(f"── induction round {event.round}: {self.model.inductions[-1].what()} ──")
        elif isinstance(event, ev.RunFinished):
            log.say(f"── run {event.outcome}: {event.message} ──",
                    "error" if event.outcome == "aborted" else "header")
        elif isinstance(event, ev.Notice):
            log.say(f"warning: {event.text}", "error")

    def notify_about(self, event: ev.Event) -> None:
        """Notifications for what a researcher would otherwise miss: an induction round, an error streak, the end."""
        if isinstance(event, ev.InductionFinished):
            if event.error:
                self.notify(f"Induction round {event.round} failed: {event.error}", title="Memory",
                            severity="warning")
            else:
                self.notify(f"Round {event.round}: {self.model.inductions[-1].what()}; "
                            f"{count(len(event.workflow_ids), 'workflow')} in memory.", title="Induction")
        elif isinstance(event, ev.IssueFinished) and self.model.streak == ERROR_STREAK:
            self.notify(f"{ERROR_STREAK} ERRORs in a row (the last: {event.reason or 'no reason given'}). Something "
                        "may be broken rather than the issues being hard: look at the log; p pauses.",
                        title="Error streak", severity="error", timeout=15)
        elif isinstance(event, ev.Notice):
            self.notify(event.text, title="Warning", severity="warning", timeout=15)
        elif isinstance(event, ev.RunFinished) and not self.stopping:
            s = event.stats
            severities: dict[str, SeverityLevel] = {"completed": "information", "paused": "warning"}
            self.notify(f"{s.processed}/{s.total} {plural(s.total, 'issue')}, success {s.success_rate:.1%}, "
                        f"{money(s.cost)}. "
                        f"{event.message}", title=f"Run {event.outcome}",
                        severity=severities.get(event.outcome, "error"))

    def on_engine_failed(self, message: EngineFailed) -> None:
        self.model.fail(message.text)
        host(self).exit_code_on_quit = message.exit_code
        self.agent_log.say(f"! {message.text}", "error")
        self.refresh_summary()
        self.app.push_screen(ErrorScreen(message.text))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "engine" or event.state not in (WorkerState.SUCCESS, WorkerState.ERROR,
                                                                 WorkerState.CANCELLED):
            return
        self.engine = None
        self.busy = False
        self.refresh_summary()
        if self.stopping or getattr(self.app, "quitting", False):
            if self.model.state == "stopping":
                self.model.state = "paused"
            failed = self.model.message if self.model.state == "failed" else None
            self.app.exit(return_code=getattr(self.app, "exit_code_on_quit", 0),
                          message=f"awm-tui: {failed}" if failed else None)

    def flush_log(self, before: int | None = None, limit: int | None = FLUSH_BATCH, summary: bool = True) -> None:
        """Write queued agent events to the log: those numbered below `before` (default: all that came before the
        next engine message not handled yet), at most `limit` of them. The model sees each one (steps, cost); the
        rows of the issues whose figures changed are redrawn, and the status bar and the progress line show the
        cost so far (unless `summary` is off: the caller redraws)."""
        if before is None and self.barriers:
            before = self.barriers[0]
        if self.pending and self.agent_log.drain(self.pending, limit, before, on_event=self.model.apply_agent):
            progressed = self.model.take_progressed()
            if progressed:
                now = self.model.clock()
                for iid in progressed:
                    if iid in self.model.rows:
                        self.queue.update_row(self.model.rows[iid], now)
            if summary:
                self.refresh_summary()

    # ------------------------------------------------------------------ drawing
    def refresh_summary(self) -> None:
        """The cheap part, on every event and every second: status bar, progress, the footer's keys."""
        self.status.show(self.model)
        self.progress.show(self.model)
        state = (self.model.state, self.busy, self.engine is not None, len(self.model.running) > 1,
                 bool(self.model.error), self.read_only)
        if state != self._bindings_state:
            self._bindings_state = state
            self.refresh_bindings()

    def refresh_panes(self) -> None:
        """Everything: also the history and the memory browser (only on events that change them)."""
        self.refresh_summary()
        self.query_one(HistoryPane).show(self.model)
        self.query_one(MemoryBrowser).show(self.model)

    def tick(self) -> None:
        """The app's one-second timer: the clocks, the ETA, the cost so far, the issues in flight's cells."""
        if not self.is_mounted or not self.is_attached or not self.queue.is_attached:
            return
        self.refresh_summary()
        if self.model.running:
            self.queue.tick(self.model.running, self.model.clock())

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Keys that would do nothing now are hidden from the footer and disabled: pause and resume in a read-only
        run, pause unless running, resume unless paused/stopped/failed, `n` with one issue in flight, `e` with no
        error."""
        if action == "pause":
            return not self.read_only and self.engine is not None and self.model.state == "running"
        if action == "resume":
            return self.can_resume()
        if action == "cancel_pause":
            return self.can_cancel_pause()
        if action == "follow_next":
            return len(self.model.running) > 1
        if action == "show_error":
            return bool(self.model.error)
        return True

    def can_resume(self) -> bool:
        return not self.read_only and not self.busy and self.model.state in RESUMABLE

    def can_cancel_pause(self) -> bool:
        """A pause asked for and not happened yet (the issue in flight is finishing), with no stop asked for."""
        return (not self.read_only and self.engine is not None and self.model.state == "pausing"
                and not self.stopping)

    # ------------------------------------------------------------------ actions: the run
    def action_pause(self) -> None:
        if self.engine is not None and self.model.state == "running":
            self.engine.pause()
            self.model.state = "pausing"
            self.refresh_summary()
            self.notify("Pausing after the issue in flight.")

    def action_resume(self) -> None:
        if self.can_resume():
            self.start_engine()

    def action_cancel_pause(self) -> None:
        """p or r while pausing: the pause is taken back, the run goes on to the next issue."""
        self.cancel_pause()

    def cancel_pause(self) -> None:
        controls = getattr(self.engine, "controls", None) or self.controls
        if controls is not None and controls.cancel_pause():
            self.model.state = "running"
            self.refresh_summary()
            self.notify("Pause cancelled: the run goes on.")

    def action_quit_safely(self) -> None:
        """q, Ctrl-C: the app's one way out (Ctrl+Q and the palette's Quit come here too)."""
        host(self).action_quit_now()

    def action_copy_or_quit(self) -> None:
        """Ctrl-C: with text selected (the mouse selects in Textual 8), copy it; else quit safely, as always."""
        if not host(self).copy_selection():
            self.action_quit_safely()

    def stop_for_quit(self) -> None:
        """Stop the engine at the next safe point (before the first issue if it is still starting); the app exits
        when the engine's worker has finished. Asking again only says so: the app never leaves an engine running
        behind it."""
        host(self).quitting = True
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
        self.refresh_summary()
        self.agent_log.say("── stopping at the next safe point… ──", "system")
        self.notify("Stopping at the next safe point; the issue in flight will be redone on resume.")

    def stop_now_from_signal(self) -> None:
        """From a signal handler (any moment, the main thread): ask the engine to stop, nothing else. Setting an
        event is all that is safe there; the screen catches up through stop_for_quit on the event loop."""
        if self.busy:
            target = self.engine or self.controls
            if target is not None:
                target.stop()

    def action_show_error(self) -> None:
        if self.model.error:
            self.app.push_screen(ErrorScreen(self.model.error))

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen(self.model))

    # ------------------------------------------------------------------ actions: panes and the log
    def action_follow_next(self) -> None:
        """With several issues in flight (workers > 1): the live log follows the next one (their logs are all kept
        in logs/instance_<id>.log)."""
        followed = self.model.follow_next()
        if followed is None:
            self.notify("Only one issue is in flight.")
            return
        self.sync_log_filter()
        self.agent_log.say(f"── following {followed} (n: next of {len(self.model.running)} in flight) ──")
        self.queue.follow(followed)
        self.refresh_summary()

    def sync_log_filter(self) -> None:
        """Several in flight: the log shows the followed issue's events only; one: everything."""
        only = self.model.current if len(self.model.running) > 1 else None
        if only != self.agent_log.only:
            self.agent_log.only = only
            self.agent_log.update_title()

    def action_focus_pane(self, which: str) -> None:
        """1, 2: focus the issue queue or the agent log (by id; Textual's own `focus` action takes a selector)."""
        self.query_one(f"#{which}").focus()

    def action_tab(self, which: str) -> None:
        """3, 4: show the History or the Memory tab and focus it (the memory's workflow list, when it has one)."""
        self.query_one(TabbedContent).active = which
        pane = self.query_one("#history-pane" if which == "history" else "#memory-pane")
        lists = pane.query("#memory-list")
        target = lists.first() if lists else pane
        focusable = target if target.focusable else next((w for w in target.query("*") if w.focusable), None)
        if focusable is not None:
            focusable.focus()

    ZOOMS = {"queue": "#left", "log": "#log-box", "tabs": "#tabs"}  # a pane, and what holds it

    @property
    def zoomed(self) -> str | None:
        """The pane that takes the whole body (z), or None."""
        return next((pane for pane in self.ZOOMS if self.has_class(f"-zoom-{pane}")), None)

    def focused_pane(self) -> str | None:
        """The pane the focus is in: queue, log or tabs (the history and memory tabs)."""
        widget = self.focused
        for pane, holder in self.ZOOMS.items():
            box = self.query_one(holder)
            if widget is not None and (widget is box or box in widget.ancestors):
                return pane
        return None

    def action_zoom(self) -> None:
        """z: the focused pane (the queue, the log, or the history/memory tabs) takes the whole body; z again (or
        Esc) restores the layout."""
        zoomed = self.zoomed
        if zoomed is not None:
            self.remove_class(f"-zoom-{zoomed}")
            return
        pane = self.focused_pane()
        if pane is None:
            self.notify("Focus a pane first (1, 2, 3 or 4), then z.", severity="warning")
            return
        self.add_class(f"-zoom-{pane}")

    def action_follow(self) -> None:
        """f: the log follows the newest line again, or stops (a replayed log goes back to the live one)."""
        if self.agent_log.replaying is not None:
            self.agent_log.live_again()
        else:
            self.remember(follow=self.agent_log.toggle_follow())

    def action_search(self) -> None:
        """/: search the log when it has the focus, else filter the queue by id."""
        box = self.query_one("#log-search" if self.focused is self.agent_log else "#queue-filter", Input)
        box.display = True
        box.focus()

    @on(Input.Changed, "#queue-filter")
    def _filter_typed(self, event: Input.Changed) -> None:
        if self._filter_timer is not None:
            self._filter_timer.stop()
        self._filter_timer = self.set_timer(FILTER_DELAY, lambda: self.queue.set_filter(event.value))

    @on(Input.Submitted, "#queue-filter")
    def _filter_done(self, event: Input.Submitted) -> None:
        if self._filter_timer is not None:
            self._filter_timer.stop()
        self.queue.set_filter(event.value)
        self.queue.focus()

    @on(Input.Submitted, "#log-search")
    def _search(self, event: Input.Submitted) -> None:
        line, count = self.agent_log.search(event.value)
        if event.value.strip() and line is None:
            self.notify(f"“{event.value.strip()}” is not in the log.", severity="warning")

    def close_boxes(self) -> bool:
        """Esc in the filter or search box: close it (the filter is cleared, the search ended)."""
        closed = False
        for name in ("#queue-filter", "#log-search"):
            box = self.query_one(name, Input)
            if box.display:
                box.display, closed = False, True
                box.value = ""
                if name == "#queue-filter":
                    if self._filter_timer is not None:
                        self._filter_timer.stop()
                    self.queue.set_filter("")
                    self.queue.focus()
                else:
                    self.agent_log.end_search()
                    self.agent_log.focus()
        return closed

    def action_back(self) -> None:
        """Esc: close a filter or search box, or leave a replayed log; else back to the run picker, when the run
        was opened from it and no engine is running."""
        if self.close_boxes():
            return
        if self.zoomed is not None:
            self.action_zoom()
            return
        if self.agent_log.replaying is not None and not self.read_only:
            # a live run: Esc leaves the replayed log for the live one; a read-only run's log pane replays the
            # highlighted issue by itself (there is no live log to go back to): Esc leaves the run, in one press
            self.agent_log.live_again()
            return
        if not self.busy and len(self.app.screen_stack) > 2:
            self.app.pop_screen()

    # ------------------------------------------------------------------ actions: the queue
    def action_failures(self) -> None:
        only = self.queue.toggle_failures()
        self.remember(failures_only=only)
        self.notify("Failures only (FAIL and ERROR)." if only else "All issues.")

    def action_sort(self) -> None:
        self.notify(f"Sorted by {self.queue.cycle_sort()}.")
        self.remember(queue_sort=self.queue.sort_by)

    def action_jump(self) -> None:
        if not self.queue.jump(self.model.current):
            self.notify("No issue in flight." if self.model.current is None else
                        f"{self.model.current} is hidden by the filter.")

    def action_replay(self) -> None:
        """l: the highlighted issue's log file in the log pane; l again (or f, Esc): the live log."""
        if self.agent_log.replaying is not None:
            self.agent_log.live_again()
            return
        iid = self.queue.highlighted_id()
        if iid is not None:
            self.replay_log(iid, explicit=True)

    def action_open_log(self) -> None:
        """o: the highlighted issue's log file in $PAGER (else $EDITOR, else less), the app suspended meanwhile."""
        from awm_tui.pager import open_in_pager

        iid = self.queue.highlighted_id()
        if iid is None:
            self.notify("No issue highlighted.", severity="warning")
            return
        open_in_pager(self.app, RunStore(Path(self.model.run_dir or ".")).log_path(iid), f"log for {iid}")

    def replay_log(self, iid: str, explicit: bool) -> bool:
        """Load logs/instance_<id>.log of the run folder into the log pane. Said when missing if asked for."""
        path = RunStore(Path(self.model.run_dir or ".")).log_path(iid)
        tail = read_tail(path, REPLAY_BYTES)
        if tail is None:
            if explicit:
                self.notify(f"No log for {iid} yet ({path}).", severity="warning")
            return False
        self.agent_log.replay(iid, parse_log(tail[0], iid), f"logs/{path.name}")
        return True

    @on(DataTable.RowHighlighted, "#queue")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        """A read-only run: the log pane shows the highlighted issue's log, once the cursor rests."""
        if not self.read_only or event.row_key.value is None:
            return
        if self._replay_timer is not None:
            self._replay_timer.stop()
        iid = event.row_key.value
        self._replay_timer = self.set_timer(REPLAY_DELAY, lambda: self.replay_log(iid, explicit=False))

    @on(DataTable.RowSelected, "#queue")
    def show_detail(self, event: DataTable.RowSelected) -> None:
        row = self.model.rows.get(event.row_key.value or "")
        if row is None:
            return
        if row.state == RUNNING:
            self.app.push_screen(InFlight(row, self.model))
        else:
            self.app.push_screen(IssueDetail(row))
