"""A run folder followed as it grows, from outside the process that runs it (`awm-tui watch`, the picker's Enter on
a run another process owns): what the folder's files add is turned into the engine's own events (awm.run.events),
so the run screen that shows a run it owns shows a run it watches with the same code. UI-free; it only reads, and
writes nothing but the request file a pause or a stop asks with (RunStore.request_control), so any number of
followers can watch one run, and none of them takes a lock.

What is read, and how cheaply (every `interval` seconds; nothing but a few stat calls when nothing changed):

    .lock               who owns the run (RunStore.owner: the recorded pid alive and the lock held); a new owner (a
                        resume) is a RunStarted, the owner gone a RunFinished with checkpoint.json's status and message
    experiences.jsonl   only the part appended since the last read (complete lines): an IssueFinished per line
    discarded.jsonl     the same, for the spend of attempts not kept (counted in the totals, as the engine does)
    memory.json         read again only when its size or time changed: an InductionFinished per new round (and per
                        failed attempt)
    checkpoint.json     read again only when changed: the run's issue list and elapsed time
    logs/               instance_<id>.log of an issue not in the journal, written since the owner took the lock:
                        an issue in flight (several with workers > 1): an IssueStarted, then its entries as
                        AgentEvents, read from where the last read stopped. The folder is listed again only when it
                        changed; an older log of an unfinished issue (an attempt a stop interrupted) is only
                        stat'ed, until it is written again (the issue redone)

The follower starts from `snapshot()` (the run as it is: a RunView, which RunModel.from_view shows), then `run()`
polls until `stop()`: stop ends the following, never the run. `pause()` and `request_stop()` ask the owner.

Limits: a journal rewritten by the owner (issues forgotten after a streak of errors, just before an abort) is read
again from its start, but issues it dropped stay in what was already reported; the events carry no per-step cost or
token figures (the log files hold none), and an issue in flight is seen once its log file appears (after its
workspace is open)."""

from __future__ import annotations

import codecs
import json
import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from awm.errors import UserError
from awm.memory.store import WorkflowMemory
from awm.records import Experience
from awm.run import events as ev
from awm.run.stats import Stats, Tally
from awm.run.store import RunState, RunStore
from awm.run.view import RunView

POLL_S = 0.5
REPLAY_BYTES = 1_000_000  # an issue in flight with a longer log when first seen: its last this many bytes
ENTRY = re.compile(r"^\[(\d\d:\d\d:\d\d)\] ([A-Z]+) ?(.*)$")  # an entry of an instance log (awm.agent.runner)
TRAILERS = ("# agent status", "# ended ")
LOG_NAME = re.compile(r"^instance_(.+)\.log$")


