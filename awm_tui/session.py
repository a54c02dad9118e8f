"""What the app asks of the engine: build one for a new or resumed run, in the worker thread (building it
reads the spec; running it imports the agent stack), then run, pause, stop."""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass, field
from typing import Callable, Protocol

from awm.events import Event, RunFinished, Subscriber


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


EngineFactory = Callable[[Launch, Subscriber], EngineLike]


def make_engine(launch: Launch, subscriber: Callable[[Event], None]) -> EngineLike:
    from awm.agent import import_agent_stack
    from awm.loop import prepare_engine
    from awm_tui.cli import load_launch_spec

    spec = load_launch_spec(launch.spec_path, launch.resume, launch.overrides)
    engine = prepare_engine(spec, [subscriber], launch.resume, launch.overrides.get("output_dir"))
    launch.resume = str(engine.store.dir)  # from now on, starting again means resuming this run
    # Textual captures sys.stdout with an object that has no `encoding`, which libtmux reads at import.
    with contextlib.redirect_stdout(io.TextIOWrapper(io.BytesIO(), encoding="utf-8")):
        import_agent_stack()
    return engine
