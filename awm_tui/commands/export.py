"""`awm-tui export RUN DIR`: a run written as a submission folder of the SWE-bench experiments repository
(all_preds.jsonl, logs/, trajs/, results/, metadata.yaml, README.md), ready to go under evaluation/<split>/.

Only argparse at import time: `awm-tui export --help` is instant; the work is in awm.experiment.export."""

from __future__ import annotations

import argparse
import sys


def parser() -> argparse.ArgumentParser:
    from awm_tui.commands.parsing import Parser  # one-paragraph mistakes, exit status 2

    p = Parser(
        prog="awm-tui export",
        description="Write a run as a submission to the SWE-bench experiments repository "
        "(github.com/SWE-bench/experiments): all_preds.jsonl, logs/<instance_id>/ (patch, test output, report), "
        "trajs/<instance_id>.md (readable trajectories, with the workflows injected into the prompt), results/ "
        "(results.json, resolved_by_repo.json, resolved_by_time.json), metadata.yaml and README.md. An unfinished "
        "run exports its finished issues, with a warning.",
        epilog="Name DIR as the repository expects, <YYYYMMDD>_<model> (the command suggests one), and put it under "
        "evaluation/<split>/ in your fork; fill in metadata.yaml's TODOs (or give them with the flags).",
    )
    p.add_argument("run", metavar="RUN", help="the run (its folder, or its name under the runs folder)")
    p.add_argument("dir", metavar="DIR", help="the submission folder to write: new or empty (see --force)")
    p.add_argument("--name", help="the leaderboard entry's name (metadata.yaml info.name)")
    p.add_argument("--site", metavar="URL", help="a page about the system (info.site)")
    p.add_argument("--report", metavar="URL", help="the technical report or blog post (info.report)")
    p.add_argument("--authors", help="who made the submission, e.g. 'Ada Lovelace, Alan Turing' (info.authors)")
    p.add_argument("--org", help="your organisation (tags.org)")
    p.add_argument("--dataset", metavar="NAME|FILE", help="read the issues' repo and created_at from this dataset "
                   "(for results/resolved_by_time.json); a run's local dataset file is read without it, a hub "
                   "dataset only with it")
    p.add_argument("--force", action="store_true", help="DIR holds a previous export: rewrite its all_preds.jsonl, "
                   "metadata.yaml, README.md, logs/, trajs/ and results/ (other files are kept)")
    return p


def main(argv: list[str]) -> int:
    """`awm-tui export RUN DIR`: a run in the SWE-bench experiments layout (awm.experiment.export), with what to do
    next to submit it.

    Args:
        argv: the arguments after `export`.

    Returns:
        0 once the folder is written (warnings, if any, on stderr).

    Raises:
        UserError: a mistake on the command line, no such run, or a destination that cannot be written (one
            paragraph, exit status 2).
        SystemExit: from argparse, for --help (status 0).
    """
    from awm.fmt import plural

    args = parser().parse_args(argv)
    from pathlib import Path

    from awm.errors import UserError
    from awm.experiment.export import Entry, export_run
    from awm.run.store import find_run

    run = find_run(args.run)
    if run is None:
        raise UserError(f"export {args.run}: no run found there (no config.json in that folder, nor a run of "
                        "that name under the runs folder). `awm-tui` lists the runs.")
    entry = Entry(name=args.name, site=args.site, org=args.org, authors=args.authors, report=args.report)
    done = export_run(run, Path(args.dir), entry, force=args.force, dataset=args.dataset)
    for warning in done.warnings:
        print(f"awm-tui export: warning: {warning}", file=sys.stderr)
    results = done.results
    print(f"exported {done.finished:,} finished {plural(done.finished, 'issue')} of {done.issues:,} (run {done.state}) "
          f"to {done.folder}: "
          f"resolved {len(results['resolved'])}, no_generation {len(results['no_generation'])}, "
          f"no_logs {len(results['no_logs'])}")
    for note in done.notes:
        print(f"note: {note}")
    audit = done.leak_audit
    hits = "not run" if audit.get("hits") is None else f"{audit['hits']} hit(s)"
    print(f"test knowledge: {done.test_knowledge.split(':')[0].removeprefix('This run ')}; memory leak audit: {hits} "
          "(README.md says more)")
    where = f"evaluation/{done.split or '<split>'}/{done.suggested_name}"
    named = "" if done.folder.name == done.suggested_name else f" (named {done.suggested_name})"
    print(f"to submit: put the folder at {where}{named} in your fork of SWE-bench/experiments"
          + (f"; fill in metadata.yaml's {', '.join(done.todo)}" if done.todo else "")
          + "; run `python -m analysis.get_results " + where + "` there and paste its output into the pull request "
          "with README.md's checklist.")
    return 0
