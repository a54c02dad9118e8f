"""What the app asks of the engine: build one for a new or resumed run, in the worker thread (building it
reads the spec; running it imports the agent stack), then run, pause, stop.

A run's `Controls` exist before its engine: the app (and the headless command) make them first and hand them to
the factory, so that a stop asked for during the start-up (15-80 s) is honoured: the engine is built with those
controls, and its run() pauses before the first issue, recording the run as paused. The app builds the engine
through `build`, which runs the factory in a thread of its own and gives it STOP_GRACE seconds to notice a stop: a
start-up busy with something it cannot break off (a model check, the agent stack's import) is left behind, the run
folder as it was (or not made yet), and the quit goes on: a service manager's stop is never held for a minute.

The start-up says what it is doing (`StartupStep`, through the subscriber, before the engine's own events), so that
the app can show progress instead of what looked like a hang."""

from __future__ import annotations

import contextlib
import io
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from awm.run.events import Event, RunFinished, Subscriber

if TYPE_CHECKING:
    from awm.run.loop import Controls


class EngineLike(Protocol):
    """What the run screen runs: an engine, or (awm-tui watch) a follower of another process's run, whose run()
    ends with no finish of its own and whose pause() answers with the owner's process id."""

    def run(self) -> RunFinished | None: ...
    def pause(self) -> object: ...
    def stop(self) -> None: ...


@dataclass
class Launch:
    """A new run from a spec, or a resumed one (`resume` is the run's folder or name)."""

    spec_path: str | None = None
    resume: str | None = None
    overrides: dict = field(default_factory=dict)


@dataclass(frozen=True)
class StartupStep(Event):
    """What the start-up is doing now ("loading the dataset…"): sent by the app's factory, never by the engine."""

    text: str


STOP_GRACE = 2.0  # a stop during start-up: how long the start-up may take to notice it before the app leaves it


class StartupAbandoned(Exception):
    """A stop came during the start-up and the start-up did not finish within STOP_GRACE: the app leaves it."""


_startups: list[threading.Thread] = []  # start-ups left behind by a stop (daemon threads), for the command's exit


def lingering() -> list[threading.Thread]:
    """The start-ups a stop left behind that are still going (the process may end without waiting for them)."""
    return [t for t in _startups if t.is_alive()]


def build(factory: EngineFactory, launch: Launch, subscriber: Subscriber, controls: Controls,
          grace: float = STOP_GRACE) -> EngineLike:
    """`factory(launch, subscriber, controls)` in a thread of its own, waited for until it returns, or until a stop
    is asked for and `grace` seconds more have passed: the start-up (the dataset, the repositories, the model's
    check, the agent stack's import: 15-80 s) never holds a quit up. A start-up that notices the stop in time
    returns its engine, whose run() records the run as paused; one that does not is left behind (a daemon thread:
    the process does not wait for it) and StartupAbandoned is raised. Whatever it raises is raised here."""
    engine: list[EngineLike] = []  # what the start-up thread hands over: its engine, or what it raised
    error: list[BaseException] = []
    done = threading.Event()

    def start() -> None:
        try:
            engine.append(factory(launch, subscriber, controls))
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
            error.append(exc)
        finally:
            done.set()

    thread = threading.Thread(target=start, name="awm-startup", daemon=True)
    thread.start()
    while not done.wait(0.05):
        if controls.stop_requested.is_set():
            if done.wait(grace):
                break
            _startups.append(thread)
            raise StartupAbandoned("stopped during the start-up")
    if error:
        raise error[0]
    return engine[0]


# factory(launch, subscriber, controls): the engine of `launch`, reporting to `subscriber`, obeying `controls`
# (made before the factory is called; a stop may already be requested when it returns).
EngineFactory = Callable[[Launch, Subscriber, "Controls"], EngineLike]


def make_engine(launch: Launch, subscriber: Callable[[Event], None], controls: Controls) -> EngineLike:
    from awm.agent.runner import import_agent_stack
    from awm.run.launch import launch_spec, prepare_engine

    subscriber(StartupStep("reading the run spec"))
    spec = launch_spec(launch.spec_path, launch.resume, launch.overrides)
    if controls.stop_requested.is_set() and not launch.resume:  # a new run stopped before it has a folder
        raise StartupAbandoned("stopped before the run folder was made")
    subscriber(StartupStep(f"loading the dataset ({spec.dataset.name}), checking the repositories and the model, "
                           "opening the run folder"))
    engine = prepare_engine(spec, [subscriber], launch.resume, launch.overrides.get("output_dir"), controls)
    launch.resume = str(engine.store.dir)  # from now on, starting again means resuming this run
    if controls.stop_requested.is_set():  # its run() records the run as paused, with no warm-up
        return engine
    subscriber(StartupStep("starting the agent stack (OpenHands)"))
    # Textual captures sys.stdout with an object that has no `encoding`, which libtmux reads at import.
    with contextlib.redirect_stdout(io.TextIOWrapper(io.BytesIO(), encoding="utf-8")):
        import_agent_stack()
    return engine
