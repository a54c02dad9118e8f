"""`awm-tui replay RUN [--output-dir DIR]`: a finished run's issues again, in the same order, with the run's final
memory frozen (awm.run.replay), headless; a new run whose config.json names its source (`replay_of`), resumable
like any run (`awm-tui --no-ui --resume DIR`)."""

from __future__ import annotations

import argparse
import sys


def parser() -> argparse.ArgumentParser:
    from awm_tui.commands.parsing import Parser  # one-paragraph mistakes, exit status 2

    p = Parser(
        prog="awm-tui replay",
        description="Run a finished run's issues again, in the same order, with its final memory frozen: given to "
        "the agent as it is (retrieval as usual), never changed (no induction, no edits, no usefulness counts). The "
        "replay is a new run (resumable, listed by the run picker) whose config.json names its source; compare it "
        "with the source for backward transfer and forgetting (`awm-tui experiment ... --replay` does it for you).",
    )
    p.add_argument("run", metavar="RUN", help="the finished run (its folder, or its name under the runs folder)")
    p.add_argument("--output-dir", metavar="DIR", help="the replay's folder (default: beside the run, "
                   "RUN-replay)")
    p.add_argument("--quiet", action="store_true", help="print only the start and the final summary")
    return p


def main(argv: list[str], pending: list[int] | None = None) -> int:
    """`awm-tui replay RUN`: a finished run's issues again, headless, with its final memory frozen.

    Args:
        argv: the arguments after `replay`.
        pending: signals that came before the handlers were installed (awm_tui.commands.cli.hold_signals).

    Returns:
        0 when the replay completed or was stopped (paused, resumable); 2 when it ended aborted.

    Raises:
        UserError: a mistake on the command line, a run that cannot be replayed (unfinished, memory off, no
            memory.json, its spec gone) or a folder that cannot be written (one paragraph, exit status 2).
        SystemExit: from argparse, for --help (status 0).
    """
    args = parser().parse_args(argv)
    from awm_tui.commands.headless import HeadlessPrinter, Stopper

    stopper = Stopper().install(pending=pending or [])
    from awm.errors import located
    from awm.run import replay
    from awm.run.launch import prepare_engine
    from awm.run.loop import Controls

    source = replay.source_run(args.run)
    spec = replay.replay_spec(source)
    output = args.output_dir
    if output:
        from awm.paths import check_destination

        check_destination(output, "replay: --output-dir", empty=True,
                          fix="Choose a new (or empty) folder you can write to for the replay.")
    else:
        output = str(replay.default_folder(source))
    controls = stopper.attach(Controls())
    if controls.stop_requested.is_set():
        print("awm-tui: stopped before the replay started; nothing was run or written.", file=sys.stderr)
        return 0
    print(f"awm-tui: replay of {source.dir} ({len(spec.dataset.instance_ids)} issues, its final memory frozen) "
          f"into {output}", flush=True)
    engine = prepare_engine(spec, [HeadlessPrinter(quiet=args.quiet or not spec.verbose, err=sys.stderr)], None,
                            output, controls)
    stopper.run_dir = str(engine.store.dir)
    with located(spec.path):
        finished = engine.run()
    return 2 if finished.outcome == "aborted" else 0
