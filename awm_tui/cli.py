"""The `awm-tui` command. Only argparse at import time: `--help` must be instant."""

from __future__ import annotations

import argparse
import signal
import sys


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="awm-tui",
        description="Run the OpenHands coding agent on SWE-bench issues one at a time, learning reusable "
        "workflows from its successes (Agent Workflow Memory).",
    )
    p.add_argument("spec", nargs="?", help="run spec (YAML), e.g. specs/demo.yaml; without one, the run picker opens")
    p.add_argument("--no-ui", action="store_true", help="run headless: one line per issue, for servers and logs")
    p.add_argument("--resume", metavar="RUN", help="resume a run (its folder, or its name under the runs folder)")
    p.add_argument("--llm-config", metavar="NAME", help="use [llm.NAME] of config.toml as the model")
    p.add_argument("--limit", type=int, metavar="N", help="process at most N issues")
    p.add_argument("--induction-trigger", type=int, metavar="N", help="induce workflows every N successes")
    p.add_argument("--max-workflows", type=int, metavar="N", help="keep at most N workflows in memory")
    p.add_argument("--output-dir", metavar="DIR", help="the run's folder (default: under the user data dir)")
    p.add_argument("--skip-evaluation", action="store_true", help="do not evaluate patches (verdicts: SKIPPED)")
    p.add_argument("--quiet", action="store_true", help="print only the start and the final summary")
    return p


def overrides(args: argparse.Namespace) -> dict:
    table = {
        "llm": args.llm_config,
        "dataset.limit": args.limit,
        "induction.trigger": args.induction_trigger,
        "induction.max_workflows": args.max_workflows,
        "output_dir": args.output_dir,
        "evaluation.backend": "none" if args.skip_evaluation else None,
        "verbose": False if args.quiet else None,
    }
    return {k: v for k, v in table.items() if v is not None}


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from awm.errors import UserError

    try:
        if args.no_ui:
            return run_headless(args)
        return run_app(args)
    except UserError as exc:
        print(f"awm-tui: {exc.message}", file=sys.stderr)
        return exc.exit_code


def load_launch_spec(spec_path: str | None, resume: str | None, overrides: dict):
    """The spec of a new run, or of the run being resumed (its recorded spec file unless one is given)."""
    from awm.errors import UserError
    from awm.runstore import RunStore
    from awm.spec import load_spec

    if resume and not spec_path:
        spec_path = RunStore.open(resume).config().get("spec_path")
        if not spec_path:
            raise UserError(f"--resume {resume}: the run does not record its spec file; give it: "
                            f"`awm-tui --resume {resume} SPEC`.")
    if not spec_path:
        raise UserError("no run spec given. Usage: `awm-tui --no-ui specs/demo.yaml` (see `awm-tui --help`).")
    return load_spec(spec_path, overrides)


def run_app(args: argparse.Namespace) -> int:
    from awm_tui.app import AwmApp
    from awm_tui.session import Launch

    launch = Launch(args.spec, args.resume, overrides(args)) if (args.spec or args.resume) else None
    app = AwmApp(launch)
    app.run()
    return app.return_code or 0


def run_headless(args: argparse.Namespace) -> int:
    from awm.loop import Engine, open_run
    from awm_tui.headless import HeadlessPrinter

    spec = load_launch_spec(args.spec, args.resume, overrides(args))
    store = open_run(spec, resume=args.resume, output_dir=args.output_dir)
    engine = Engine(spec, store, [HeadlessPrinter(quiet=not spec.verbose)])

    def interrupt(signum, frame):
        if engine.stop_requested.is_set():
            raise KeyboardInterrupt
        print("awm-tui: stopping at the next safe point (Ctrl-C again to quit at once)", file=sys.stderr)
        engine.stop()

    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)
    finished = engine.run()
    if finished.outcome == "aborted":
        print(f"awm-tui: {finished.message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
