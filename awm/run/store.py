"""A run's folder: the journal of finished issues (the source of truth), the workflow memory, and the files
derived from them. Every file is replaced whole or appended line by line, so a kill at any moment leaves the
last finished issue and everything before it intact. Every file a resumed run reads back is validated first
(RunStore.verify): damage is repaired from the journal with a line on the run's start, or refused with the fix.

    config.json         the spec without secrets, its fingerprint, and its provenance (awm.run.provenance)
    experiences.jsonl   one line per finished issue, appended and fsynced: the commit point
    discarded.jsonl     one line per attempt not kept (interrupted by a stop, forgotten after a streak): its spend
    memory.json         workflow memory, every round kept
    buffer.json         the successful experiences induction learns from
    checkpoint.json     progress summary (what the run picker reads), with the design's statistics' names
    predictions.jsonl   SWE-bench predictions (instance_id, model_name_or_path, model_patch)
    result.json         experiences, workflows, statistics; the design's names beside them (design_statistics)
    induction/          each round's prompt and raw reply
    logs/               instance_<id>.log (readable) and instance_<id>.trajectory.json (every event)
    eval/<id>/          patch.diff, test_output.txt, report.json
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from awm import atomic, runfiles
from awm.errors import UserError
from awm.paths import runs_root
from awm.records import Experience
from awm.run.stats import Stats
from awm.spec import RunSpec

FORMAT = 1


class RunState(StrEnum):
    """A run's state as checkpoint.json records it."""

    NEW = "new"  # made, no checkpoint yet
    RUNNING = "running"  # an engine holds the run's lock (or held it when it was killed: see RunStore.state)
    PAUSED = "paused"  # stopped at a safe point; resumable
    COMPLETED = "completed"  # every issue finished
    ABORTED = "aborted"  # stopped by a streak of same-cause errors; resumable once the cause is fixed
    CRASHED = "crashed"  # the engine stopped on an unexpected error; resumable
    INTERRUPTED = "interrupted"  # recorded as running, but no engine holds it: killed; resumable


@dataclass
class RunSummary:
    """What the run picker shows without opening anything heavy."""

    run_dir: Path
    name: str
    spec_path: str
    model: str
    total: int
    processed: int
    passed: int
    success_rate: float
    workflows: int
    status: str
    updated_at: str

    @property
    def finished(self) -> bool:
        return self.status == "completed"


