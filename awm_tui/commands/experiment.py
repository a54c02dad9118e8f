"""`awm-tui experiment SPEC --arms memory=off,on [--seeds N]`: every arm and seed as a normal resumable run in one
experiment folder (headless, one after another), then the comparison of the arms (awm.experiment.arms)."""

from __future__ import annotations

import argparse
import sys

from awm.fmt import count


def parser() -> argparse.ArgumentParser:
    from awm_tui.commands.parsing import Parser  # one-paragraph mistakes, exit status 2

    p = Parser(
        prog="awm-tui experiment",
        description="Run a spec under several arms (and seeds), each a normal resumable run in one experiment "
        "folder, then compare the arms (report.md, report.html and plots in the folder's report/). Ctrl-C stops at "
        "the next safe point; `--resume FOLDER` goes on where it stopped.",
    )
    p.add_argument("spec", nargs="?", help="the run spec (YAML), e.g. specs/demo.yaml")
    p.add_argument("--arms", action="append", default=[], metavar="FIELD=V1,V2",
                   help="the arms: a spec field and its values, the first the reference, e.g. memory=off,on or "
                   "memory.retrieval=bm25,all; repeat for every combination")
    p.add_argument("--seeds", type=int, default=1, metavar="N", help="runs per arm (dataset.seed 1..N; with "
                   "dataset.order: shuffle each seed is another order, shared by the arms)")
    p.add_argument("--limit", type=int, metavar="N", help="at most N issues per run (the first N by id)")
    p.add_argument("--order", choices=("id", "chronological", "shuffle"), help="dataset.order for every run")
    p.add_argument("--workers", type=int, metavar="K", help="issues in flight per run (spec: workers)")
    p.add_argument("--output-dir", metavar="DIR", help="the experiment's folder (default: under the user data dir)")
    p.add_argument("--replay", action="store_true", help="after each run of a memory arm, its replay: the same "
                   "issues in the same order with the run's final memory frozen (`awm-tui replay`); the comparison "
                   "then reports forward and backward transfer, forgetting and the AULC per memory arm")
    p.add_argument("--ablate", metavar="top:K|ID,ID", help="after the runs and replays (implies --replay), for each "
                   "of the K entries each replay gave most (or the entries named), that run's issues given it again "
                   "with the same frozen memory minus the entry; the comparison reports each entry's causal effect. "
                   "The cost (entries x issues) is printed and asked about first")
    p.add_argument("--yes", action="store_true", help="do not ask before --ablate's runs (needed headless)")
    p.add_argument("--resume", metavar="FOLDER", help="resume an experiment: its unfinished runs, then the comparison")
    p.add_argument("--quiet", action="store_true", help="print only each run's start and summary")
    return p


