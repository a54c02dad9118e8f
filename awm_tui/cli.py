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


def evaluate_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="awm-tui evaluate",
        description="Grade a predictions file (awm-tui's or any tool's) against a dataset; writes the SWE-bench "
        "harness's report shapes.",
    )
    p.add_argument("predictions", help="predictions .jsonl or .json (instance_id, model_name_or_path, model_patch)")
    p.add_argument("--spec", help="take dataset, repos and evaluation settings from this run spec")
    p.add_argument("--dataset", help="hub name or local .json/.jsonl/.parquet (instead of --spec)")
    p.add_argument("--split", default="test", help="dataset split (default: test)")
    p.add_argument("--repo", action="append", default=[], metavar="REPO=SOURCE",
                   help="where to clone REPO from (URL or local path); repeatable")
    p.add_argument("--backend", choices=["local", "swebench-docker"], help="evaluation backend (default: the "
                   "spec's, else local)")
    p.add_argument("--timeout-minutes", type=float, default=30.0, help="per-instance test timeout")
    p.add_argument("--run-id", help="name of this evaluation (default: a timestamp)")
    p.add_argument("--output-dir", help="where reports go (default: evaluation-<run id> next to the predictions)")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    from awm.errors import UserError

    if argv[:1] == ["evaluate"]:
        try:
            return run_evaluate(evaluate_parser().parse_args(argv[1:]))
        except UserError as exc:
            print(f"awm-tui: {exc.message}", file=sys.stderr)
            return exc.exit_code
    args = parser().parse_args(argv)

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

    if resume:
        config = RunStore.open(resume).config()
        # The run's issue list is part of what it is: a run started with --limit 6 resumes with 6 issues, not
        # with the spec file's (a bigger limit can still be given: --limit N).
        limit = config.get("spec", {}).get("dataset", {}).get("limit")
        if limit is not None and "dataset.limit" not in overrides:
            overrides = {**overrides, "dataset.limit": limit}
    if resume and not spec_path:
        spec_path = config.get("spec_path")
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
    from awm.loop import prepare_engine
    from awm_tui.headless import HeadlessPrinter

    spec = load_launch_spec(args.spec, args.resume, overrides(args))
    engine = prepare_engine(spec, [HeadlessPrinter(quiet=not spec.verbose)], args.resume, args.output_dir)

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


def run_evaluate(args: argparse.Namespace) -> int:
    import dataclasses
    import time
    from pathlib import Path

    from awm.dataset import load_issues
    from awm.errors import UserError
    from awm.evaluation import make_evaluator
    from awm.locations import repo_cache_root
    from awm.regrade import read_predictions, regrade
    from awm.spec import DatasetSpec, LLMSpec, RunSpec, load_spec
    from awm.workspace import RepoCache

    predictions_path = Path(args.predictions).expanduser()
    predictions = read_predictions(predictions_path)
    if args.spec:
        spec = load_spec(args.spec)
    elif args.dataset:
        repos = dict(item.split("=", 1) for item in args.repo if "=" in item)
        spec = RunSpec(llm=LLMSpec(model="none"), dataset=DatasetSpec(name=args.dataset, split=args.split,
                                                                      repo_filter=[]), repos=repos)
    else:
        raise UserError("awm-tui evaluate: say which dataset the predictions are for: --spec SPEC or --dataset NAME.")
    dataset = DatasetSpec(name=spec.dataset.name, split=spec.dataset.split, repo_filter=[],
                          instance_ids=sorted({p["instance_id"] for p in predictions}))
    issues = load_issues(dataset, spec.path)
    run_id = args.run_id or time.strftime("eval-%Y%m%d-%H%M%S")
    out_dir = Path(args.output_dir).expanduser() if args.output_dir else predictions_path.parent / f"evaluation-{run_id}"
    backend = args.backend or (spec.evaluation.backend if args.spec and spec.evaluation.backend != "none" else "local")
    work = out_dir / ".work"
    work.mkdir(parents=True, exist_ok=True)
    evaluation = dataclasses.replace(spec.evaluation, backend=backend, timeout_minutes=args.timeout_minutes)
    evaluator = make_evaluator(evaluation, RepoCache(repo_cache_root(), spec.repos, spec.path), work,
                               run_dir=out_dir, run_tag=run_id, model_name=predictions[0].get(
                                   "model_name_or_path", "unknown") if predictions else "unknown",
                               spec_path=spec.path)

    def show(iid, status, reason):
        print(f"{iid}  {status.value}  {reason}".rstrip(), flush=True)

    report = regrade(predictions, issues, evaluator, out_dir, run_id, show)
    work.rmdir() if work.exists() and not any(work.iterdir()) else None
    print(f"awm-tui evaluate: {report['resolved_instances']} resolved of {report['submitted_instances']} submitted "
          f"({report['completed_instances']} completed, {report['empty_patch_instances']} empty, "
          f"{report['error_instances']} errors); reports in {out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
