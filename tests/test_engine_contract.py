"""The fake engine the app's tests run on (tests/fake_engine.py) held to the real one (awm.run.loop.Engine): both
play one script (the fake's eight issues, their verdicts, their agent events, two induction rounds; a pause, stops
mid-issue and before the first issue, each with its resume; memory on and off) and must tell their subscribers the
same events, in the same order, with the same fields, nested records (Stats, Experience, Workflow) field by field.

Normalised (`normalised`): only what is measured on each run, which no script can fix: elapsed_s, duration_s,
finished_at and timings (wall-clock figures; the app reads no timings). Nothing else: the fake is given the real
run's folder, so run_dir, run_id and the checkpoint's path compare as they are.

The real engine runs over stub parts (tests/support/stubs.py: its workspace and Run) and three that play the fake's
script: an agent that reports the fake's agent events and result, an evaluator that gives the fake's verdicts, and
a model that induces the fake's workflows. Where the script has to choose, it chooses what the fake models: the
model that induces is free (the fake's rounds cost nothing), a stopped agent reports its progress so far as
prompt tokens, retrieval is `all` and adherence `lexical` (the fake's records are those of these settings).
The surfaces the app calls are compared too. In-process, about a second a case."""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path

import fake_engine as fake
import pytest
from support.stubs import Run, StubWorkspace

from awm.agent.recorder import Progress
from awm.agent.runner import AgentResult, AgentStatus
from awm.grading.base import EvalResult
from awm.model.client import Completion
from awm.records import Issue, Status
from awm.run import events as ev
from awm.run.loop import Controls, Engine
from awm.run.store import RunStore
from awm.spec import InductionSpec, LLMSpec, MemorySpec, RunSpec

IDS = fake.IDS


# ------------------------------------------------------------------ the fake's script, played by real parts
def problem(iid: str) -> str:
    return f"`{fake.module(iid)}.parse` is wrong at the boundary."


class ScriptAgent:
    """The fake's agent: its agent events (with their progress), then its result; a stop asked for before the
    agent finishes (between two events, or after the last) cancels it, with what it spent so far."""

    def warm_up(self) -> None:
        pass

    def run(self, issue, workspace, memory_block, on_event, log_path, trajectory_path, cancel=None):
        iid = issue.instance_id
        spent = Progress()
        for event in fake.agent_events(iid):
            if cancel is not None and cancel.is_set():
                return AgentResult(status=AgentStatus.CANCELLED, cost=spent.cost, prompt_tokens=spent.tokens)
            spent = Progress(event.steps or 0, event.cost or 0.0, event.tokens or 0)
            on_event(event.kind, event.tool, event.text, spent)
        if cancel is not None and cancel.is_set():
            return AgentResult(status=AgentStatus.CANCELLED, cost=spent.cost, prompt_tokens=spent.tokens)
        status, reason = fake.outcome(iid, IDS.index(iid) + 1)
        exp = fake.experience(iid, status, reason, (), 0)
        done = dict(history=exp.history, steps=exp.steps, cost=exp.cost, prompt_tokens=exp.prompt_tokens,
                    completion_tokens=exp.completion_tokens)
        if status == Status.ERROR:
            return AgentResult(status=AgentStatus.ERROR, error=reason.removeprefix("agent: "), **done)
        return AgentResult(patch=exp.diff_patch, status=AgentStatus.FINISHED, **done)


class ScriptEvaluator:
    """The fake's verdicts, reasons and test output."""

    name = "script"

    def warm_up(self) -> None:
        pass

    def evaluate(self, issue, patch, out_dir):
        status, reason = fake.outcome(issue.instance_id, IDS.index(issue.instance_id) + 1)
        output = fake.test_output(issue.instance_id, status) if status in (Status.PASS, Status.FAIL) else ""
        return EvalResult(status, reason=reason, test_output=output)


class ScriptModel:
    """The model induction asks: its Nth reply holds the workflows of the fake's Nth round (`inductions`, the fake's
    option) in the format the inducer reads. A free model (no cost, no tokens), as the fake's rounds cost nothing."""

    def __init__(self, inductions: dict[int, tuple]) -> None:
        self.rounds = sorted(inductions.values())
        self.calls = 0

    def __call__(self, messages):
        _, ids, *_ = self.rounds[self.calls]
        self.calls += 1
        return Completion("\n\n".join(fake.WORKFLOWS[i].render() for i in ids))


