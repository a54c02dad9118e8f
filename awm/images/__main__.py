"""`python -m awm.images demo`: build (or find current) every image the demo needs in Docker: the Debian base, the
harness's base, environment and 24 instance images, and the agent server's volume. Prints a line per step built
and the seconds each kind took; exit status 1 with the failing step's message when one fails, 2 with no engine."""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m awm.images", description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["demo"], help="the image set to build")
    parser.add_argument("--no-agent-server", action="store_true", help="skip the agent server's volume")
    args = parser.parse_args(argv)

    from awm import demo
    from awm.images import engine
    from awm.images.build import Builder, ImageError
    from awm.images.specs import build_test_spec
    from awm.repos import RepoCache

    why = engine.unreachable()
    if why:
        print(f"awm.images: no Docker engine is reachable ({why}); start one with scripts/docker-up.sh",
              file=sys.stderr)
        return 2
    started = time.monotonic()
    builder = Builder(engine.client(timeout=600), say=lambda text: print(f"awm.images: {text}", flush=True))
    from awm.demo.minibench import load_instances

    try:
        with tempfile.TemporaryDirectory(prefix="awm-images-") as tmp:
            cache = RepoCache(Path(tmp) / "repos", {demo.REPO: demo.BUILTIN})
            rows = load_instances()
            mirror = cache.mirror(demo.REPO)
            for row in rows:
                builder.instance(build_test_spec(row, None), mirror)
        if not args.no_agent_server:
            print(f"awm.images: agent server volume {builder.agent_server()}", flush=True)
    except ImageError as exc:
        print(f"awm.images: {exc}", file=sys.stderr)
        return 1
    spent = ", ".join(f"{kind} {seconds:g} s" for kind, seconds in builder.timings.items()) or "all current"
    print(f"awm.images: the demo's images are ready in {time.monotonic() - started:.0f} s ({spent})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
