"""A scripted stand-in for awm.run.loop.Engine, for the UI tests: the same events in the same order, fully
deterministic (fixed ids, patches, test output, stats with a fixed elapsed time), no agent, no model, no files.

    factory = fake_engine.factory(hold_at=["issue:tallyho__tallyho-103"])
    app = AwmApp(Launch(spec_path="fake.yaml"), factory=factory)   # factory(launch, subscriber, controls)
    ...
    await until(pilot, lambda: factory.reached("issue:tallyho__tallyho-103"))   # the run is mid-issue
    factory.release("issue:tallyho__tallyho-103")                              # let it go on

The factory takes the run's `Controls` (awm.run.loop), made by the app before it calls the factory, and the engine
obeys them like the real one: pause() finishes the issue in flight, stop() interrupts it; either one asked for
before the first issue makes run() return "paused" at once.

Hold points (the engine blocks there until released, or until stop()):
    "build"                in the factory, before the engine exists (the real start-up's 15-20 s)
    "started"              after RunStarted
    "issue:<id>"           mid-issue: after IssueStarted and the issue's agent events, before IssueFinished
    "finished:<id>"        after IssueFinished of <id> (and the induction round it made due, if any)
    "stopped"              after a stop was seen, before run() returns (the real wind-down: the agent interrupted,
                           the workspace closed); a stop does not end this one: only release() or close() does
    "burst"                with burst=N: the flood of agent events goes on (past N) until this is released;
                           reached() once the flood is over

Options of `factory(...)`: hold_at=[points]; burst=N (a flood of N agent events, as fast as it can, in the issue
`burst_at`, the first by default); error=exc (the factory raises it: a spec mistake found while building the
engine); fail_in_run=exc (run() raises it); state=FakeRun(...) (a run already under way, e.g. `run_state(store)`);
instance_ids (any ids: `synthetic_ids(2294)` for a Django-size run; ids other than IDS get a module and a verdict
by their position), outcomes={id: (Status, reason)} (verdicts in place of the scripted ones), model (the model's
name RunStarted gives), notices (the warnings RunStarted gives), memory="off" (no induction round, no workflow
given: memory.enabled off), run_dir (default: the launch's resume folder or output_dir); startup_steps=[texts] (the
factory reports them as `StartupStep`s before "build", like the app's real factory).

Agent events carry the agent's progress so far (steps, cost, tokens), as the real engine's do. What the fake tells
is held to what the real engine tells on the same script by tests/test_engine_contract.py (the events, their
order and fields, pause, stop, resume, memory off; the surface the app calls): change one, and that test says where
they part.

The factory keeps the run's state (finished issues, memory) across the engines it builds, so a resumed run
(the app's `r`, or the picker) goes on where the paused one stopped, like the real engine over its run folder.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from awm.memory import adherence
from awm.memory.store import WorkflowMemory
from awm.records import Experience, Status, Step, Workflow
from awm.run import events as ev
from awm.run.loop import Controls
from awm.run.stats import Stats, Tally
from awm_tui.session import Launch

MODULES = ("roman", "semver", "numfmt", "duration", "lru", "text", "inifile", "querystring")
IDS = tuple(f"tallyho__tallyho-{101 + i}" for i in range(len(MODULES)))
MODULE = dict(zip(IDS, MODULES))

# The verdict of each issue, and why (the reason the real evaluator would give).
OUTCOMES: dict[str, tuple[Status, str]] = {
    IDS[0]: (Status.PASS, ""),
    IDS[1]: (Status.FAIL, "FAIL_TO_PASS failed: tests/test_semver.py::test_prerelease_orders_before_release"),
    IDS[2]: (Status.PASS, ""),
    IDS[3]: (Status.ERROR, "agent: the model returned no tool call three times in a row"),
    IDS[4]: (Status.PASS, ""),
    IDS[5]: (Status.FAIL, "the patch does not apply: tallyho/text.py hunk #1 failed"),
    IDS[6]: (Status.PASS, ""),
    IDS[7]: (Status.SKIPPED, "not evaluated (evaluation backend `none`)"),
}

WORKFLOWS = {
    "wf-fix-an-off-by-one-boundary": Workflow(
        id="wf-fix-an-off-by-one-boundary",
        name="Fix an off-by-one boundary",
        description="a function gives a wrong result exactly at the edge of its valid range",
        steps=["Reproduce with the boundary value from the issue: `python -c \"from {module} import {func}; "
               "print({func}({edge}))\"`",
               "Open {file} and find the comparison that decides the edge (`<` vs `<=`)",
               "Change the comparison, then run `pytest -q {test_file}`"],
        source_instances=[IDS[0], IDS[2]], round=1, created_round=1),
    "wf-reproduce-then-patch": Workflow(
        id="wf-reproduce-then-patch",
        name="Reproduce then patch",
        description="any bug report with a failing example in its text",
        steps=["Write the example from the issue into a scratch script and run it",
               "Read the traceback; open the innermost project frame in {file}",
               "Make the smallest change that fixes the example", "Run the module's tests"],
        source_instances=[IDS[0], IDS[2]], round=1, created_round=1),
    "wf-parse-a-config-value": Workflow(
        id="wf-parse-a-config-value",
        name="Parse a config value",
        description="a parser mishandles quoting, whitespace or an empty value",
        steps=["Find the tokenizer in {file}", "Add the missing case for {case}", "Test with `pytest -q {test_file}`"],
        source_instances=[IDS[4], IDS[6]], round=2, created_round=2),
}
# The induction round made due by the Nth success (trigger 2), and the workflows it induces (one already in memory
# is updated: its next version), optionally with the ids it evicts (the `inductions` option replaces these).
INDUCTIONS: dict[int, tuple] = {
    2: (1, ("wf-fix-an-off-by-one-boundary", "wf-reproduce-then-patch")),
    4: (2, ("wf-parse-a-config-value",)),
}

MEMORY_OFF = "memory is off for this run (memory.enabled: off)"  # why an issue was given no workflow, memory off

SECONDS_PER_ISSUE = 12.5
COST_PER_ISSUE = 0.0123
CYCLE = tuple(OUTCOMES[i] for i in IDS)  # the verdicts of other ids, by their position


def synthetic_ids(n: int, repo: str = "django__django") -> tuple[str, ...]:
    """`n` made-up instance ids, e.g. for a run of Django's size (2,294 issues)."""
    return tuple(f"{repo}-{10000 + i}" for i in range(n))