def script_run(tmp_path: Path, memory: str = "on", inductions: dict[int, tuple] | None = None) -> Run:
    """The fake's script as a run of the real engine over stub parts: `run.engine(controls)` builds one (the first
    makes the run, the next ones resume it)."""
    spec = RunSpec(llm=LLMSpec(model="scripted/fake"), name="fake-demo",
                   induction=InductionSpec(trigger=2, max_workflows=10),
                   memory=MemorySpec(enabled=memory, retrieval="all"), checkpoint_interval=1)
    store = RunStore.create(spec, str(tmp_path / "fake-run"))
    issues = [Issue(instance_id=iid, repo="tallyho/tallyho", base_commit="abc", problem_statement=problem(iid))
              for iid in IDS]
    return Run(spec, store, StubWorkspace(), ScriptAgent(), ScriptEvaluator(),
               ScriptModel(fake.INDUCTIONS if inductions is None else inductions), issues)


# ------------------------------------------------------------------ one session of each, and what is compared
@dataclasses.dataclass
class Session:
    """What to do during a session: stop before it starts (`stop_first`), pause when `pause_at` starts, stop after
    the `stop_after`th agent event of `stop_at`."""

    stop_first: bool = False
    pause_at: str = ""
    stop_at: str = ""
    stop_after: int = 0


def reacting(controls: Controls, session: Session, events: list):
    """A subscriber recording every event and asking for the session's pause or stop when its moment comes (the
    same moment for both engines: the app's keys land between two events)."""
    seen = {"agent": 0}

    def subscriber(event: ev.Event) -> None:
        events.append(event)
        if isinstance(event, ev.IssueStarted) and event.instance_id == session.pause_at:
            controls.pause()
        if isinstance(event, ev.AgentEvent) and event.instance_id == session.stop_at:
            seen["agent"] += 1
            if seen["agent"] == session.stop_after:
                controls.stop()

    return subscriber


def real_session(run: Run, session: Session) -> list[ev.Event]:
    events: list[ev.Event] = []
    controls = Controls()
    if session.stop_first:
        controls.stop()
    run.engine(controls, [reacting(controls, session, events)]).run()
    return events


def fake_session(state: fake.FakeRun, run_dir: str, session: Session, memory: str = "on",
                 inductions: dict[int, tuple] | None = None) -> list[ev.Event]:
    events: list[ev.Event] = []
    controls = Controls()
    if session.stop_first:
        controls.stop()
    fake.FakeEngine(reacting(controls, session, events), state=state, controls=controls, run_dir=run_dir,
                    memory=memory, inductions=inductions).run()
    return events


MEASURED = {"elapsed_s", "duration_s", "finished_at", "timings"}


def normalised(event: ev.Event) -> tuple[str, dict]:
    """An event as compared: its type and fields, nested records as dicts, without what is measured on each run
    (MEASURED: wall-clock figures; the app reads no timings)."""

    def plain(value):
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)
                    if f.name not in MEASURED}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    return type(event).__name__, plain(event)


def compare(real: list[ev.Event], faked: list[ev.Event]) -> None:
    """The same events in the same order; the first difference named."""
    kinds = [type(e).__name__ for e in real], [type(e).__name__ for e in faked]
    if kinds[1] != kinds[0]:
        at = next((i for i, (a, b) in enumerate(zip(*kinds)) if a != b), min(map(len, kinds)))
        raise AssertionError(f"the fake's events are not the real engine's from event {at} on: real "
                             f"{kinds[0][at:at + 6]}, fake {kinds[1][at:at + 6]}")
    for i, (a, b) in enumerate(zip(real, faked)):
        na, nb = normalised(a), normalised(b)
        if na != nb:
            raise AssertionError(f"event {i} ({na[0]}) differs: " + "; ".join(
                f"{where}: real {x!r}, fake {y!r}" for where, x, y in differences(na[1], nb[1])))