def signature(path: Path) -> tuple[int, int, int] | None:
    """What tells that a file changed: its inode, size and modification time (None: there is none)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


@dataclass
class Tail:
    """A file read from where the last read stopped; a file replaced (another inode) or shorter is read again."""

    path: Path
    offset: int = 0
    inode: int | None = None
    rest: bytes = b""  # an incomplete last line, kept for the next read

    def lines(self) -> tuple[list[bytes], bool]:
        """The complete lines added since the last read, and whether the file was read again from its start."""
        try:
            with open(self.path, "rb") as f:
                st = os.fstat(f.fileno())
                again = self.inode is not None and (st.st_ino != self.inode or st.st_size < self.offset)
                if again:
                    self.offset, self.rest = 0, b""
                self.inode = st.st_ino
                if st.st_size <= self.offset:
                    return [], again
                f.seek(self.offset)
                data = f.read(st.st_size - self.offset)
        except OSError:
            return [], False
        self.offset += len(data)
        data = self.rest + data
        cut = data.rfind(b"\n") + 1
        self.rest = data[cut:]
        return data[:cut].splitlines(), again


@dataclass
class Flight:
    """An issue in flight: its log file followed, the entry being read (kind, tool, lines)."""

    instance_id: str
    tail: Tail
    decoder: codecs.IncrementalDecoder = field(default_factory=lambda: codecs.getincrementaldecoder("utf-8")("replace"))
    entry: tuple[str, str, list[str]] | None = None


class Follower:
    """A run folder followed from outside (see the module's docstring). `subscriber` gets the events (from the
    thread that calls run() or poll()); `quit` (an Event) ends run() like stop() does."""

    def __init__(self, run_dir: Path | str, subscriber: ev.Subscriber | None = None, interval: float = POLL_S,
                 quit: threading.Event | None = None, by: str = "") -> None:
        self.store = RunStore(Path(run_dir))
        self.subscriber = subscriber
        self.interval = interval
        self.quit = quit or threading.Event()
        self.by = by or f"awm-tui watch, pid {os.getpid()}"
        self.session: tuple[int, int] | None = None  # (owner pid, lock file's mtime) of the owner being followed
        self.since = 0.0  # when that owner took the lock (time.time())
        spec = self.store.recorded_spec()
        self.name = str(spec.get("name") or self.store.dir.name)
        self.model = str((spec.get("llm") or {}).get("model") or "")
        self.max_workflows = int((spec.get("induction") or {}).get("max_workflows") or 50)
        self.journal = Tail(self.store.journal)
        self.discarded = Tail(self.store.discarded_path)
        self.experiences: list[Experience] = []
        self.done: set[str] = set()
        self.tally = Tally()
        self.memory = WorkflowMemory(self.max_workflows, None)
        self.memory_sig: tuple | None = None
        self.rounds_seen = 0
        self.failures_seen = 0
        self.checkpoint: dict = {}
        self.checkpoint_sig: tuple | None | str = "unread"
        self.config_sig: tuple | None | str = "unread"
        self.ids_changed = False  # the issue list became known (a new run's) since the last RunStarted
        self.checkpoint_mtime = 0.0
        self.instance_ids: list[str] = []
        self.positions: dict[str, int] = {}
        self.logs_sig: tuple | None = None
        self.candidates: dict[str, tuple | None] = {}  # unfinished issues' log files, not (yet) in flight
        self.flights: dict[str, Flight] = {}
        self.last_state = ""
        self.announce = False  # the snapshot saw an owner: the first poll says so (a RunStarted)

    # ------------------------------------------------------------------ what the outside asks
    def stop(self) -> None:
        """Stop following (the run itself is not touched)."""
        self.quit.set()

    def pause(self) -> int:
        """Ask the run's owner to pause after the issues in flight; its pid (a UserError if no process runs it)."""
        return self.store.request_control("pause", self.by)

    def request_stop(self) -> int:
        """Ask the run's owner to stop at the next safe point (the issues in flight are redone on resume)."""
        return self.store.request_control("stop", self.by)

    def owner(self) -> int | None:
        return self.session[0] if self.session is not None else None

    # ------------------------------------------------------------------ reading
    def snapshot(self) -> RunView:
        """The run as it is now (for RunModel.from_view); the follower goes on from here."""
        self._read_journal()
        self._read_discarded()
        self._read_memory(emit=False)
        self._read_checkpoint()
        if not self.instance_ids:
            self._read_config_ids()
        self.ids_changed = False
        self.session = self._session()
        if self.session is not None:
            self.since, self.announce = self.session[1] / 1e9, True
        owned = self.session is not None
        status = "running" if owned else str(self.store.state())
        self.last_state = status
        return RunView(run_dir=self.store.dir, name=self.name, model=self.model,
                       spec_path=self.store.spec_path() or "", status=status,
                       message="" if owned else str(self.checkpoint.get("message") or ""),
                       instance_ids=list(self.instance_ids), experiences=list(self.experiences), memory=self.memory,
                       stats=self.stats())

    def run(self) -> None:
        """Poll until stop() (or `quit`)."""
        while not self.quit.is_set():
            try:
                self.poll()
            except (UserError, OSError):
                pass  # a file damaged, or the folder unreadable, meanwhile: looked at again at the next poll
            self.quit.wait(self.interval)

    def poll(self) -> list[ev.Event]:
        """One look at the folder: the events for what changed (also sent to the subscriber), in the engine's order."""
        events: list[ev.Event] = []
        session = self._session()
        if self.announce:  # the owner the snapshot saw: the run screen is told it runs (its issues come next)
            self.announce = False
            if self.session is not None:
                events.append(self._started())
        if session != self.session:
            if self.session is not None:  # the owner is gone (or replaced): what it left, then how it ended
                events += self._changes(final=True)
                events.append(self._finished())
            self.session = session
            if session is not None:
                self.since = session[1] / 1e9
                self.logs_sig = None  # list the logs again: the new owner may redo an interrupted issue
                # the journal is not read here: what it gained since the last look comes after the RunStarted, as
                # IssueFinished events (_changes), or the run screen would never list those issues
                self._read_checkpoint()
                if not self.instance_ids:
                    self._read_config_ids()
                self.last_state = "running"
                events.append(self._started())
        events += self._changes(final=False)
        for event in events:
            if self.subscriber is not None:
                self.subscriber(event)
        return events

    def _changes(self, final: bool) -> list[ev.Event]:
        events: list[ev.Event] = []
        self._read_checkpoint()
        if not self.instance_ids:
            self._read_config_ids()
        if self.ids_changed and self.session is not None and not final:  # the queue's rows, now known
            events.append(self._started())
        self._read_discarded()
        if self.session is not None and not final:
            events += self._scan_logs()
        for flight in list(self.flights.values()):
            events += self._read_log(flight, final=False)
        new = self._read_journal()
        for experience in new:
            landed = self.flights.pop(experience.instance_id, None)
            if landed is not None:
                events += self._read_log(landed, final=True)
            self.candidates.pop(experience.instance_id, None)
            events.append(ev.IssueFinished(
                instance_id=experience.instance_id, index=self.positions.get(experience.instance_id, 0),
                total=self.total, status=experience.status, reason=experience.reason, cost=experience.cost,
                steps=experience.steps, duration_s=experience.duration_s, stats=self.stats(),
                timings=dict(experience.timings), experience=experience))
        events += self._read_memory()
        if final:
            for flight in self.flights.values():
                events += self._read_log(flight, final=True)
            self.flights.clear()
        return events

    def _session(self) -> tuple[int, int] | None:
        """The owner now: its pid and its lock file's mtime (a resume by the same pid is a new session), or None."""
        pid = self.store.owner()
        if pid is None:
            return None
        lock = signature(self.store.lock_path)
        return pid, lock[2] if lock else 0

    def _started(self) -> ev.RunStarted:
        self.ids_changed = False
        return ev.RunStarted(
            run_id=self.store.run_id, run_dir=str(self.store.dir), name=self.name, model=self.model,
            instance_ids=tuple(self.instance_ids), finished_ids=tuple(e.instance_id for e in self.experiences),
            resumed=bool(self.experiences), stats=self.stats())

    def _finished(self) -> ev.RunFinished:
        self._read_checkpoint(force=True)
        status = str(self.checkpoint.get("status") or "paused")
        outcome = {"running": str(RunState.INTERRUPTED)}.get(status, status)
        message = str(self.checkpoint.get("message") or "")
        if status == "running":
            message = "the process that ran it ended without recording a stop (killed); resumable"
        self.last_state = outcome
        return ev.RunFinished(outcome=outcome, message=message, stats=self.stats(), run_dir=str(self.store.dir))

    @property
    def total(self) -> int:
        return len(self.instance_ids) or len(self.done)

    def stats(self) -> Stats:
        elapsed = float(self.checkpoint.get("elapsed_s") or 0.0) if isinstance(self.checkpoint, dict) else 0.0
        if self.session is not None and self.checkpoint_mtime:
            elapsed += max(0.0, time.time() - max(self.checkpoint_mtime, self.since))
        usage = self.memory.induction_usage()
        usage["merge_failures"] = sum(len(r.get("merge_errors", ())) for r in self.memory.rounds)
        faults = (self.checkpoint.get("stats") or {}) if isinstance(self.checkpoint, dict) else {}
        for name in ("judge_failures", "embedding_failures"):
            try:
                usage[name] = int(faults.get(name) or 0)
            except (TypeError, ValueError):
                usage[name] = 0
        return self.tally.stats(self.total, len(self.memory.workflows), self.memory.round, elapsed, usage)

    def _read_journal(self) -> list[Experience]:
        lines, again = self.journal.lines()
        reported = self.done if again else set()  # a rewritten journal's issues already reported are not again
        if again:  # rewritten (issues forgotten, a torn line cut): counted again from the start, reported once
            self.experiences, self.done, old = [], set(), self.tally.discarded
            self.tally = Tally()
            self.tally.discarded = old
        new = []
        for line in lines:
            try:
                experience = Experience.from_dict(json.loads(line))
            except (ValueError, TypeError, KeyError, AttributeError):
                continue  # a damaged line: the run's own checks say so on resume
            if experience.instance_id in self.done:
                continue
            self.done.add(experience.instance_id)
            self.experiences.append(experience)
            self.tally.add(experience)
            if experience.instance_id not in reported:
                new.append(experience)
        if new and not self.positions:
            self._positions([e.instance_id for e in self.experiences])
        return new

    def _read_discarded(self) -> None:
        lines, _ = self.discarded.lines()
        for line in lines:
            try:
                record = json.loads(line)
                self.tally.discard(float(record.get("cost", 0.0)), int(record.get("prompt_tokens", 0)),
                                   int(record.get("completion_tokens", 0)))
            except (ValueError, TypeError, AttributeError):
                continue

    def _read_memory(self, emit: bool = True) -> list[ev.Event]:
        sig = signature(self.store.memory_path)
        if sig == self.memory_sig:
            return []
        self.memory_sig = sig
        if sig is None:
            return []
        try:
            memory = WorkflowMemory.load(self.max_workflows, self.store.memory_path)
        except UserError:
            self.memory_sig = None  # read again next time (a damaged file: the owner's checks say so)
            return []
        memory.path = None  # a follower never writes
        self.memory = memory
        events: list[ev.Event] = []
        if len(memory.rounds) < self.rounds_seen:
            self.rounds_seen = 0
        if len(memory.failed_rounds) < self.failures_seen:
            self.failures_seen = 0
        if emit:
            ids = tuple(w.id for w in memory.workflows)
            for entry in memory.rounds[self.rounds_seen:]:
                induced = [memory.version(i, entry["round"]) for i in entry.get("induced", [])]
                events.append(ev.InductionFinished(
                    round=entry["round"], new_workflows=tuple(w for w in induced if w is not None),
                    workflow_ids=tuple(key.rsplit("@", 1)[0] for key in entry.get("active", [])) or ids,
                    kind=str(entry.get("kind") or "workflow")))
            for entry in memory.failed_rounds[self.failures_seen:]:
                events.append(ev.InductionFinished(
                    round=int(entry.get("round", 0)), new_workflows=(), workflow_ids=ids,
                    error=str(entry.get("reason") or "the round failed"), reply_path=str(entry.get("reply_path") or ""),
                    kind=str(entry.get("kind") or "workflow")))
        self.rounds_seen, self.failures_seen = len(memory.rounds), len(memory.failed_rounds)
        return events

    def _read_checkpoint(self, force: bool = False) -> None:
        path = self.store.checkpoint_path
        sig = signature(path)
        if sig == self.checkpoint_sig and not force:
            return
        self.checkpoint_sig = sig
        self.checkpoint = self.store.checkpoint()
        self.checkpoint_mtime = sig[2] / 1e9 if sig else 0.0
        self._take_ids(self.checkpoint.get("instance_ids"))

    def _read_config_ids(self) -> None:
        """A new run's issue list before its first checkpoint.json: config.json's provenance (written once the
        issues are loaded)."""
        sig = signature(self.store.config_path)
        if sig == self.config_sig:
            return
        self.config_sig = sig
        provenance = self.store.config().get("provenance")
        if isinstance(provenance, dict):
            self._take_ids((provenance.get("dataset") or {}).get("instance_ids"))

    def _take_ids(self, ids) -> None:
        if isinstance(ids, list) and ids and ids != self.instance_ids and all(isinstance(i, str) for i in ids):
            self.instance_ids = list(ids)
            self._positions(self.instance_ids)
            self.ids_changed = True

    def _positions(self, ids: list[str]) -> None:
        self.positions = {iid: n for n, iid in enumerate(ids, 1)}

    # ------------------------------------------------------------------ the issues in flight
    def _scan_logs(self) -> list[ev.Event]:
        sig = signature(self.store.logs)
        if sig != self.logs_sig:
            self.logs_sig = sig
            try:
                names = [entry.name for entry in os.scandir(self.store.logs)]
            except OSError:
                names = []
            for name in names:
                match = LOG_NAME.match(name)
                if match and match[1] not in self.done and match[1] not in self.flights:
                    self.candidates.setdefault(match[1], None)
        events: list[ev.Event] = []
        for iid in list(self.candidates):
            if iid in self.done:
                self.candidates.pop(iid)
                continue
            log_sig = signature(self.store.log_path(iid))
            if log_sig is None:
                self.candidates.pop(iid)
                continue
            if log_sig[2] / 1e9 < self.since - 1.0:
                continue  # an earlier session's attempt, not (yet) redone
            self.candidates.pop(iid)
            start = max(0, log_sig[1] - REPLAY_BYTES)
            flight = Flight(iid, Tail(self.store.log_path(iid)))
            flight.tail.offset = start
            flight.tail.inode = log_sig[0]  # a longer log: its first line read is cut, and skipped (no entry)
            self.flights[iid] = flight
            events.append(ev.IssueStarted(iid, self.positions.get(iid, 0), self.total, (), self.memory.round))
        return events

    def _read_log(self, flight: Flight, final: bool) -> list[ev.Event]:
        lines, again = flight.tail.lines()
        events: list[ev.Event] = []
        if again:
            flight.entry = None
            events.append(ev.AgentEvent(flight.instance_id, "system", "", "the issue's log started again"))
        for raw in lines:
            line = flight.decoder.decode(raw + b"\n")[:-1]
            match = ENTRY.match(line)
            if match:
                events += self._entry(flight)
                flight.entry = (match[2].lower(), match[3].strip(), [])
            elif line.startswith(TRAILERS):
                events += self._entry(flight)
            elif flight.entry is not None:
                flight.entry[2].append(line)
        # an entry is written whole (`[time] KIND tool`, its text, a blank line): one that ends so is complete
        if flight.entry is not None and (final or (flight.entry[2] and flight.entry[2][-1] == "")):
            events += self._entry(flight)
        return events

    def _entry(self, flight: Flight) -> list[ev.Event]:
        if flight.entry is None:
            return []
        kind, tool, body = flight.entry
        flight.entry = None
        kind = kind if kind in ("action", "observation", "message", "error", "system") else "system"
        return [ev.AgentEvent(flight.instance_id, kind, tool, "\n".join(body).strip("\n"))]


def most_recent_running(root: Path | None = None) -> Path | None:
    """The folder of the most recently updated run that a live process runs now, or None."""
    from awm.run.store import list_runs

    for summary in list_runs(root):
        if RunStore(summary.run_dir).owner() is not None:
            return summary.run_dir
    return None