def module(iid: str) -> str:
    """The module an issue is about: IDS' own, else one picked from its number."""
    if iid in MODULE:
        return MODULE[iid]
    digits = "".join(c for c in iid if c.isdigit()) or "0"
    return MODULES[int(digits) % len(MODULES)]


def outcome(iid: str, index: int) -> tuple[Status, str]:
    return OUTCOMES[iid] if iid in OUTCOMES else CYCLE[(index - 1) % len(CYCLE)]


def patch(iid: str) -> str:
    mod = module(iid)
    return (f"diff --git a/tallyho/{mod}.py b/tallyho/{mod}.py\n"
            f"--- a/tallyho/{mod}.py\n"
            f"+++ b/tallyho/{mod}.py\n"
            f"@@ -10,7 +10,7 @@ def parse(value):\n"
            f"     value = value.strip()\n"
            f"-    if len(value) < limit:\n"
            f"+    if len(value) <= limit:\n"
            f"         return value\n")


def test_output(iid: str, status: Status) -> str:
    mod = module(iid)
    verdict = "PASSED" if status == Status.PASS else "FAILED"
    return (f">>>>> Start Test Output\n"
            f"tests/test_{mod}.py::test_{mod}_edge_case {verdict}\n"
            f"tests/test_{mod}.py::test_{mod}_round_trip PASSED\n"
            f"=========================== short test summary info ===========================\n"
            f"{'1 failed, 1 passed' if verdict == 'FAILED' else '2 passed'} in 0.04s\n"
            f">>>>> End Test Output")