def differences(a, b, where: str = "") -> list[tuple[str, object, object]]:
    """Where two normalised values differ: (path, real, fake), innermost first found."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in dict.fromkeys([*a, *b]) for d in differences(a.get(k), b.get(k), f"{where}.{k}")]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for n, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, f"{where}[{n}]")]
    return [] if a == b else [(where, a, b)]


SCRIPTS = {
    "a whole run": [Session()],
    "a pause, then a resume": [Session(pause_at=IDS[2]), Session()],
    "a stop mid-issue, then a resume": [Session(stop_at=IDS[4], stop_after=2), Session()],
    "a stop after the issue's last agent event, then a resume": [Session(stop_at=IDS[1], stop_after=4), Session()],
    "a stop before the first issue, then a resume": [Session(stop_first=True), Session()],
}


A, B, C = fake.WORKFLOWS


@pytest.mark.parametrize("memory", ["on", "off"])
@pytest.mark.parametrize("script", list(SCRIPTS))
def test_the_fake_engine_tells_what_the_real_one_does(tmp_path, script, memory):
    run = script_run(tmp_path, memory)
    state = fake.FakeRun()
    for session in SCRIPTS[script]:  # the fake's engines share one FakeRun, as its factory's do on a resume
        real = real_session(run, session)
        faked = fake_session(state, str(run.store.dir), session, memory)
        compare(real, faked)
    assert real[-1].outcome == "completed" and real[-1].stats.processed == len(IDS)  # each script ends the run


def test_a_round_that_relearns_workflows_updates_them_in_both(tmp_path):
    """The fake's `inductions` option, where the real engine can follow it (a round every two successes): round 2
    induces round 1's two workflows again, which memory takes as their second versions (sources merged, made in
    round 1), and the third as new; then a pause and a resume."""
    inductions = {2: (1, (A, B)), 4: (2, (A, B, C))}
    run = script_run(tmp_path, "on", inductions)
    state = fake.FakeRun()
    told: list[ev.Event] = []
    for session in (Session(pause_at=IDS[5]), Session()):
        real = real_session(run, session)
        compare(real, fake_session(state, str(run.store.dir), session, "on", inductions))
        told += real
    rounds = [e for e in told if isinstance(e, ev.InductionFinished)]
    updated = {w.id: w for w in rounds[-1].new_workflows}
    assert [e.round for e in rounds] == [1, 2] and rounds[-1].workflow_ids == (A, B, C)
    assert (updated[A].version, updated[A].created_round, updated[C].version) == (2, 1, 1)
    assert updated[A].source_instances == [IDS[0], IDS[2], IDS[4], IDS[6]]


def test_the_comparison_sees_a_difference(tmp_path):
    """The contract can fail: a fake that announced an issue's end before writing its checkpoint (as this one did)
    or that forgot what an interrupted attempt spent is caught, and named."""
    run = script_run(tmp_path)
    real = real_session(run, Session())
    faked = fake_session(fake.FakeRun(), str(run.store.dir), Session())
    swapped = list(faked)
    swapped[6], swapped[7] = swapped[7], swapped[6]
    with pytest.raises(AssertionError, match="from event 6 on"):
        compare(real, swapped)
    cheaper = [dataclasses.replace(e, stats=dataclasses.replace(e.stats, cost=0.0))
               if isinstance(e, ev.RunFinished) else e for e in faked]
    with pytest.raises(AssertionError, match=r"RunFinished\) differs: \.stats\.cost"):
        compare(real, cheaper)


# ------------------------------------------------------------------ the surface the app calls
APP_CALLS = ("run", "pause", "stop", "emit", "stats")  # the run screen's, session.EngineLike's, and what a
# subscriber or a test may ask of an engine


def test_the_fake_engine_has_the_real_ones_surface(tmp_path):
    """What the app calls on an engine (awm_tui.session.EngineLike: run, pause, stop; the run screen's
    `engine.controls.cancel_pause()`; the pause and stop requests) is there on the fake with the same parameters,
    and the fake's pause and stop act on the controls it was given as the real engine's do."""
    for name in APP_CALLS:
        real, faked = getattr(Engine, name), getattr(fake.FakeEngine, name)
        assert callable(faked), name
        real_sig, fake_sig = inspect.signature(real), inspect.signature(faked)
        assert list(fake_sig.parameters) == list(real_sig.parameters), name
        assert fake_sig.return_annotation == real_sig.return_annotation, name
    for name in ("pause_requested", "stop_requested"):
        assert isinstance(getattr(fake.FakeEngine, name), property) and isinstance(getattr(Engine, name), property)
    for name in vars(fake.FakeEngine):  # no public method of the fake that the real engine lacks under that name
        if not name.startswith("_") and callable(getattr(fake.FakeEngine, name)):
            assert hasattr(Engine, name), f"FakeEngine.{name} is not the real engine's"

    run = script_run(tmp_path)
    for make in (lambda c: run.engine(c), lambda c: fake.FakeEngine(lambda e: None, controls=c)):
        controls = Controls()
        engine = make(controls)
        assert engine.controls is controls
        engine.pause()
        assert engine.pause_requested.is_set() and not engine.stop_requested.is_set()
        assert engine.controls.cancel_pause() and not engine.pause_requested.is_set()
        engine.stop()
        assert engine.pause_requested.is_set() and engine.stop_requested.is_set()
        assert not engine.controls.cancel_pause()
        assert engine.stats().processed == 0 and engine.stats().total == len(IDS)
