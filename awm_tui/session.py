"""What the app asks of the engine: build one for a new or resumed run, in the worker thread (building it
reads the spec; running it imports the agent stack), then run, pause, stop.

A run's `Controls` exist before its engine: the app (and the headless command) make them first and hand them to
the factory, so that a stop asked for during the 15-20 s of start-up is honoured: the engine is built with those
controls, and its run() pauses before the first issue, recording the run as paused.

The start-up says what it is doing (`StartupStep`, through the subscriber, before the engine's own events), so that
the app can show progress instead of what looked like a hang."""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Protocol

from awm.run.events import Event, RunFinished, Subscriber

if TYPE_CHECKING:
    from awm.run.loop import Controls


class EngineLike(Protocol):
    def run(self) -> RunFinished: ...
    def pause(self) -> None: ...
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


# factory(launch, subscriber, controls): the engine of `launch`, reporting to `subscriber`, obeying `controls`
# (made before the factory is called; a stop may already be requested when it returns).
EngineFactory = Callable[[Launch, Subscriber, "Controls"], EngineLike]


def make_engine(launch: Launch, subscriber: Callable[[Event], None], controls: Controls) -> EngineLike:
    from awm.agent.runner import import_agent_stack
    from awm.run.launch import launch_spec, prepare_engine

    subscriber(StartupStep("reading the run spec"))
    spec = launch_spec(launch.spec_path, launch.resume, launch.overrides)
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
