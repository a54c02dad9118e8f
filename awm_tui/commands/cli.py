"""The `awm-tui` command. Only argparse at import time: `--help` must be instant."""

from __future__ import annotations

import argparse
import os
import signal
import sys

from awm import runfiles
from awm.fmt import count

EPILOG = """\
Every way a run ends is a safe stop: q, Ctrl-C, Ctrl+Q or the palette's Quit in the app; Ctrl-C, SIGTERM or SIGHUP
(a closed terminal) in either mode. The engine stops at the next safe point (the issue in flight is dropped and
redone on resume) and the run is recorded as paused; the app closes once the engine has stopped. Headless, a second
Ctrl-C quits at once (the run is then left interrupted, also resumable).

exit status: 0 the run completed, or was stopped safely (paused); 2 a mistake to fix (spec, flag, model, key) or a
run aborted after repeated errors; 130 quit at once by a second Ctrl-C; 1 an unexpected failure."""

# Signals that arrive before the app or the headless command has its own handlers (imports take seconds): kept
# here and handed on, so that a Ctrl-C in the first moments is a stop like any other, never a traceback.
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_pending: list[int] = []


def _remember(signum, frame) -> None:
    _pending.append(signum)


def hold_signals() -> None:
    for signum in SIGNALS:
        if signal.getsignal(signum) is not signal.SIG_IGN:  # nohup, background jobs: stay ignored
            signal.signal(signum, _remember)


def number(text: str) -> int | str:
    """An integer flag's value; anything else goes to the spec's check, which names the flag in one paragraph."""
    try:
        return int(text)
    except ValueError:
        return text


def parser() -> argparse.ArgumentParser:
    from awm_tui.commands.parsing import Parser  # one-paragraph mistakes, exit status 2

    p = Parser(
        prog="awm-tui",
        description="Run the OpenHands coding agent on SWE-bench issues one at a time, learning reusable "
        "workflows from its successes (Agent Workflow Memory).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("spec", nargs="?", help="run spec (YAML), e.g. specs/demo.yaml; without one, the run picker opens, "
                   "or with --llm-config a run on awm-tui's defaults (specs/django.yaml), as the design's command "
                   "line. "
                   "Other commands (each has --help): `awm-tui evaluate`, `memory`, `compare`, `experiment`, `replay`, "
                   "`export`, "
                   "`serve` (the app in a browser), `watch` (follow a run another process runs)")
    p.add_argument("--no-ui", action="store_true", help="run headless: one line per issue, for servers and logs")
    p.add_argument("--resume", metavar="RUN", help="resume a run (its folder, or its name under the runs folder)")
    p.add_argument("--resume-from", metavar="CHECKPOINT", help="resume the run whose checkpoint.json this is (or "
                   "its folder): the same as --resume with the run's folder")
    spec_flags(p)
    return p


def spec_flags(p: argparse.ArgumentParser) -> None:
    """The flags that set spec fields, as the spec's dataclasses declare them (awm.spec.FLAGS: name, help, metavar;
    an integer field's flag takes a number, a `const` flag none)."""
    from awm.spec import FIELDS, FLAGS

    for key, flag in FLAGS.items():
        if flag.const is not None:
            p.add_argument(flag.name, action="store_const", const=flag.const, help=flag.help)
        else:
            integer = key in FIELDS and FIELDS[key].kind == "int"
            p.add_argument(flag.name, action="append" if flag.repeat else "store", metavar=flag.metavar,
                           help=flag.help, type=number if integer else str)


def overrides(args: argparse.Namespace) -> dict:
    """The flags as spec fields (awm.spec.FLAGS: each field's flag; OVERRIDE_FLAGS names it in messages)."""
    from awm.spec import FLAGS

    table = {key: getattr(args, flag.dest, None) for key, flag in FLAGS.items()}
    return {k: v for k, v in table.items() if v is not None}


def resume_target(args: argparse.Namespace) -> str | None:
    """The run to resume: --resume RUN, or --resume-from a checkpoint.json (the design's form) or a run folder."""
    from pathlib import Path

    from awm.errors import UserError

    if not args.resume_from:
        return args.resume
    given = args.resume_from
    if args.resume:
        raise UserError(f"--resume {args.resume} and --resume-from {given} both say which run to resume; give one.")
    path = Path(given).expanduser()
    if not path.exists():
        raise UserError(f"--resume-from {given}: no such file or folder. Give a run's checkpoint.json (e.g. "
                        "runs/demo-20250101-120000/checkpoint.json) or its folder.")
    folder = path if path.is_dir() else path.parent
    if not (folder / runfiles.CONFIG).is_file():
        raise UserError(f"--resume-from {given}: {folder} is not a run folder (it has no config.json). Give the "
                        "checkpoint.json of a run awm-tui made, or its folder.")
    return str(folder)


