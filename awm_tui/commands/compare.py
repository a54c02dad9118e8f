"""`awm-tui compare RUN RUN [RUN...]`: paired comparison of finished runs on the instances they share, with
statistics (Wilson intervals, McNemar's exact test, a paired bootstrap) and a report (report.md, a self-contained
report.html, PNG figures, comparison.json). The first run is the reference; each run is one arm."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from awm.fmt import count


def parser() -> argparse.ArgumentParser:
    from awm_tui.commands.parsing import Parser  # one-paragraph mistakes, exit status 2

    p = Parser(
        prog="awm-tui compare",
        description="Compare runs issue by issue on the SWE-bench instances they all finished: each run's resolved "
        "rate (95% Wilson interval), the difference with the first run (paired bootstrap interval, McNemar's exact "
        "test, wins and losses per instance), cost, tokens, steps and time per issue, learning curves with the "
        "induction rounds, memory injected and each workflow's usefulness. Writes report.md, report.html (opens "
        "offline), the figures as PNG and comparison.json, and prints a short summary. Runs made from different "
        "dataset rows are refused.",
    )
    p.add_argument("runs", nargs="+", metavar="RUN", help="a run's folder, or its name under the runs folder; the "
                   "first is the reference")
    p.add_argument("--names", metavar="A,B,...", help="labels for the runs, comma-separated, in the same order "
                   "(default: the run folders' names)")
    p.add_argument("--output-dir", metavar="DIR", help="where the report goes (default: compare-YYYYmmdd-HHMMSS in "
                   "the current folder)")
    p.add_argument("--bootstrap", type=int, default=10_000, metavar="N", help="bootstrap resamples for the "
                   "difference's interval (default: 10000)")
    p.add_argument("--seed", type=int, default=0, help="the bootstrap's random seed (default: 0)")
    p.add_argument("--replay", action="append", default=[], metavar="RUN", help="a replay (`awm-tui replay`) of "
                   "one of the runs, repeatable: each memory arm whose runs all have theirs gets forward and backward "
                   "transfer, forgetting and the AULC")
    p.add_argument("--rolling", type=int, metavar="W", help="the rolling success rate's window, in issues (default: "
                   "a tenth of the paired instances, at least 5)")
    return p


def main(argv: list[str]) -> int:
    """`awm-tui compare RUN_A RUN_B ...`: the runs paired on their common issues, the report written, its summary
    printed.

    Args:
        argv: the arguments after `compare`.

    Returns:
        0 once the report is written.

    Raises:
        UserError: a mistake on the command line, fewer than two runs, a run that cannot be read, or a report folder
            that cannot be written (the caller prints it as one paragraph, exit status 2).
        SystemExit: from argparse, for --help (status 0).
    """
    args = parser().parse_args(argv)
    from awm.errors import UserError

    if len(args.runs) < 2:
        raise UserError(f"compare {args.runs[0]}: one run given; a comparison needs at least two, the first "
                        "being the reference, e.g. `awm-tui compare RUN_A RUN_B`.")
    names = _names(args)
    from awm.paths import check_destination

    output = Path(args.output_dir or f"compare-{time.strftime('%Y%m%d-%H%M%S')}").expanduser()
    check_destination(output, "compare: --output-dir" if args.output_dir else "compare: the report folder",
                      fix="Choose a folder you can write to (it is made if missing), with --output-dir.")
    from awm.experiment.compare import compare, load_arm
    from awm.experiment.report import write_report

    arms = [load_arm(name, run) for name, run in zip(names, args.runs)]
    comparison = compare(arms, bootstrap=args.bootstrap, seed=args.seed, rolling=args.rolling)
    if args.replay:
        from awm.experiment.continual import attach
        from awm.experiment.runs import read_run

        attach(comparison, [read_run(run) for run in args.replay])
    write_report(comparison, output)
    print(comparison.summary())
    return 0


def _names(args: argparse.Namespace) -> list[str]:
    """The arms' labels: --names, or the run folders' names (numbered when two runs share a folder name)."""
    from awm.errors import UserError

    if args.names is not None:
        names = [n.strip() for n in args.names.split(",")]
        example = ",".join(f"arm{i}" for i in range(1, len(args.runs) + 1))
        if len(names) != len(args.runs):
            raise UserError(f"compare: --names {args.names!r} gives {count(len(names), 'label')} for {len(args.runs)} "
                            "runs. Give one non-empty label per run, comma-separated, in the runs' order, e.g. "
                            f"--names {example}.")
        if not all(names):
            empty = ", ".join(str(i) for i, n in enumerate(names, 1) if not n)
            raise UserError(f"compare: --names {args.names!r}: label {empty} is empty. Give one non-empty label per "
                            f"run, comma-separated, in the runs' order, e.g. --names {example}.")
        return names
    names = []
    for run in args.runs:
        base = Path(run).expanduser().resolve().name or run
        name, n = base, 1
        while name in names:
            n += 1
            name = f"{base} ({n})"
        names.append(name)
    return names