class RunStore:
    def __init__(self, run_dir: Path):
        self.dir = run_dir
        self.logs = run_dir / runfiles.LOGS
        self.eval = run_dir / runfiles.EVAL
        self.induction = run_dir / runfiles.INDUCTION
        self.journal = run_dir / runfiles.JOURNAL
        self.config_path = run_dir / runfiles.CONFIG
        self.checkpoint_path = run_dir / runfiles.CHECKPOINT
        self.memory_path = run_dir / runfiles.MEMORY
        self.ops_path = run_dir / runfiles.MEMORY_OPS
        self.buffer_path = run_dir / runfiles.BUFFER
        self.failures_path = run_dir / runfiles.FAILURES
        self.discarded_path = run_dir / runfiles.DISCARDED
        self.predictions_path = run_dir / runfiles.PREDICTIONS
        self.result_path = run_dir / runfiles.RESULT
        self.control_path = run_dir / runfiles.CONTROL
        self.lock_path = run_dir / runfiles.LOCK
        self.scripted_requests_path = run_dir / runfiles.SCRIPTED_REQUESTS

    @property
    def run_id(self) -> str:
        return self.dir.name

    @classmethod
    def create(cls, spec: RunSpec, output_dir: str | None = None) -> RunStore:
        if chosen := output_dir or spec.output_dir:
            run_dir = Path(chosen).expanduser().resolve()
            if _exists(run_dir / runfiles.CONFIG, "--output-dir" if output_dir else None):
                raise UserError(
                    f"{run_dir} already holds a run. Resume it with `awm-tui --no-ui --resume {run_dir}`, or "
                    "choose another `output_dir` (or --output-dir)."
                )
        else:
            run_dir = runs_root() / f"{spec.name}-{time.strftime('%Y%m%d-%H%M%S')}"
        # --output-dir is no spec field: its messages name the flag, not the spec file
        field = None if output_dir else "output_dir" if spec.output_dir else "name"
        flag = " (--output-dir)" if output_dir else ""
        change = "--output-dir" if output_dir else "`output_dir`"
        blocker = next((p for p in [run_dir, *run_dir.parents] if p.exists() and not p.is_dir()), None)
        if blocker is not None:
            where_ = "is" if blocker == run_dir else f"is under {blocker}, which is"
            raise UserError(f"the run folder {run_dir}{flag} {where_} a file, not a folder. Choose another "
                            f"{change} (a folder that does not exist yet, or an empty one).", field=field)
        try:
            if output_dir or spec.output_dir:
                run_dir.mkdir(parents=True, exist_ok=True)
            else:
                run_dir = _claim(run_dir)
            store = cls(run_dir)
            atomic.write_json(store.config_path, {
                "format": FORMAT,
                "run_id": store.run_id,
                "created_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
                "spec_path": str(Path(spec.path).resolve()) if spec.path else None,
                "fingerprint": spec.fingerprint(),
                "spec": spec.public(),
                "flags": spec.flags,  # a resume runs with them again (launch_spec)
                **({"replay_of": spec.replay_of} if spec.replay_of else {}),  # a replay: the run it replays
            })
        except OSError as exc:
            import errno

            if exc.errno == errno.ENAMETOOLONG:
                fix = ("Use a shorter `name`." if field == "name" else f"Choose a shorter {change}.")
                problem = "is too long a name for the file system"
            else:
                fix = (f"Choose a folder you can write to ({change}), or fix its permissions."
                       if field != "name" else
                       "Set `output_dir` to a folder you can write to, or fix the permissions of the runs folder.")
                problem = f"cannot be made or written ({exc.strerror})"
            raise UserError(f"the run folder {run_dir}{flag} {problem}. {fix}", field=field) from None
        _remember(run_dir)
        return store

    @classmethod
    def open(cls, run: str) -> RunStore:
        """A run by folder path, or by name under the runs folder."""
        candidates = [Path(run).expanduser(), runs_root() / run]
        path = find_run(run)
        if path is not None:
            store = cls(path.resolve())
            _check_config(store.config_path, run)
            return store
        orphan = next((c for c in candidates if (c / runfiles.JOURNAL).is_file()), None)
        if orphan is not None:
            raise UserError(
                f"--resume {run}: the run folder {orphan} has a journal (experiences.jsonl) but no config.json, so "
                "what the run was started with is not known. Restore config.json from a backup, or start a new run "
                "from the spec."
            )
        raise UserError(
            f"--resume {run}: no run found there (looked for config.json in {candidates[0]} and {candidates[1]}). "
            "Give a run folder, or the name of a run under the runs folder (`awm-tui` lists them)."
        )

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Held while an engine runs this run: a second engine on the same folder is refused. The OS drops the
        lock when the process dies, even by SIGKILL."""
        path = self.lock_path
        with open(path, "a+") as f:
            try:
                _lock_exclusive(f)
            except BlockingIOError:
                f.seek(0)
                holder = f.read().strip() or "another process"
                raise UserError(f"the run {self.dir} is being run right now (by {holder}). Wait for it to finish "
                                "or stop it before resuming.") from None
            f.seek(0)
            f.truncate()
            try:
                os.write(f.fileno(), f"pid {os.getpid()}".encode())  # who holds it, for the message above
            except OSError:
                pass  # a full disk: the lock holds all the same, and the run says the disk is full next
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def config(self) -> dict:
        """config.json: format, run_id, created_at, spec_path, fingerprint, spec (without secrets); {} when it is
        missing or damaged (what readers such as the run picker see; a resume refuses it: verify, open)."""
        return _mapping(self.config_path)

    def update_config(self, **fields) -> None:
        """Add fields to config.json (written whole, atomically): what is known only once the issues are loaded. A
        damaged config.json is refused, never replaced by the new fields alone."""
        _check_config(self.config_path, None)
        atomic.write_json(self.config_path, self.scrub({**self.config(), **fields}))

    def record_provenance(self, record: dict, resumed: bool) -> None:
        """A new run's provenance (awm.run.provenance); a resumed run keeps its own and notes what differs now
        (code, versions, prompts), with the time, under `resumes`."""
        from awm.run.provenance import differences

        config = self.config()
        if not resumed or "provenance" not in config:
            # a run made before provenance was kept gets today's, marked as recorded late
            self.update_config(provenance=record if not resumed else {**record, "recorded_on_resume": True})
            return
        changes = differences(config["provenance"], record)
        if changes:
            resumes = list(config.get("resumes") or [])
            resumes.append({"at": record.get("recorded_at"), "changes": changes, "provenance": {
                k: v for k, v in record.items() if k != "dataset"}})
            self.update_config(resumes=resumes)

    def checkpoint(self) -> dict:
        """checkpoint.json: status, message, instance_ids, finished_ids, next, stats, elapsed_s, updated_at; {} when
        it is missing or damaged (it is a view of the journal: a resumed run rebuilds it, and says so: verify)."""
        return _mapping(self.checkpoint_path)

    def recorded_spec(self) -> dict:
        return self.config().get("spec", {}) or {}

    def spec_path(self) -> str | None:
        return self.config().get("spec_path") or None

    def recorded_flags(self) -> dict:
        """The command-line flags (as spec fields) the run was started with (none for runs made before they were
        recorded)."""
        flags = self.config().get("flags")
        return dict(flags) if isinstance(flags, dict) else {}

    def recorded_limit(self) -> int | None:
        """The run's issue limit as started (`dataset.limit`, --limit): part of what the run is."""
        return (self.recorded_spec().get("dataset") or {}).get("limit")

    def held(self) -> bool:
        """Whether an engine (in any process) holds this run's lock now."""
        return atomic.held(self.lock_path)

    # ownership: who runs this run now, and what a watcher (`awm-tui watch`) may ask of it
    def owner(self) -> int | None:
        """The pid of the live process whose engine holds this run's lock now (0: held, by a pid not recorded), or
        None when no engine holds it. The pid recorded in .lock is checked first: a process that is gone holds
        nothing, so no lock is probed then (a probe takes a shared lock for an instant: see _lock_exclusive)."""
        try:
            text = self.lock_path.read_text(encoding="utf-8", errors="replace").strip()
        except OSError:
            return None
        pid = _recorded_pid(text)
        if pid and not _alive(pid):
            return None
        return (pid or 0) if self.held() else None

    def request_control(self, request: str, by: str = "") -> int:
        """Ask the engine that runs this run now to pause (after the issues in flight) or stop (at the next safe
        point): control.json, written atomically, naming the owner's pid and the time; the owner's engine polls it
        (awm.run.loop.RequestPoller), honours it and removes it. A request for an earlier owner (another pid, or an
        earlier time than the owner's start) is removed unheeded, so a stale file never stops a resumed run. The
        owner's pid; a UserError when no live process runs the run."""
        if request not in ("pause", "stop"):
            raise ValueError(f"unknown request {request!r}")
        pid = self.owner()
        if pid is None:
            state = self.state()
            raise UserError(f"the run {self.dir} is not being run by any process now ({state}), so there is "
                            f"nothing to {request}. Resume it with `awm-tui --no-ui --resume {self.dir}`.")
        atomic.write_json(self.control_path, {"request": request, "pid": pid, "at": time.time(), "by": by})
        return pid

    def take_request(self, pid: int, since: float) -> dict | None:
        """The request control.json holds for the engine of process `pid` that took the lock at `since` (time.time()),
        removed once read; None when there is none. A file for another owner (another pid, or written before
        `since`) or unreadable is removed and ignored."""
        path = self.control_path
        try:
            record = atomic.load_json(path)
        except FileNotFoundError:
            return None
        except atomic.Unreadable:
            record = None
        with contextlib.suppress(OSError):
            path.unlink()
        if not isinstance(record, dict) or record.get("request") not in ("pause", "stop"):
            return None
        try:
            mine = int(record.get("pid") or 0) == pid and float(record.get("at") or 0) >= since
        except (TypeError, ValueError):
            return None
        return record if mine else None

    def state(self) -> RunState:
        """The recorded state, with a run recorded as running that no engine holds shown as interrupted."""
        try:
            state = RunState(self.checkpoint().get("status", RunState.NEW))
        except ValueError:
            state = RunState.NEW
        if state == RunState.RUNNING and not self.held():
            return RunState.INTERRUPTED
        if state != RunState.RUNNING and self.owner() is not None:
            return RunState.RUNNING  # resumed: checkpoint.json says "running" once its first issue has finished
        return state

    def clear_debris(self) -> list[Path]:
        """Half-written files a kill left behind (atomic writes' temporaries): removed before a resume."""
        removed = []
        for path in self.dir.rglob(".*.tmp"):
            path.unlink(missing_ok=True)
            removed.append(path)
        return removed

    def check_resumable(self, spec: RunSpec) -> None:
        stored = self.config().get("fingerprint", {})
        now = spec.fingerprint()
        # a field the stored fingerprint lacks came after the run was made: it ran with that field's default
        changed = [k for k in sorted(set(stored) | set(now)) if k in stored and stored.get(k) != now.get(k)]
        if changed:
            detail = "; ".join(f"{k}: {stored.get(k)!r} then, {now.get(k)!r} now" for k in changed)
            raise UserError(
                f"cannot resume run {self.dir} with this spec, because it changes what the run means ({detail}). "
                "Resume with the spec the run was started with, or start a new run.", path=spec.path
            )

    def verify(self, seeded: bool = False) -> list[str]:
        """Every file a resumed run reads back, checked before the engine writes anything; reads only. Damage the
        journal (the source of truth) can repair is a line for the run's start, returned (the engine repairs it as
        it restores); damage it cannot repair is a UserError: one paragraph naming the file, what is wrong and the
        fix. Per file:

        config.json        damaged or missing: refused (what the run was started with; nothing else records it)
        experiences.jsonl  a damaged line before the last, or a last line that is JSON but no finished issue:
                           refused (finished); a torn last line (cut short, not JSON): dropped, with a line; fewer
                           finished issues than checkpoint.json lists (emptied, deleted, cut short): refused, naming
                           both files and the lost issues, never redone silently
        checkpoint.json    damaged or missing: rebuilt from the journal, with a line (the recorded elapsed time is
                           lost with a damaged one)
        memory.json        damaged: refused (the induced workflows: the journal cannot rebuild them); missing
                           when the run had memory (issues given workflows of a round, rounds counted in
                           checkpoint.json, induction/ prompts): refused; missing with nothing to lose: made again
                           (and seeded again from `memory.from`: `seeded`), with a line
        buffer.json,       damaged or missing: rebuilt from the journal (they list its experiences), with a line
        failures.json
        memory_ops.jsonl   a damaged line before the last: refused (the user's edits); a torn last line: ignored,
                           with a line (that edit is not in effect)"""
        from awm.memory import ops
        from awm.memory.buffer import ExperienceBuffer
        from awm.memory.store import damaged_message, read_memory

        if self.held():
            return []  # an engine is running it: the lock refuses this one (RunStore.lock), with that message
        notices: list[str] = []
        _check_config(self.config_path, None)
        # checkpoint.json before the journal: what it lists was in the journal before it was written
        path = self.checkpoint_path
        checkpoint: dict | None = None
        try:
            data = atomic.load_json(path)
            problem = _checkpoint_problem(data)
            checkpoint = None if problem else data
            missing = False
        except FileNotFoundError:
            problem, missing = None, True
        except atomic.Unreadable as exc:
            problem, missing = str(exc), False
        experiences = self.finished(repair=False)  # a damaged line: refused
        ids = {e.instance_id for e in experiences}
        torn = atomic.torn_line(self.journal)
        count = f"{len(experiences)} finished issue{'s' if len(experiences) != 1 else ''}"
        if missing and experiences:
            notices.append(f"{path} was missing; it is a summary of the journal, rebuilt from it ({count}).")
        if problem:
            notices.append(f"{path} was damaged ({problem}); it is a summary of the journal, rebuilt from it "
                           f"({count}); the run's recorded elapsed time is lost.")
        if checkpoint is not None:
            forgotten = {str(r.get("instance_id")) for r in self.discarded() if r.get("why") == "forgotten"}
            lost = [i for i in dict.fromkeys(checkpoint.get("finished_ids") or [])
                    if i not in ids and i not in forgotten]
            if lost:
                names = ", ".join(lost[:3]) + (f" and {len(lost) - 3} more" if len(lost) > 3 else "")
                cut = (f" (its last line, line {torn.line}, is cut short)" if torn is not None else
                       " (it is missing)" if not self.journal.exists() else
                       " (it is empty)" if not self.journal.stat().st_size else "")
                raise UserError(
                    f"the run's journal {self.journal} holds {count}{cut}, but {path} lists "
                    f"{len(checkpoint.get('finished_ids') or [])} as finished: the journal lost the records of "
                    f"{names}. The journal is the run's record of its finished issues, so the run is not resumed "
                    "rather than redo them silently; nothing was changed. Restore experiences.jsonl from a backup and "
                    f"resume; or, to redo the {len(lost)} lost issue{'s' if len(lost) != 1 else ''}, delete {path} "
                    "(a summary, rebuilt from the journal) and resume; or start a new run."
                )
        if torn is not None:
            iid = torn.instance_id()
            said = ("checkpoint.json does not list it as finished" if checkpoint is not None else
                    "no whole checkpoint.json tells whether it had finished")
            notices.append(f"{self.journal}: its last line (line {torn.line}) is {_torn_words(torn.problem)}, as a "
                           f"kill while an issue was being recorded leaves it; it is dropped and "
                           f"{f'its issue, {iid},' if iid else 'its issue'} is redone ({said}).")

        try:
            memory = read_memory(self.memory_path)
        except atomic.Unreadable as exc:
            raise UserError(damaged_message(self.memory_path, str(exc))) from None
        if memory is None and (experiences or checkpoint):
            evidence = _memory_evidence(experiences, checkpoint, self.induction, seeded)
            if evidence:
                raise UserError(
                    f"the run's memory {self.memory_path} is missing, but the run had memory: {evidence}. The "
                    "workflows it induced cannot be rebuilt from the journal, so the run is not resumed with an "
                    "empty memory; nothing was changed. Restore memory.json from a backup; or, to start the memory "
                    "over (the resumed run induces its rounds again from the journal's successes), create an empty "
                    f"one: `echo '{{}}' > {self.memory_path}`, and resume."
                )
            if experiences:
                notices.append(f"{self.memory_path} was missing; the run had induced nothing yet, so it is made "
                               f"again{' from `memory.from`' if seeded else ' (empty)'}.")

        for path in (self.buffer_path, self.failures_path):
            problem = ExperienceBuffer.problem(path)
            if problem or (experiences and not path.exists()):
                notices.append(f"{path} was {f'damaged ({problem})' if problem else 'missing'}; it lists experiences "
                               f"of the journal, and is rebuilt from it ({count}).")

        ops.read(self.dir)  # a damaged line: refused
        if ops.torn(self.dir):
            notices.append(ops.torn(self.dir))
        return notices

    # the journal
    def finished(self, repair: bool = True) -> list[Experience]:
        """The finished issues; `repair` cuts a torn last line off the file (only the run's writer should)."""
        by_id: dict[str, Experience] = {}
        try:
            records = list(atomic.read_numbered(self.journal))
            for line, record in records:
                try:
                    by_id[record["instance_id"]] = Experience.from_dict(record)
                except (KeyError, TypeError, ValueError, AttributeError) as exc:
                    detail = f"no {exc}" if isinstance(exc, KeyError) else str(exc).splitlines()[0]
                    last = line == records[-1][0] and atomic.torn_line(self.journal) is None
                    raise atomic.DamagedLine(self.journal, line, f"not a finished issue ({detail})", last) from None
            if repair:
                atomic.cut_torn(self.journal)  # only once every record is known good: a refusal changes nothing
        except atomic.DamagedLine as bad:
            why = ("It is the journal's last line, a whole JSON record but not one the engine writes (not a line cut "
                   "short by a kill), so the run is not resumed rather than guess what it was" if bad.last else
                   "The lines after it are finished issues too, so the run is not resumed rather than lose them")
            raise UserError(
                f"the run's journal {bad.path} is damaged at line {bad.line}: {bad.problem}. {why}; nothing was "
                f"changed. Repair line {bad.line} or delete it (its issue is then redone), e.g. `sed -i "
                f"'{bad.line}d' {bad.path}`, and resume again."
            ) from None
        return list(by_id.values())

    def commit(self, experience: Experience) -> None:
        atomic.append_line(self.journal, self.scrub(experience.to_dict()))

    def record_discarded(self, instance_id: str, why: str, cost: float, prompt_tokens: int,
                         completion_tokens: int) -> None:
        """An attempt whose record is not kept (it is redone): what it spent, so the run's totals never drop it."""
        atomic.append_line(self.discarded_path, {
            "instance_id": instance_id, "why": why, "cost": round(float(cost or 0.0), 6),
            "prompt_tokens": int(prompt_tokens or 0), "completion_tokens": int(completion_tokens or 0),
            "at": time.strftime("%Y-%m-%dT%H:%M:%S")})

    def discarded(self) -> list[dict]:
        """The attempts recorded by record_discarded. A torn last line (a kill mid-append) is dropped; a damaged
        line elsewhere is skipped: these records only add to the totals."""
        try:
            lines = self.discarded_path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        records = []
        for line in lines:
            try:
                record = json.loads(line)
                records.append({**record, "cost": float(record.get("cost", 0.0)),
                                "prompt_tokens": int(record.get("prompt_tokens", 0)),
                                "completion_tokens": int(record.get("completion_tokens", 0))})
            except (ValueError, TypeError, AttributeError):
                continue  # a torn or damaged line: skipped
        return records

    def rewrite_journal(self, experiences: list[Experience]) -> None:
        atomic.write_text(self.journal, "".join(json.dumps(e.to_dict(), ensure_ascii=False) + "\n"
                                                for e in experiences))

    def elapsed(self) -> float:
        try:
            return float(self.checkpoint().get("elapsed_s", 0.0) or 0.0)
        except (TypeError, ValueError):
            return 0.0

    # secrets: known values (the model's key) never reach a file the run writes
    secrets: tuple[str, ...] = ()

    def scrub(self, value):
        """`value` (a str, or a dict/list of them, as JSON data) with every known secret replaced by <redacted>."""
        if not self.secrets:
            return value
        if isinstance(value, str):
            for secret in self.secrets:
                if secret in value:
                    value = value.replace(secret, "<redacted>")
            return value
        if isinstance(value, dict):
            return {k: self.scrub(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.scrub(v) for v in value]
        return value

    def scrub_files(self, paths) -> list[Path]:
        """Rewrite (atomically) those of `paths` (files, or folders: every file under them) that hold a known
        secret, raw or JSON-escaped; the ones rewritten. For the files other parts wrote (an issue's log,
        trajectory and evaluation outputs)."""
        if not self.secrets:
            return []
        forms = {(s.encode(), b"<redacted>") for s in self.secrets}
        forms |= {(json.dumps(s)[1:-1].encode(), b"<redacted>") for s in self.secrets}
        forms |= {(json.dumps(s, ensure_ascii=False)[1:-1].encode("utf-8"), b"<redacted>") for s in self.secrets}
        files = []
        for path in map(Path, paths):
            if path.is_dir():
                files += sorted(p for p in path.rglob("*") if p.is_file())
            elif path.is_file():
                files.append(path)
        changed = []
        for path in files:
            data = path.read_bytes()
            new = data
            for raw, mark in forms:
                new = new.replace(raw, mark)
            if new != data:
                tmp = path.with_name(f".{path.name}.scrub.tmp")
                tmp.write_bytes(new)
                os.replace(tmp, path)
                changed.append(path)
        return changed

    # derived views
    def write_predictions(self, experiences: list[Experience], model: str, append: bool = False) -> None:
        """The predictions of `experiences`: the whole file, or (`append`) added at its end (one issue's, in the
        loop: per-issue work stays proportional to the issue). A torn or missing line is healed by the next whole
        rewrite (at every start of the engine and at its end)."""
        lines = [json.dumps(self.scrub({"instance_id": e.instance_id, "model_name_or_path": model,
                                        "model_patch": e.diff_patch}), ensure_ascii=False) for e in experiences]
        if append:
            with open(self.predictions_path, "a", encoding="utf-8") as f:
                f.write("".join(line + "\n" for line in lines))
            return
        atomic.write_text(self.predictions_path, "".join(line + "\n" for line in lines))

    def write_checkpoint(self, stats: Stats, instance_ids: list[str], finished: list[str], status: str,
                         name: str, model: str, message: str = "", design: dict | None = None) -> Path:
        """`design`: the design's statistics (design_statistics), written beside ours."""
        path = self.checkpoint_path
        done = set(finished)
        atomic.write_text(path, json.dumps(self.scrub({
            **(design or {}),
            "last_checkpoint": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "run_id": self.run_id,
            "name": name,
            "model": model,
            "status": status,
            "message": message,
            "instance_ids": instance_ids,
            "finished_ids": finished,
            "next": next((i for i in instance_ids if i not in done), None),
            "stats": stats.to_dict(),
            "elapsed_s": stats.elapsed_s,
            "updated_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "pid": os.getpid(),
        }), ensure_ascii=False) + "\n")  # compact: rewritten after every issue
        return path

    def write_result(self, experiences: list[Experience], workflows: list, stats: Stats,
                     design: dict | None = None) -> None:
        """Written at the end of a run, and when it pauses, stops or aborts: not after every issue (its size grows
        with the run). `design`: the design's statistics (design_statistics), written beside ours."""
        atomic.write_json(self.result_path, self.scrub({
            **(design or {}),
            "experiences": [e.to_dict() for e in experiences],
            "workflows": [w.to_dict() for w in workflows],
            "statistics": stats.to_dict(),
        }))

    def log_path(self, instance_id: str) -> Path:
        return self.logs / f"instance_{instance_id}.log"

    def trajectory_path(self, instance_id: str) -> Path:
        return self.logs / f"instance_{instance_id}.trajectory.json"

    def eval_dir(self, instance_id: str) -> Path:
        """The grader's files for the issue: patch.diff, test_output.txt, report.json."""
        return self.eval / instance_id


def design_statistics(stats: Stats, buffer_size: int, config: dict, start_time: str | None) -> dict:
    """The statistics under the design's names (its get_statistics and checkpoint), beside ours. Its success_rate is
    over the issues processed (skipped ones included), where `statistics.success_rate` is over those graded."""
    return {
        "total_processed": stats.processed,
        "total_success": stats.passed,
        "success_rate": round(stats.passed / max(1, stats.processed), 4),
        "workflows_learned": stats.workflows,
        "buffer_size": buffer_size,
        "elapsed_seconds": stats.elapsed_s,
        "start_time": start_time,
        "config": config,
    }


CONTROL = runfiles.CONTROL  # a watcher's pause or stop request to the run's owner (RunStore.request_control)
LOCK_TRIES = 5  # see _lock_exclusive


def _lock_exclusive(f) -> None:
    """Take the run's lock, or BlockingIOError when an engine holds it. A reader that probes the lock (RunStore.held:
    the picker, a watcher, every half second) holds a shared lock for an instant: a few tries 20 ms apart keep such
    a probe from being taken for an engine."""
    for attempt in range(LOCK_TRIES):
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if attempt == LOCK_TRIES - 1:
                raise
            time.sleep(0.02)


def _recorded_pid(text: str) -> int | None:
    """The pid in a lock file's text (`pid N`, as RunStore.lock writes it), None when there is none."""
    parts = text.split()
    if len(parts) >= 2 and parts[0] == "pid" and parts[1].isdigit():
        return int(parts[1])
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    except OSError:
        return False
    return True


def find_run(run: str) -> Path | None:
    """A run's folder, given the folder or the run's name under the runs folder; None if neither has a config.json."""
    for path in (Path(run).expanduser(), runs_root() / run):
        if (path / runfiles.CONFIG).is_file():
            return path
    return None


def _exists(path: Path, flag: str | None) -> bool:
    """Whether `path` exists; a path the file system cannot hold (a name too long) is the user's to fix."""
    try:
        return path.exists()
    except OSError as exc:
        raise UserError(f"the run folder {path.parent}{f' ({flag})' if flag else ''} is not a path this file "
                        f"system can hold ({exc.strerror}). Choose a shorter {flag or '`output_dir`'}.",
                        field=None if flag else "output_dir") from None


def _checkpoint_problem(data) -> str | None:
    """What makes parsed JSON not a checkpoint.json write_checkpoint wrote (None: it is one)."""
    if not isinstance(data, dict):
        return f"a JSON {type(data).__name__}, not an object"
    ids = data.get("finished_ids")
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        return "no list of `finished_ids`"
    if not isinstance(data.get("stats", {}), dict):
        return "`stats` is not an object"
    return None


def _torn_words(problem: str) -> str:
    return "cut short" if problem == "a line without its end" else problem


def _memory_evidence(experiences: list[Experience], checkpoint: dict | None, induction: Path, seeded: bool) -> str:
    """What shows that a run whose memory.json is missing had memory in it ("" when nothing does)."""
    found = []
    rounds = max((e.memory_round for e in experiences), default=0)
    if rounds:
        found.append(f"its journal's issues were given the memory of induction rounds up to {rounds}")
    given = sum(1 for e in experiences if e.workflow_ids)
    if given and not seeded:
        found.append(f"{given} of its finished issues were given workflows")
    stats = (checkpoint or {}).get("stats") or {}
    counted = {name: stats.get(name) for name in ("induction_rounds", "induction_failures")}
    if any(isinstance(v, int) and v > 0 for v in counted.values()):
        found.append(f"checkpoint.json counts {counted['induction_rounds'] or 0} induction round(s) and "
                     f"{counted['induction_failures'] or 0} failed attempt(s)")
    prompts = sorted(induction.glob("*.prompt.txt")) if induction.is_dir() else []
    if prompts:
        found.append(f"{induction} holds the prompts of {len(prompts)} induction round(s)")
    return "; ".join(found)


def _number(value) -> float:
    """A count from a file a person may have damaged: 0 for anything that is not a number."""
    try:
        return float(value or 0)
    except (TypeError, ValueError):
        return 0.0


def _mapping(path: Path) -> dict:
    """A JSON object file, or {} when it is missing, damaged or not an object: for readers that only show it."""
    try:
        data = atomic.load_json(path)
    except (FileNotFoundError, atomic.Unreadable):
        return {}
    return data if isinstance(data, dict) else {}


def _check_config(path: Path, run: str | None) -> None:
    """A run's config.json must be what RunStore.create wrote: a damaged or missing one is a message (naming `--resume
    run` when given), not a traceback; it is never rebuilt (it records what the run was started with, which nothing
    else does)."""
    try:
        config = atomic.load_json(path)
        problem = None if isinstance(config, dict) and isinstance(config.get("spec", {}), dict) \
            and isinstance(config.get("fingerprint", {}), dict) else "not the mapping awm-tui writes"
        problem = problem and f"damaged ({problem})"
    except FileNotFoundError:
        problem = "missing"
    except atomic.Unreadable as exc:
        problem = f"damaged ({exc})"
    if problem:
        raise UserError(
            f"{f'--resume {run}: ' if run else ''}the run's {path} is {problem}, so what the run was started with is "
            "not known. Restore config.json from a backup, or start a new run from the spec (the finished issues are "
            f"in {path.parent / 'experiences.jsonl'})."
        )


def _claim(run_dir: Path) -> Path:
    """A new folder named `run_dir`, or `run_dir-2`, `-3`, ... if taken: made with exist_ok=False, so two runs of the
    same name started in the same second never share one."""
    n = 1
    while True:
        candidate = run_dir if n == 1 else run_dir.with_name(f"{run_dir.name}-{n}")
        try:
            candidate.mkdir(parents=True)
            return candidate
        except FileExistsError:
            n += 1


def _registry() -> Path:
    """The folder of registered runs: one file per run, so runs registered at once never overwrite each other
    (other_runs.json, the single list earlier versions kept, is still read)."""
    return runs_root().parent / "other_runs"


def _remember(run_dir: Path) -> None:
    """Runs outside the runs folder (--output-dir) are listed in a registry so the run picker finds them."""
    if run_dir.parent == runs_root():
        return
    import hashlib

    name = hashlib.sha1(str(run_dir).encode()).hexdigest()[:16] + ".json"
    atomic.write_json(_registry() / name, {"run_dir": str(run_dir)})


def list_runs(root: Path | None = None) -> list[RunSummary]:
    """Every run in the runs folder, and those registered from elsewhere that still exist; newest first."""
    root = root or runs_root()
    dirs = [p.parent for p in root.glob(f"*/{runfiles.CONFIG}")]
    registered = [Path(p) for p in atomic.read_json(_registry().with_name("other_runs.json"), []) or []]  # legacy
    for entry in sorted(_registry().glob("*.json")):
        try:
            registered.append(Path((atomic.read_json(entry, {}) or {})["run_dir"]))
        except (ValueError, KeyError, TypeError, OSError):
            continue  # unreadable, or removed meanwhile
    dirs += [p for p in registered if (p / runfiles.CONFIG).is_file()]
    runs = []
    for run_dir in dict.fromkeys(dirs):
        store = RunStore(run_dir)
        config, checkpoint = store.config(), store.checkpoint()
        stats, spec = checkpoint.get("stats"), config.get("spec")
        stats = stats if isinstance(stats, dict) else {}
        spec = spec if isinstance(spec, dict) else {}
        runs.append(RunSummary(
            run_dir=run_dir,
            name=spec.get("name", run_dir.name),
            spec_path=config.get("spec_path") or "",
            model=spec.get("llm", {}).get("model", ""),
            total=int(_number(stats.get("total"))),
            processed=int(_number(stats.get("processed"))),
            passed=int(_number(stats.get("passed"))),
            success_rate=_number(stats.get("success_rate")),
            workflows=int(_number(stats.get("workflows"))),
            status=str(store.state()),
            updated_at=str(checkpoint.get("updated_at") or config.get("created_at") or ""),
        ))
    runs.sort(key=lambda r: r.updated_at, reverse=True)
    return runs