def main(argv: list[str], pending: list[int] | None = None) -> int:
    """`awm-tui experiment SPEC --arms ...` (or --resume FOLDER): every arm's runs one after another, headless, then
    their comparison.

    Args:
        argv: the arguments after `experiment`.
        pending: signals that came before the handlers were installed (awm_tui.commands.cli.hold_signals): each is
            handled as soon as they are.

    Returns:
        0 when the experiment is complete, stopped by a signal (resumable) or not started (the ablation declined);
        2 when a run ended otherwise (aborted, crashed): the experiment stops there, resumable once fixed.

    Raises:
        UserError: a mistake on the command line or in the spec, the arms or the folder (one paragraph, exit
            status 2).
        SystemExit: from argparse, for --help (status 0).
    """
    args = parser().parse_args(argv)
    from awm.errors import UserError
    from awm_tui.commands.headless import Stopper

    stopper = Stopper().install(pending=pending or [])
    from awm.experiment import arms as plan_mod

    if args.resume:
        if args.spec or args.arms or args.replay or args.ablate:
            raise UserError(f"--resume {args.resume} goes on with the experiment's own spec, arms and replays; give "
                            "only --resume (and --quiet).")
        experiment = plan_mod.Experiment.load(args.resume)
    else:
        if not args.spec:
            raise UserError("give a run spec and the arms, e.g. `awm-tui experiment specs/demo.yaml --arms "
                            "memory=off,on --seeds 2 --limit 8`, or --resume FOLDER.")
        from awm.spec import load_spec

        overrides = {k: v for k, v in {"dataset.limit": args.limit, "dataset.order": args.order,
                                       "workers": args.workers}.items() if v is not None}
        spec = load_spec(args.spec, overrides)  # a bad spec or flag is refused before the folder is made
        arms = plan_mod.parse_arms(args.arms)
        choice = None
        if args.ablate:
            from awm.experiment import ablation

            choice = ablation.parse(args.ablate)
            args.replay = True  # an ablation is a replay minus one entry
        replay_arms = []
        for arm in arms:  # every arm's spec checked now, not when its first run comes
            try:
                arm_spec = load_spec(args.spec, {**overrides, **arm.fields})
            except UserError as exc:
                raise UserError(f"--arms: the arm {arm.name} is not a valid run: {exc.message}") from None
            if args.replay and arm_spec.memory.on:
                replay_arms.append(arm.name)
        if args.replay and not replay_arms:
            raise UserError(f"--replay replays the runs of the arms with memory on, and no arm of --arms "
                            f"{' '.join(args.arms)} has it. Add one, e.g. `--arms memory=off,on --replay`.")
        if args.output_dir:  # a file there or on the way, a folder that cannot be written: refused now
            from awm.paths import check_destination

            check_destination(args.output_dir, "experiment: --output-dir", empty=True,
                              fix="Choose a new (or empty) folder you can write to for the experiment.")
        if choice is not None and not _ablation_agreed(args, choice, spec, len(replay_arms) * args.seeds):
            print("awm-tui: nothing was run or written.", file=sys.stderr)
            return 0
        experiment = plan_mod.plan(args.spec, arms, args.seeds, overrides, args.output_dir, spec.name, replay_arms,
                                   choice.text if choice is not None else "")
    replaying = f", replays of {', '.join(experiment.replay_arms)}" if experiment.replay_arms else ""
    print(f"awm-tui: experiment {experiment.dir}: arms {', '.join(a.name for a in experiment.arms)} "
          f"(reference {experiment.arms[0].name}), {count(experiment.seeds, 'seed')}{replaying}; resume with "
          f"`awm-tui experiment --resume {experiment.dir}`", flush=True)
    for run in [*experiment.runs(), None]:
        if run is None:  # the ablations: known once every replay is completed
            ablations = experiment.ablation_runs()
            if not ablations:
                break
            if not _run_all(experiment, ablations, stopper, args.quiet):
                return 0 if stopper.stop_requested else 2
            break
        outcome = _run_one(experiment, run, stopper, args.quiet)
        if outcome == "stopped":
            print(f"awm-tui: experiment stopped; resume with `awm-tui experiment --resume {experiment.dir}`",
                  file=sys.stderr, flush=True)
            return 0
        if outcome != "completed":
            print(f"awm-tui: the experiment stops here: run {run.dir.name} ended {outcome}; fix the cause and resume "
                  f"with `awm-tui experiment --resume {experiment.dir}`", file=sys.stderr)
            return 2
    from awm.experiment.compare import compare, load_arm
    from awm.experiment.report import write_report

    comparison = compare([load_arm(name, dirs) for name, dirs in experiment.arm_dirs()])
    if experiment.replay_arms:
        from awm.experiment.continual import attach
        from awm.experiment.runs import read_run

        replays = [read_run(d) for d in experiment.replay_dirs()]
        attach(comparison, replays)
        if experiment.ablate:
            from awm.experiment import ablation

            ablation.attach(comparison, replays, [read_run(r.dir) for r in experiment.ablation_runs()])
    write_report(comparison, experiment.report_dir)
    print(comparison.summary())  # it ends with where the report is
    return 0


