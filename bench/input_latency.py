"""Input latency of the TUI while the engine floods it with agent events.

A fake engine (tests/fake_engine.py) emits agent events as fast as it can (at least --burst of them, and on
until the last key unless --once); meanwhile keys that switch the History/Memory tabs are sent the way a terminal
sends them (through the driver), one at a time, and for each the time from sending it to the tab actually
changing is measured, and to the end of the first frame drawn after that change (what the eye sees). Prints the
median and the maximum, and the same with no events for comparison.
--issues N puts N issues in the queue (a Django-size run: 2294); the default is the fake engine's eight.

    .venv/bin/python bench/input_latency.py [--burst 5000] [--once] [--keys 40] [--rounds 3] [--issues N]
"""

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
os.environ.setdefault("AWM_TUI_HOME", tempfile.mkdtemp(prefix="awm-bench-home-"))

from textual import events  # noqa: E402
from textual.widgets import TabbedContent  # noqa: E402

import fake_engine  # noqa: E402
from awm_tui.app import AwmApp  # noqa: E402
from awm_tui.session import Launch  # noqa: E402



async def wait_for(predicate, timeout: float = 30.0, step: float = 0.001) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("the app did not get there in time")
        await asyncio.sleep(step)


async def measure(burst: int, keys: int, gap: float = 0.02, sustained: bool = True, size=(140, 40),
                  instance_ids: tuple[str, ...] = fake_engine.IDS, kind: str = "tabs") -> dict:
    """Latencies (s) of `keys` keys sent while the fake engine floods the app with agent events: at least `burst`
    of them, and (sustained) on and on until the last key was handled; `instance_ids` in the queue. `kind`: tab
    switches (3/4: History/Memory, timed to the tab's change) or focus moves (1/2: the queue/the log, timed to the
    focus's change)."""
    first = instance_ids[0]
    holds = ["started", f"issue:{first}"] + (["burst"] if sustained else [])
    factory = fake_engine.factory(burst=burst, hold_at=holds, instance_ids=instance_ids)
    app = AwmApp(Launch(spec_path="fake.yaml"), factory=factory)
    latencies: list[float] = []
    drawn: list[float] = []  # from the key to the end of the first frame drawn after the change
    during = 0  # keys sent while the flood was still being emitted or waiting to be written to the log
    try:
        async with app.run_test(size=size) as pilot:
            await wait_for(lambda: factory.reached("started"))
            screen = app.screen
            tabs = screen.query_one(TabbedContent)
            changed: dict[str, float] = {}

            def seen(old, new) -> None:
                changed[getattr(new, "id", None) or str(new)] = time.perf_counter()

            frames: list[float] = []
            draw = screen._compositor_refresh

            def timed_draw() -> None:
                draw()
                frames.append(time.perf_counter())

            screen._compositor_refresh = timed_draw
            if kind == "tabs":
                screen.watch(tabs, "active", seen, init=False)
            else:
                screen.watch(screen, "focused", seen, init=False)
            factory.release("started")
            await wait_for(lambda: factory.engine is not None and (factory.engine.burst_sent > 0 or not burst))
            for _ in range(keys):
                if kind == "tabs":
                    want = "history" if tabs.active == "memory" else "memory"
                    key = "3" if want == "history" else "4"
                else:
                    want = "log" if screen.focused is not None and screen.focused.id == "queue" else "queue"
                    key = "2" if want == "log" else "1"
                busy = burst > 0 and (not factory.reached("burst") or bool(screen.pending))
                changed.pop(want, None)
                sent = time.perf_counter()
                app._driver.send_message(events.Key(key, key))
                await wait_for(lambda: want in changed)
                latencies.append(changed[want] - sent)
                await wait_for(lambda: bool(frames) and frames[-1] > changed[want])
                drawn.append(next(t for t in frames if t > changed[want]) - sent)
                during += busy
                await asyncio.sleep(gap)
            factory.release("burst")
            await wait_for(lambda: factory.reached(f"issue:{first}") and not screen.pending)
            lines = len(screen.query_one("#log").lines)
            factory.release()
            await pilot.pause()
    finally:
        factory.close()
    return {"latencies": latencies, "drawn": drawn, "during": during, "sent": factory.engines[0].burst_sent,
            "log_lines": lines}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--burst", type=int, default=5000, help="agent events in the flood, at least")
    p.add_argument("--once", action="store_true", help="one burst of --burst events, not a flood that lasts "
                   "until the last key")
    p.add_argument("--keys", type=int, default=40, help="keys per round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--issues", type=int, default=0, help="issues in the queue (default: the fake engine's 8)")
    p.add_argument("--kind", choices=["tabs", "focus"], default="tabs", help="tab switches (3/4) or focus moves "
                   "(1/2)")
    args = p.parse_args()
    ids = fake_engine.synthetic_ids(args.issues) if args.issues else fake_engine.IDS
    flood: list[float] = []
    frames: list[float] = []
    for r in range(args.rounds):
        result = asyncio.run(measure(args.burst, args.keys, sustained=not args.once, instance_ids=ids,
                                     kind=args.kind))
        ms = [x * 1000 for x in result["latencies"]]
        flood += ms
        frames += [x * 1000 for x in result["drawn"]]
        print(f"round {r + 1}: {result['sent']} agent events, {len(ms)} keys ({result['during']} while events were "
              f"still coming or waiting): median {statistics.median(ms):.1f} ms, max {max(ms):.1f} ms; to the "
              f"frame that shows it: median {statistics.median(result['drawn']) * 1000:.1f} ms")
    idle = [x * 1000 for x in asyncio.run(measure(0, args.keys, instance_ids=ids, kind=args.kind))["latencies"]]
    print(f"for comparison, no agent events: median {statistics.median(idle):.1f} ms, max {max(idle):.1f} ms")
    print(f"input latency under a {'burst' if args.once else 'flood'} of >= {args.burst} agent events: "
          f"median {statistics.median(flood):.1f} ms, max {max(flood):.1f} ms over {len(flood)} keys (to the frame "
          f"that shows it: median {statistics.median(frames):.1f} ms, max {max(frames):.1f} ms), "
          f"{len(ids)} issues in the queue (target: median <= 50 ms)")


if __name__ == "__main__":
    main()
