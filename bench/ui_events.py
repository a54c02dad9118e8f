"""The UI's cost per engine event with a Django-size queue (2,294 issues), and key latency under an agent-event
flood with that queue.

1. Per engine event: the fake engine (tests/fake_engine.py) runs --issues-run issues of a --issues-long run, paced
   (--pace ms after each engine event, as a real engine is slower than the UI), and the time the run screen spends
   handling each engine event (`RunScreen.on_engine_event`: the model, the queue's cells, the status bar, the
   progress line, the log's headers, and the history and memory panes on the events that change them) is measured.
   RunStarted, which builds the table once, is reported apart. The time the screen then takes to draw a frame is
   reported too: frames are coalesced (one per refresh, not per event), so it is a cost per frame, not per event.
2. Key latency: bench/input_latency.py's measure, with the same queue: keys sent through the driver while the
   fake engine floods the app with agent events, both kinds: tab switches (3/4, which also draw the History and
   Memory panes) and focus moves (1/2, between the queue and the log).

    .venv/bin/python bench/ui_events.py [--issues 2294] [--issues-run 200] [--pace 5] [--keys 40] [--rounds 2]

Targets (issue 12): median <= 5 ms per engine event; median <= 50 ms per key under a flood."""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("AWM_TUI_HOME", tempfile.mkdtemp(prefix="awm-bench-home-"))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import fake_engine  # noqa: E402
from awm.run import events as ev  # noqa: E402
from awm_tui.app import AwmApp  # noqa: E402
from awm_tui.screens.run import RunScreen  # noqa: E402
from awm_tui.session import Launch  # noqa: E402
from input_latency import measure  # noqa: E402
from textual.screen import Screen  # noqa: E402


def figures(ms: list[float]) -> str:
    ms = sorted(ms)
    p95 = ms[min(len(ms) - 1, int(len(ms) * 0.95))]
    return f"median {statistics.median(ms):.2f} ms, p95 {p95:.2f} ms, max {ms[-1]:.2f} ms ({len(ms)})"


def paced(factory: fake_engine.FakeFactory, pause: float):
    """The factory, its engine pausing `pause` s after each engine event (not after agent events)."""
    def build(launch, subscriber, controls):
        def slower(event):
            subscriber(event)
            if not isinstance(event, ev.AgentEvent):
                time.sleep(pause)
        return factory(launch, slower, controls)
    return build


async def per_event(issues: int, run: int, pace: float, size=(160, 45)) -> dict[str, list[float]]:
    ids = fake_engine.synthetic_ids(issues)
    factory = fake_engine.factory(instance_ids=ids, hold_at=[f"issue:{ids[run]}"])
    timings: dict[str, list[float]] = {}
    frames: list[float] = []
    handle, draw = RunScreen.on_engine_event, Screen._compositor_refresh

    def timed_handle(self, message):
        start = time.perf_counter()
        handle(self, message)
        timings.setdefault(type(message.event).__name__, []).append((time.perf_counter() - start) * 1000)

    def timed_draw(self):
        start = time.perf_counter()
        draw(self)
        frames.append((time.perf_counter() - start) * 1000)

    RunScreen.on_engine_event, Screen._compositor_refresh = timed_handle, timed_draw
    app = AwmApp(Launch(spec_path="fake.yaml"), factory=paced(factory, pace))
    try:
        async with app.run_test(size=size) as pilot:
            deadline = time.monotonic() + 600
            while not factory.reached(f"issue:{ids[run]}"):
                assert time.monotonic() < deadline, "the fake run did not get there in time"
                await pilot.pause(0.05)
            await pilot.pause(0.2)
            factory.release()
            factory.close()
    finally:
        RunScreen.on_engine_event, Screen._compositor_refresh = handle, draw
        factory.close()
    timings["frames"] = frames
    return timings


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--issues", type=int, default=2294, help="issues in the run (the queue's rows)")
    p.add_argument("--issues-run", type=int, default=200, help="issues processed while measuring")
    p.add_argument("--pace", type=float, default=5.0, help="ms the fake engine waits after each engine event")
    p.add_argument("--keys", type=int, default=40, help="keys per round of the latency measure")
    p.add_argument("--rounds", type=int, default=2, help="rounds of the latency measure")
    p.add_argument("--burst", type=int, default=5000)
    args = p.parse_args()

    timings = asyncio.run(per_event(args.issues, args.issues_run, args.pace / 1000))
    started = timings.pop("RunStarted", [])
    frames = timings.pop("frames", [])
    events = [t for ts in timings.values() for t in ts]
    print(f"UI cost per engine event, {args.issues} issues in the queue, {args.issues_run} issues run:")
    print(f"  all engine events but RunStarted: {figures(events)}")
    for name, ts in sorted(timings.items()):
        print(f"    {name:<18} {figures(ts)}")
    if started:
        print(f"  RunStarted (builds the {args.issues}-row table once): {started[0]:.0f} ms")
    print(f"  a frame drawn (160x45; coalesced, not one per event): {figures(frames)}")

    ids = fake_engine.synthetic_ids(args.issues)
    medians = {}
    for kind, what in (("focus", "focus moves (1/2)"), ("tabs", "tab switches (3/4)")):
        latencies: list[float] = []
        drawn: list[float] = []
        for _ in range(args.rounds):
            result = asyncio.run(measure(args.burst, args.keys, instance_ids=ids, kind=kind))
            latencies += [x * 1000 for x in result["latencies"]]
            drawn += [x * 1000 for x in result["drawn"]]
        idle = [x * 1000 for x in asyncio.run(measure(0, args.keys, instance_ids=ids, kind=kind))["drawn"]]
        medians[kind] = statistics.median(drawn)
        print(f"key latency, {what}, under an agent-event flood (>= {args.burst} events, on until the last key), "
              f"{args.issues} issues in the queue, over {len(latencies)} keys: handled: median "
              f"{statistics.median(latencies):.1f} ms, max {max(latencies):.1f} ms; on screen (the first frame drawn "
              f"after it): median {medians[kind]:.1f} ms, max {max(drawn):.1f} ms; on screen with no events: median "
              f"{statistics.median(idle):.1f} ms, max {max(idle):.1f} ms")
    print(f"targets: median <= 5 ms per engine event ({statistics.median(events):.2f}), median <= 50 ms per key on "
          f"screen (focus {medians['focus']:.1f}, tabs {medians['tabs']:.1f})")


if __name__ == "__main__":
    main()