def experience(iid: str, status: Status, reason: str, given: Sequence[Workflow], memory_round: int,
               position: int = 0, why_none: str = "") -> Experience:
    """The record of issue `iid`'s attempt, with this verdict, given these workflows in this memory round, as the real
    engine makes it (with `memory.retrieval: all` and `memory.adherence: lexical`): at `position` in the run,
    learned from when it passed (induction.success: tests), what it was given (each scored 1.0, as `all` scores
    them; their tokens, as the engine counts them without a tokenizer: a quarter of the characters, plus one) and
    how far its steps followed each (the lexical adherence scores); when it was given nothing, why (`why_none`)."""
    history = [Step("terminal", f"pytest -q tests/test_{module(iid)}.py", "run the tests", "1 failed"),
               Step("file_editor", "str_replace", "fix the comparison", "edited")]
    block = WorkflowMemory(len(given)).render(list(given)) if given else ""
    return Experience(
        instance_id=iid, problem_statement=f"`{module(iid)}.parse` is wrong at the boundary.",
        status=status, diff_patch=patch(iid) if status != Status.ERROR else "",
        history=history,
        test_output=test_output(iid, status) if status in (Status.PASS, Status.FAIL) else "",
        reason=reason, cost=COST_PER_ISSUE, prompt_tokens=4000, completion_tokens=321, steps=7,
        duration_s=SECONDS_PER_ISSUE, timings={"model_wait": 8.0, "tests": 2.5},
        workflow_ids=[w.id for w in given], memory_round=memory_round,
        agent_status="finished" if status != Status.ERROR else "error",
        finished_at="2025-01-02T03:04:05", position=position, learned=status == Status.PASS,
        why_none="" if given else why_none,
        retrieved=[{"id": w.id, "kind": w.kind, "version": w.version, "round": w.round, "score": 1.0} for w in given],
        memory_tokens=len(block) // 4 + 1 if block else 0, adherence=adherence.measure("lexical", given, history))


def agent_events(iid: str) -> list[ev.AgentEvent]:
    mod = module(iid)
    return [
        ev.AgentEvent(iid, "action", "terminal", f"pytest -q tests/test_{mod}.py", steps=1, cost=0.0031, tokens=1500),
        ev.AgentEvent(iid, "observation", "terminal",
                      "\n".join(["F. [100%]", "=== FAILURES ===", f"___ test_{mod}_edge_case ___",
                                 "    assert parse('x') == 'x'", "E   AssertionError", "1 failed, 1 passed in 0.04s",
                                 "(exit code 1)", "extra line"]), steps=1, cost=0.0031, tokens=1500),
        ev.AgentEvent(iid, "action", "file_editor", f"str_replace tallyho/{mod}.py: `<` -> `<=`", steps=2,
                      cost=0.0072, tokens=3100),
        ev.AgentEvent(iid, "message", "", f"Fixed the boundary check in tallyho/{mod}.py.", steps=2, cost=0.0098,
                      tokens=4000),
    ]


def burst_event(iid: str, n: int) -> ev.AgentEvent:
    kind = "action" if n % 2 == 0 else "observation"
    return ev.AgentEvent(iid, kind, "terminal", f"burst line {n}: echo {n}" if kind == "action"
                         else f"output {n}\nsecond line of output {n}\n")


@dataclass
class FakeRun:
    """What the real engine keeps in the run folder: finished issues, the workflow memory, and what the attempts a
    stop interrupted spent (discarded.jsonl: counted in the run's totals, in no experience)."""

    experiences: list[Experience] = field(default_factory=list)
    memory: list[str] = field(default_factory=list)  # workflow ids, in memory order
    round: int = 0
    discarded: list[tuple[float, int, int]] = field(default_factory=list)  # cost, prompt and completion tokens
    workflows: dict[str, Workflow] = field(default_factory=dict)  # id -> its latest version, once induced here

    def workflow(self, workflow_id: str) -> Workflow:
        """A workflow in memory, in its latest version (one of WORKFLOWS as first induced, unless induced again; an id
        the fake never induced: a bare entry of that name)."""
        known = self.workflows.get(workflow_id) or WORKFLOWS.get(workflow_id)
        return known or Workflow(id=workflow_id, name=workflow_id, description="", steps=[])

    def stats(self, total: int) -> Stats:
        tally = Tally(self.experiences)
        for spent in self.discarded:
            tally.discard(*spent)
        return tally.stats(total, len(self.memory), self.round, SECONDS_PER_ISSUE * len(self.experiences))


class FakeEngine:
    """EngineLike. `run()` runs in the app's worker thread and calls the subscriber like awm.run.loop.Engine."""

    def __init__(self, subscriber: ev.Subscriber, *, launch: Launch | None = None, state: FakeRun | None = None,
                 controls: Controls | None = None, holds: Holds | None = None, instance_ids: Iterable[str] = IDS,
                 burst: int = 0, burst_at: str | None = None, run_dir: str = "/fake/runs/fake-run",
                 fail_in_run: Exception | None = None, outcomes: dict[str, tuple[Status, str]] | None = None,
                 model: str = "scripted/fake", notices: Iterable[str] = (), inductions: dict[int, tuple] | None = None,
                 memory: str = "on"):
        self.subscriber = subscriber
        self.launch = launch
        self.state = state or FakeRun()
        self.controls = controls or Controls()
        self.holds = holds or Holds()
        self.instance_ids = tuple(instance_ids)
        self.burst = burst
        self.burst_at = burst_at or self.instance_ids[0]
        self.run_dir = run_dir
        self.fail_in_run = fail_in_run
        self.outcomes = outcomes or {}
        self.model = model
        self.notices = tuple(notices)
        self.memory = memory
        self.inductions = {} if memory == "off" else INDUCTIONS if inductions is None else inductions
        self.calls: list[str] = []  # run, pause, stop: in the order they came
        self.burst_sent = 0
        self.finished: ev.RunFinished | None = None
        self.returned = threading.Event()  # run() has returned (or raised)

    # controls (any thread)
    @property
    def pause_requested(self) -> threading.Event:
        return self.controls.pause_requested

    @property
    def stop_requested(self) -> threading.Event:
        return self.controls.stop_requested

    def pause(self) -> None:
        self.calls.append("pause")
        self.controls.pause()

    def stop(self) -> None:
        self.calls.append("stop")
        self.controls.stop()

    def emit(self, event: ev.Event) -> None:
        """The subscriber gets the event (Engine.emit's contract: from the engine's thread, in order)."""
        self.subscriber(event)

    # the run
    def stats(self) -> Stats:
        """The run's statistics now, as Engine.stats() gives them (with the fake's fixed elapsed time)."""
        return self.state.stats(len(self.instance_ids))

    def run(self) -> ev.RunFinished:
        self.calls.append("run")
        try:
            if self.fail_in_run is not None:
                raise self.fail_in_run
            outcome, message = self._loop()
            if self.stop_requested.is_set():  # the real engine's wind-down: agent interrupted, workspace closed
                self.holds.hold("stopped", threading.Event())
            total = len(self.instance_ids)
            # the run's end (completed, paused, stopped) writes its checkpoint whole: said before RunFinished
            self.emit(ev.CheckpointSaved(f"{self.run_dir}/checkpoint.json", len(self.state.experiences)))
            self.finished = ev.RunFinished(outcome, message, self.state.stats(total), run_dir=self.run_dir)
            self.emit(self.finished)
            return self.finished
        finally:
            self.returned.set()

    def _hold(self, point: str) -> None:
        self.holds.hold(point, self.stop_requested)

    def _interrupted(self, iid: str, spent: ev.AgentEvent | None) -> tuple[str, str]:
        """A stop interrupted `iid`: nothing of it is recorded but what its agent had spent (the real engine counts
        a cancelled agent's cost and tokens in the run's totals; here its progress so far, as prompt tokens)."""
        if spent is not None and (spent.cost or spent.tokens):
            self.state.discarded.append((spent.cost or 0.0, spent.tokens or 0, 0))
        return "paused", f"stopped during {iid}; it will be redone on resume"

    def _loop(self) -> tuple[str, str]:
        state, total = self.state, len(self.instance_ids)
        done = {e.instance_id for e in state.experiences}
        self.emit(ev.RunStarted(
            run_id=self.run_dir.rstrip("/").rsplit("/", 1)[-1], run_dir=self.run_dir, name="fake-demo",
            model=self.model, instance_ids=self.instance_ids,
            finished_ids=tuple(e.instance_id for e in state.experiences), resumed=bool(done) or state.round > 0,
            stats=state.stats(total), notices=self.notices))
        self._hold("started")
        for index, iid in enumerate(self.instance_ids, 1):
            if iid in done:
                continue
            if self.stop_requested.is_set() or self.pause_requested.is_set():
                return "paused", "paused by request; resume to continue"
            given, memory_round = [state.workflow(i) for i in state.memory], state.round
            workflow_ids = tuple(w.id for w in given)
            self.emit(ev.IssueStarted(iid, index, total, workflow_ids, memory_round))
            spent: ev.AgentEvent | None = None  # the agent's progress so far
            for event in agent_events(iid):
                if self.stop_requested.is_set():
                    return self._interrupted(iid, spent)
                self.emit(event)
                spent = event
            if self.burst and iid == self.burst_at:
                # at least `burst` events, and on for as long as the "burst" point is held (a sustained flood)
                flooding = self.holds.holding("burst")
                n = 0
                while (n < self.burst or flooding()) and not self.stop_requested.is_set():
                    self.emit(burst_event(iid, n))
                    n += 1
                    self.burst_sent = n
                self.holds.passed("burst")
            self._hold(f"issue:{iid}")
            if self.stop_requested.is_set():
                return self._interrupted(iid, spent)
            status, reason = self.outcomes.get(iid) or outcome(iid, index)
            exp = experience(iid, status, reason, given, memory_round, index,
                             "memory held no entries yet" if self.memory == "on" else MEMORY_OFF)
            state.experiences.append(exp)
            # checkpoint.json is written before the issue is announced finished, as the real engine does
            self.emit(ev.CheckpointSaved(f"{self.run_dir}/checkpoint.json", len(state.experiences)))
            self.emit(ev.IssueFinished(
                instance_id=iid, index=index, total=total, status=status, reason=reason, cost=exp.cost,
                steps=exp.steps, duration_s=exp.duration_s, stats=state.stats(total), timings=dict(exp.timings),
                experience=exp))
            passed = sum(e.status == Status.PASS for e in state.experiences)
            if status == Status.PASS and passed in self.inductions:
                round_number, new_ids, *rest = self.inductions[passed]
                evicted = tuple(rest[0]) if rest else ()
                sources = tuple(e.instance_id for e in state.experiences if e.status == Status.PASS)[-2:]
                self.emit(ev.InductionStarted(round_number, sources))
                state.round = round_number
                induced = []
                for i in new_ids:  # as the real memory takes them: new, or an update of the entry (its next version)
                    made, before = WORKFLOWS[i], state.workflows.get(i)
                    if before is None:
                        entry = dataclasses.replace(made, source_instances=list(sources), round=round_number,
                                                    created_round=round_number, version=1)
                    else:
                        entry = dataclasses.replace(
                            before, name=made.name, description=made.description, steps=list(made.steps),
                            source_instances=list(dict.fromkeys([*before.source_instances, *sources])),
                            round=round_number, version=before.version + 1)
                    induced.append(entry)
                    state.workflows[i] = entry
                state.memory = [i for i in [*state.memory, *(i for i in new_ids if i not in state.memory)]
                                if i not in evicted]
                self.emit(ev.InductionFinished(round_number, tuple(induced), tuple(state.memory),
                                                     duration_s=3.0, evicted=evicted))
            self._hold(f"finished:{iid}")
        return "completed", "all issues processed"


class Holds:
    """Hold points shared by every engine a factory builds: the engine blocks at a point until the test
    releases it (or the engine is stopped)."""

    def __init__(self, hold_at: Iterable[str] = ()) -> None:
        self.hold_at = set(hold_at)
        self._reached: dict[str, threading.Event] = {}
        self._released: dict[str, threading.Event] = {}
        self._lock = threading.Lock()
        self.closed = threading.Event()

    def _event(self, table: dict[str, threading.Event], point: str) -> threading.Event:
        with self._lock:
            return table.setdefault(point, threading.Event())

    def hold(self, point: str, stop: threading.Event) -> None:
        self._event(self._reached, point).set()
        if point not in self.hold_at:
            return
        released = self._event(self._released, point)
        while not (released.is_set() or stop.is_set() or self.closed.is_set()):
            released.wait(0.01)

    def holding(self, point: str):
        """A check that stays true while `point` is held (false at once if it is not a hold point)."""
        released = self._event(self._released, point)
        held = point in self.hold_at
        return lambda: held and not (released.is_set() or self.closed.is_set())

    def passed(self, point: str) -> None:
        self._event(self._reached, point).set()

    def reached(self, point: str) -> bool:
        return self._event(self._reached, point).is_set()

    def release(self, point: str | None = None) -> None:
        for p in ([point] if point else list(self.hold_at)):
            self._event(self._released, p).set()

    def close(self) -> None:
        """Let every engine go (test teardown: no thread may outlive the test)."""
        self.closed.set()


class FakeFactory:
    """An EngineFactory: `factory(launch, subscriber, controls)` builds a FakeEngine over the factory's one FakeRun,
    obeying `controls`. `error` is raised by the factory itself (a spec mistake found while building the engine).
    With the hold point "build", the factory waits (as the real start-up takes 15-20 s) until released or until a
    stop is asked for; like the real one, it then builds the engine anyway: the app is to honour the stop."""

    def __init__(self, *, hold_at: Iterable[str] = (), error: Exception | None = None, state: FakeRun | None = None,
                 startup_steps: Iterable[str] = (), **options) -> None:
        self.holds = Holds(hold_at)
        self.state = state or FakeRun()
        self.error = error
        self.startup_steps = tuple(startup_steps)
        self.options = options
        self.launches: list[Launch] = []
        self.controls: list[Controls] = []  # the controls each call was given
        self.engines: list[FakeEngine] = []

    def __call__(self, launch: Launch, subscriber: ev.Subscriber, controls: Controls) -> FakeEngine:
        self.launches.append(launch)
        self.controls.append(controls)
        if self.startup_steps:
            from awm_tui.session import StartupStep

            for step in self.startup_steps:
                subscriber(StartupStep(step))
        self.holds.hold("build", controls.stop_requested)
        if self.error is not None:
            raise self.error
        options = dict(self.options)
        if launch.resume or launch.overrides.get("output_dir"):
            options.setdefault("run_dir", launch.resume or launch.overrides["output_dir"])
        engine = FakeEngine(subscriber, launch=launch, state=self.state, controls=controls, holds=self.holds,
                            **options)
        self.engines.append(engine)
        return engine

    @property
    def engine(self) -> FakeEngine | None:
        return self.engines[-1] if self.engines else None

    def reached(self, point: str) -> bool:
        return self.holds.reached(point)

    def release(self, point: str | None = None) -> None:
        self.holds.release(point)

    def close(self) -> None:
        """Let every engine go (test teardown: no thread may outlive the test)."""
        self.holds.close()
        for controls in self.controls:
            controls.stop()


def factory(**options) -> FakeFactory:
    """An EngineFactory building FakeEngines: `factory(hold_at=[...], burst=5000, error=UserError(...))`."""
    return FakeFactory(**options)


def scripted_events() -> list[ev.Event]:
    """Every event of one whole fake run, in order (run here, synchronously): to build run folders from."""
    events: list[ev.Event] = []
    FakeEngine(events.append).run()
    return events


def write_run(run_dir, *, name: str, processed: int, status: str, updated_at: str,
              spec_path: str = "/tmp/awm-specs/fake.yaml", message: str = ""):
    """A run folder as the real engine leaves it (through awm.run.store and awm.memory.store, in their formats)
    after the first `processed` issues of the scripted run, with fixed timestamps. Returns the RunStore."""
    import json
    from pathlib import Path

    from awm.memory.store import WorkflowMemory
    from awm.run.store import RunStore
    from awm.spec import InductionSpec, LLMSpec, RunSpec

    spec = RunSpec(llm=LLMSpec(model="scripted/fake"), name=name, path=spec_path,
                   induction=InductionSpec(trigger=2, max_workflows=10))
    store = RunStore.create(spec, output_dir=str(run_dir))
    memory = WorkflowMemory(10, store.memory_path)
    experiences: list[Experience] = []
    for event in scripted_events():
        if isinstance(event, ev.IssueFinished):
            if len(experiences) == processed:
                break
            experiences.append(event.experience)
            store.commit(event.experience)
        elif isinstance(event, ev.InductionFinished):
            memory.add_round(event.round, [{"name": w.name, "description": w.description, "steps": w.steps}
                                           for w in event.new_workflows], list(WORKFLOWS[event.workflow_ids[-1]]
                                                                               .source_instances))
    state = FakeRun(experiences, memory.ids(), memory.round)
    store.write_checkpoint(state.stats(len(IDS)), list(IDS), [e.instance_id for e in experiences], status, name,
                           spec.llm.model, message)
    for file, key in (("checkpoint.json", "updated_at"), ("config.json", "created_at")):
        path = Path(store.dir) / file
        data = json.loads(path.read_text())
        data[key] = updated_at
        path.write_text(json.dumps(data, indent=2))
    if store.memory_path.exists():
        data = json.loads(store.memory_path.read_text())
        for entry in data["rounds"]:
            entry["time"] = updated_at
        store.memory_path.write_text(json.dumps(data, indent=2))
    return store


def run_state(store) -> FakeRun:
    """The FakeRun a resumed fake engine starts from: what the run folder holds."""
    from awm.run.view import load_run

    view = load_run(store.dir)
    return FakeRun(list(view.experiences), [w.id for w in view.memory.workflows], view.memory.round,
                   workflows={w.id: w for w in view.memory.workflows})