def evaluate_parser() -> argparse.ArgumentParser:
    from awm_tui.commands.parsing import Parser  # one-paragraph mistakes, exit status 2

    p = Parser(
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
    p.add_argument("--backend", choices=["local", "swebench-docker", "swebench-modal"],
                   help="evaluation backend (default: the "
                   "spec's, else local)")
    p.add_argument("--timeout-minutes", type=float, default=30.0, help="per-instance test timeout")
    p.add_argument("--run-id", help="name of this evaluation (default: a timestamp)")
    p.add_argument("--output-dir", help="where reports go (default: evaluation-<run id> next to the predictions)")
    return p


def watch_parser() -> argparse.ArgumentParser:
    from awm_tui.commands.parsing import Parser  # one-paragraph mistakes, exit status 2

    p = Parser(prog="awm-tui watch", description="Follow a run another process runs (a headless run, another "
               "terminal's app): the run screen, read-only, updated within a second or two as the run's folder grows. "
               "p asks that process to pause after the issue in flight, S to stop at the next safe point (both are "
               "the run's own safe stops); q quits the watcher and leaves the run going. Any number of watchers may "
               "follow one run.")
    p.add_argument("run", nargs="?", metavar="RUN", help="the run: its folder, or its name under the runs folder "
                   "(default: the most recent run a process runs now)")
    return p


def run_watch(argv: list[str]) -> int:
    args = watch_parser().parse_args(argv)
    hold_signals()
    from awm_tui.commands import watch

    return watch.main(args.run, _pending)


def main(argv: list[str] | None = None) -> int:
    """The `awm-tui` console script: the subcommand named first (evaluate, memory, compare, export, serve, watch,
    replay, experiment), else a run in the app or, with --no-ui, headless.

    Args:
        argv: the arguments after the program's name; None: the process's own (sys.argv[1:]).

    Returns:
        The exit status: 0 when the command did what was asked (a stopped run is paused, not failed), 2 for a
        user's mistake (printed as one paragraph: awm.errors.UserError) or a run that ended aborted, 130 for an
        interruption no handler of ours caught.

    Raises:
        SystemExit: from argparse, for --help (status 0).
    """
    argv = sys.argv[1:] if argv is None else argv
    try:
        if argv[:1] == ["evaluate"]:
            return guarded(lambda: run_evaluate(evaluate_parser().parse_args(argv[1:])))
        if argv[:1] == ["memory"]:
            from awm_tui.commands import memory as memory_cmd

            return guarded(lambda: memory_cmd.main(argv[1:]))
        if argv[:1] == ["compare"]:
            from awm_tui.commands import compare as compare_cmd

            return guarded(lambda: compare_cmd.main(argv[1:]))
        if argv[:1] == ["export"]:
            from awm_tui.commands import export as export_cmd

            return guarded(lambda: export_cmd.main(argv[1:]))
        if argv[:1] == ["serve"]:  # the app in a browser (textual-serve)
            from awm_tui.commands import serve

            return guarded(lambda: serve.main(argv[1:], parse_app_args))
        if os.environ.get("AWM_TUI_SERVED"):  # a browser tab's app (awm-tui serve): closing the tab quits safely
            from awm_tui.commands.serve import serve_safely

            serve_safely()
        if argv[:1] == ["watch"]:  # follow a run another process runs
            return guarded(lambda: run_watch(argv[1:]))
        if argv[:1] == ["replay"]:  # a finished run's issues again with its final memory frozen
            from awm_tui.commands import replay as replay_cmd

            hold_signals()
            from awm_tui.process import quick_exit

            quick_exit()
            return guarded(lambda: replay_cmd.main(argv[1:], _pending))
        if argv[:1] == ["experiment"]:
            from awm_tui.commands import experiment as experiment_cmd

            hold_signals()
            from awm_tui.process import quick_exit

            quick_exit()
            return guarded(lambda: experiment_cmd.main(argv[1:], _pending))
        from awm.errors import UserError

        try:
            args = parser().parse_args(argv)
        except UserError as exc:  # a mistake on the command line (awm_tui.commands.parsing): one paragraph
            print(f"awm-tui: {exc.message}", file=sys.stderr)
            return exc.exit_code
        hold_signals()
        return guarded(lambda: run_headless(args) if args.no_ui else run_app(args))
    except KeyboardInterrupt:  # only where no handler of ours is on (evaluate): one line, never a traceback
        print("awm-tui: interrupted", file=sys.stderr)
        return 130


def parse_app_args(args: list[str]) -> argparse.Namespace:
    """The arguments of the app (`awm-tui ...` or `awm-tui watch ...`), parsed: what `awm-tui serve` checks once."""
    if args[:1] == ["watch"]:
        return watch_parser().parse_args(args[1:])
    return parser().parse_args(args)


def guarded(command) -> int:
    from awm.errors import UserError

    try:
        return command()
    except UserError as exc:
        print(f"awm-tui: {exc.message}", file=sys.stderr)
        return exc.exit_code


def run_app(args: argparse.Namespace) -> int:
    from awm_tui.app import AwmApp
    from awm_tui.session import Launch

    resume = resume_target(args)
    flags = overrides(args)
    # flags without a spec: a run on the packaged defaults (--llm-config), or the message saying what is missing
    launch = Launch(args.spec, resume, flags) if (args.spec or resume or flags) else None
    app = AwmApp(launch)
    served = bool(os.environ.get("AWM_TUI_SERVED"))  # a browser tab's app (awm-tui serve): stdout is its page's
    app.install_signal_handlers(pending=_pending)
    from awm_tui.process import quick_exit

    quick_exit()  # the process ends within a second of the app's last frame
    try:
        app.run()
    finally:
        for line in app.exit_summary():  # where each run stands, its folder, how to resume it (whatever happened)
            print(line, file=sys.stderr if served else sys.stdout)
    from awm_tui.session import lingering

    if lingering():  # a start-up a stop left behind (still importing, checking...): not waited for
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(app.return_code or 0)
    return app.return_code or 0


def run_headless(args: argparse.Namespace) -> int:
    from awm_tui.commands.headless import HeadlessPrinter, Stopper
    from awm_tui.process import quick_exit

    stopper = Stopper().install(pending=_pending)  # before anything slow: a stop from the first moment on
    quick_exit()
    from awm.errors import located
    from awm.run.launch import launch_spec, prepare_engine
    from awm.run.loop import Controls

    resume = resume_target(args)
    controls = stopper.attach(Controls())
    spec = launch_spec(args.spec, resume, overrides(args))
    if controls.stop_requested.is_set():
        print("awm-tui: stopped before the run started; nothing was run or written.", file=sys.stderr)
        return 0
    # an aborted run's stop message goes to stderr, once (the printer's), with exit status 2
    printer = HeadlessPrinter(quiet=not spec.verbose, err=sys.stderr)
    engine = prepare_engine(spec, [printer], resume, args.output_dir, controls)
    stopper.run_dir = str(engine.store.dir)  # a stop already asked for: run() records the run paused, at once
    with located(spec.label):
        finished = engine.run()
    return 2 if finished.outcome == "aborted" else 0


def run_evaluate(args: argparse.Namespace) -> int:
    import dataclasses
    import time
    from pathlib import Path

    from awm.dataset import load_issues
    from awm.errors import UserError, located
    from awm.grading.backends import make_evaluator
    from awm.grading.regrade import read_predictions, regrade
    from awm.paths import repo_cache_root
    from awm.repos import RepoCache
    from awm.spec import DatasetSpec, LLMSpec, RunSpec, load_spec

    predictions_path = Path(args.predictions).expanduser()
    if predictions_path.is_dir():
        raise UserError(f"evaluate: {predictions_path} is a folder, not a predictions file. Give a predictions "
                        ".jsonl or .json file (instance_id, model_name_or_path, model_patch per prediction).")
    predictions = read_predictions(predictions_path)
    _check_predictions(predictions, predictions_path)
    if args.timeout_minutes <= 0:
        raise UserError(f"evaluate: --timeout-minutes {args.timeout_minutes:g} is not a time limit; give a "
                        "number of minutes above 0, e.g. --timeout-minutes 30.")
    run_id = args.run_id or time.strftime("eval-%Y%m%d-%H%M%S")
    if not run_id.strip() or "/" in run_id or run_id.startswith(".") or len(run_id) > 100:
        raise UserError(f"evaluate: --run-id {run_id!r} cannot name the report files (it needs no '/', no "
                        "leading '.', at most 100 characters). Give e.g. --run-id eval-1.")
    out_dir = (Path(args.output_dir).expanduser() if args.output_dir else
               predictions_path.parent / f"evaluation-{run_id}")
    from awm.paths import check_destination

    check_destination(out_dir, "evaluate: --output-dir" if args.output_dir else
                      "evaluate: the report folder", fix="Give --output-dir a folder you can write to (it is "
                      "made if missing).")
    if args.spec:
        spec = load_spec(args.spec)
    elif args.dataset:
        repos = dict(item.split("=", 1) for item in args.repo if "=" in item)
        spec = RunSpec(llm=LLMSpec(model="none"), dataset=DatasetSpec(name=args.dataset, split=args.split,
                                                                      repo_filter=[]), repos=repos)
    else:
        raise UserError("evaluate: say which dataset the predictions are for: --spec SPEC or --dataset NAME.")
    dataset = DatasetSpec(name=spec.dataset.name, split=spec.dataset.split, repo_filter=[],
                          instance_ids=sorted({p["instance_id"] for p in predictions}))
    try:
        issues = load_issues(dataset)
    except UserError as exc:
        if args.spec:
            raise exc.at(spec.path) from None
        # no spec file to name: the flag the dataset came from, and the predictions it was asked for
        raise UserError(f"evaluate --dataset {args.dataset} (for {predictions_path}): {exc.text}") from None
    backend = args.backend or (spec.evaluation.backend if args.spec and spec.evaluation.backend != "none" else "local")
    from awm.run.launch import check_harness_knows

    try:
        check_harness_knows(backend, issues)
    except UserError as exc:
        if args.backend:
            fix = exc.text.replace("Set `evaluation.backend: local`", "Use --backend local")
            raise UserError(f"evaluate --backend {backend}: {fix}") from None
        raise exc.at(spec.path) from None
    work = out_dir / ".work"
    work.mkdir(parents=True, exist_ok=True)
    evaluation = dataclasses.replace(spec.evaluation, backend=backend, timeout_minutes=args.timeout_minutes)
    with located(spec.path):
        evaluator = make_evaluator(evaluation, RepoCache(repo_cache_root(), spec.repos), work,
                                   run_dir=out_dir, run_tag=run_id, model_name=predictions[0].get(
                                       "model_name_or_path", "unknown") if predictions else "unknown")

    def show(iid, status, reason):
        print(f"{iid}  {status.value}  {reason}".rstrip(), flush=True)

    report = regrade(predictions, issues, evaluator, out_dir, run_id, show)
    work.rmdir() if work.exists() and not any(work.iterdir()) else None
    print(f"awm-tui evaluate: {report['resolved_instances']} resolved of {report['submitted_instances']} submitted "
          f"({report['completed_instances']} completed, {report['empty_patch_instances']} empty, "
          f"{report['error_instances']} errors); reports in {out_dir}")
    return 0


def _check_predictions(predictions: list[dict], path) -> None:
    """A predictions file grades each instance once: none, or one id twice (both verdicts would be counted), is
    refused before anything is graded."""
    from awm.errors import UserError

    if not predictions:
        raise UserError(f"evaluate: {path} holds no predictions, so there is nothing to grade. Give a "
                        "predictions file with at least one {instance_id, model_name_or_path, model_patch} record "
                        "(e.g. a run's predictions.jsonl).")
    for n, pred in enumerate(predictions, 1):
        if not isinstance(pred["instance_id"], str) or not pred["instance_id"].strip():
            raise UserError(f"evaluate: {path}, record {n}: `instance_id` is {pred['instance_id']!r}, not an "
                            "instance id. Give each prediction its instance's id as a string, e.g. "
                            '"django__django-11099".')
        if not isinstance(pred["model_patch"], (str, type(None))):
            raise UserError(f"evaluate: {path}, record {n} ({pred['instance_id']}): `model_patch` is not "
                            "text. Give the patch as a string (a unified diff; empty for no patch).")
    seen: dict[str, int] = {}
    for pred in predictions:
        seen[pred["instance_id"]] = seen.get(pred["instance_id"], 0) + 1
    repeated = [iid for iid, count in seen.items() if count > 1]
    if repeated:
        shown = ", ".join(f"{iid} ({seen[iid]} times)" for iid in repeated[:5]) + (" …" if len(repeated) > 5 else "")
        raise UserError(f"evaluate: {path} has more than one prediction for {count(len(repeated), 'instance')}: "
                        f"{shown}; each instance is graded once. Keep one prediction per instance_id.")


if __name__ == "__main__":
    sys.exit(main())