def _run_one(experiment, run, stopper, quiet: bool) -> str:
    """Run (or resume, or skip when completed) one run of the experiment: its outcome."""
    from awm.errors import located
    from awm.run.launch import launch_spec, prepare_engine
    from awm.run.loop import Controls
    from awm.run.store import RunState, RunStore
    from awm_tui.commands.headless import HeadlessPrinter

    if stopper.stop_requested:
        return "stopped"
    resume = str(run.dir) if RunStore(run.dir).config_path.is_file() else None
    if resume and RunStore(run.dir).state() == RunState.COMPLETED:
        return "completed"
    what = f"ablation of {run.withhold} in " if run.withhold else "replay of " if run.replay_of else ""
    label = f"{what}{run.arm}, seed {run.seed}"
    print(f"awm-tui: experiment run {run.dir.name} ({label}): {'resuming' if resume else 'starting'}", flush=True)
    if run.replay_of is None:
        spec = launch_spec(experiment.spec_path, resume, experiment.run_overrides(run))
    elif resume:  # the replay's recorded flags make it the replay again
        spec = launch_spec(experiment.spec_path, resume, {})
    else:
        from awm.run import replay

        source = replay.source_run(str(run.replay_of), command="experiment --replay")
        extra = None
        if run.withhold:
            from awm.experiment import ablation

            extra = ablation.overrides(str(source.recorded_spec().get("name") or source.run_id), run.withhold,
                                       list(run.issues))
        spec = replay.replay_spec(source, extra)
    controls = stopper.attach(Controls())
    engine = prepare_engine(spec, [HeadlessPrinter(quiet=quiet or not spec.verbose)], resume,
                            None if resume else str(run.dir), controls)
    stopper.run_dir = str(engine.store.dir)
    with located(spec.path):
        finished = engine.run()
    if finished.outcome == "completed":
        return "completed"
    return "stopped" if stopper.stop_requested else str(finished.outcome)


def _run_all(experiment, runs, stopper, quiet: bool) -> bool:
    """Run these runs of the experiment in turn; False (said on stderr) when one stopped or ended otherwise."""
    for run in runs:
        outcome = _run_one(experiment, run, stopper, quiet)
        if outcome == "stopped":
            print(f"awm-tui: experiment stopped; resume with `awm-tui experiment --resume {experiment.dir}`",
                  file=sys.stderr, flush=True)
            return False
        if outcome != "completed":
            print(f"awm-tui: the experiment stops here: run {run.dir.name} ended {outcome}; fix the cause and resume "
                  f"with `awm-tui experiment --resume {experiment.dir}`", file=sys.stderr)
            return False
    return True


def _ablation_agreed(args, choice, spec, memory_runs: int) -> bool:
    """--ablate's cost, printed before anything runs: at most (entries x issues) issue runs per memory run (each
    entry is run on the issues its replay gave it, at most every issue). Asked to confirm on a terminal; headless,
    --yes is the confirmation (without it, a one-paragraph refusal)."""
    from awm.dataset import load_issues
    from awm.errors import UserError

    issues = args.limit or len(load_issues(spec.dataset))
    each = choice.entries * issues
    print(f"awm-tui: --ablate {choice.text}: up to {count(choice.entries, 'entry')} x {count(issues, 'issue')} = "
          f"{count(each, 'issue run')} per memory run, {count(memory_runs, 'memory run')}: up to "
          f"{count(each * memory_runs, 'issue run')} besides the experiment's {issues:,} per run and replay (each "
          "entry runs only on the issues its replay gave it).", flush=True)
    if args.yes:
        return True
    if not sys.stdin.isatty():
        raise UserError(f"--ablate {choice.text} may run up to {each * memory_runs} more issues (printed above), and "
                        "there is no terminal to ask whether to go on. Add --yes to run them, or leave out --ablate.")
    answer = input("Run them? [y/N] ").strip().lower()
    return answer in ("y", "yes")
