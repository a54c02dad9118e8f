"""`awm-tui memory RUN list|show|disable|enable|pin|unpin|export|audit`: a run's memory, read, edited and audited.

Edits go into the run's operation log (memory_ops.jsonl: what, which entry, when); the engine applies the log before
every issue, so an edit made while the run is going takes effect from its next issue, and memory.json itself is only
ever written by the engine. `audit` (awm.memory.audit) lists the entries that name gold data: tests of the run's
issues, files and functions of later issues' fixes."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from awm.fmt import count

ACTIONS = ("list", "show", "disable", "enable", "pin", "unpin", "export", "audit")


def parser() -> argparse.ArgumentParser:
    from awm_tui.commands.parsing import Parser  # one-paragraph mistakes, exit status 2

    p = Parser(
        prog="awm-tui memory",
        description="Read or edit a run's workflow memory. disable/enable/pin/unpin are logged in the run folder "
        "(memory_ops.jsonl) and honoured from the run's next issue; export writes a memory.json another run can start "
        "from (`memory: {from: FILE}`); audit lists the entries whose text names a test of the run's issues "
        "(FAIL_TO_PASS, PASS_TO_PASS) or a file or function a later issue's gold patch changes.",
    )
    p.add_argument("run", metavar="RUN", help="the run (its folder, or its name under the runs folder)")
    p.add_argument("action", choices=ACTIONS, help="list the entries; show ID; disable/enable/pin/unpin ID; "
                   "export [FILE]; audit")
    p.add_argument("target", nargs="?", metavar="ID|FILE", help="an entry's id (see `list`), or export's file "
                   "(default: standard output)")
    p.add_argument("--note", default="", help="why (kept in the operation log)")
    p.add_argument("--dataset", metavar="FILE|NAME", help="audit: the dataset rows to audit against (default: the "
                   "run's own dataset, as its config.json names it; a hub dataset is read through the cache)")
    return p


def main(argv: list[str]) -> int:
    """`awm-tui memory RUN list|show|disable|enable|pin|unpin|export|audit`: see the module's docstring.

    Args:
        argv: the arguments after `memory`.

    Returns:
        0 when done (an audit's hits are findings, not errors).

    Raises:
        UserError: a mistake on the command line, no such run or entry, a damaged memory.json or operation log, an
            edit of a frozen memory, or audit rows that cannot be had (one paragraph, exit status 2).
        SystemExit: from argparse, for --help (status 0).
    """
    args = parser().parse_args(argv)
    from awm.errors import UserError
    from awm.memory import ops
    from awm.run.memory_view import read_memory
    from awm.run.store import RunStore, find_run

    run = find_run(args.run)
    if run is None:
        raise UserError(f"awm-tui memory {args.run}: no run found there (no config.json in that folder, nor a run of "
                        "that name under the runs folder). `awm-tui` lists the runs.")
    path = RunStore(run).memory_path
    if args.action == "export" and args.target:  # the file to write, checked before anything is read
        from awm.paths import check_destination

        check_destination(args.target, f"memory {args.run} export: FILE", kind="file",
                          fix="Give the path of a .json file to write (a new file, or one to replace), in a folder "
                          "you can write to, or no FILE to print the memory.")
    if args.action == "audit":
        return _audit(run, args)
    memory = read_memory(run)  # read only: memory.json is written by the run's engine alone
    entries = {w.id: w for w in memory.workflows}
    if args.action == "list":
        print(_table(memory))
        return 0
    if args.action == "export":
        data = json.dumps(memory.to_dict(), indent=2) + "\n"
        if args.target:
            from awm import atomic

            atomic.write_text(Path(args.target).expanduser(), data)
            print(f"wrote {count(len(memory.workflows), 'entry')} to {args.target}", file=sys.stderr)
        else:
            sys.stdout.write(data)
        return 0
    if not args.target:
        raise UserError(f"awm-tui memory {args.run} {args.action}: which entry? Give its id, e.g. "
                        f"`awm-tui memory {args.run} {args.action} {next(iter(entries), 'wf-...')}` "
                        f"(`awm-tui memory {args.run} list` shows them).")
    entry = entries.get(args.target)
    if entry is None:
        known = ", ".join(entries) or "none: the memory is empty"
        raise UserError(f"awm-tui memory {args.run} {args.action} {args.target}: no such entry in {path} (its "
                        f"entries: {known}).")
    if args.action == "show":
        use = memory.usefulness(entry.id)
        state = " ".join(flag for flag, on in (("pinned", entry.pinned), ("disabled", entry.disabled)) if on)
        print(entry.render())
        print(f"\nid {entry.id}  kind {entry.kind}  version {entry.version} (round {entry.round}, first round "
              f"{entry.created_round})  {state}".rstrip())
        print(f"learned from: {', '.join(entry.source_instances) or '-'}")
        print(_usefulness(use))
        return 0
    record = ops.append(run, args.action, entry.id, args.note)
    done = {"disable": "disabled", "enable": "enabled", "pin": "pinned", "unpin": "unpinned"}[args.action]
    print(f"{done} {entry.id} ({record['time']}); the run honours it from its next issue.")
    return 0


def _audit(run: Path, args) -> int:
    """The audit's findings as a table; hits are findings, not errors (status 0). Rows that cannot be had are a
    one-paragraph mistake naming the fix (--dataset)."""
    from awm import atomic
    from awm.errors import UserError
    from awm.experiment.leaks import audit_run, run_rows
    from awm.run.store import RunStore

    config = atomic.read_json(RunStore(run).config_path, {}) or {}
    try:
        rows, note = run_rows(config, override=args.dataset)
    except UserError as exc:
        raise UserError(f"awm-tui memory {args.run} audit --dataset {args.dataset}: {exc.text}") from None
    if rows is None:
        raise UserError(f"awm-tui memory {args.run} audit: {note} Give the rows with --dataset FILE (the run's "
                        "SWE-bench records, .json/.jsonl/.parquet) or a hub name to read.")
    result = audit_run(run, rows)
    name = args.dataset or ((config.get("spec") or {}).get("dataset") or {}).get("name", "?")
    print(f"audit of {run.name}'s memory: {result.versions} version(s) of {result.entries} entr"
          f"{'y' if result.entries == 1 else 'ies'} against {result.instances} issue(s) of {name}: "
          f"{len(result.hits)} hit(s) in {len(result.flagged)} entr{'y' if len(result.flagged) == 1 else 'ies'}")
    if result.note:
        print(result.note)
    if result.hits:
        print(_hits_table(result.hits))
        print("A hit is a reason to read the entry (`awm-tui memory RUN show ID`), not proof of a leak; "
              "`disable ID` keeps it out of later prompts.")
    return 0


def _hits_table(hits) -> str:
    """One row per entry and thing named, with the instances and fields it belongs to (a test file shared by many
    issues' PASS_TO_PASS is one row)."""
    grouped: dict[tuple, list[str]] = {}
    for h in hits:
        grouped.setdefault((h.entry, f"v{h.version}", h.what, h.named, h.field), []).append(h.instance_id)
    rows = [("entry", "version", "names a", "text", "field", "instances")]
    for key, instances in grouped.items():
        shown = ", ".join(instances[:3]) + (f" (+{len(instances) - 3} more)" if len(instances) > 3 else "")
        rows.append((*key, shown))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join("  ".join(c.ljust(widths[i]) for i, c in enumerate(r[:-1])) + "  " + r[-1] for r in rows)


def _usefulness(use: dict) -> str:
    lcb = use.get("lcb")
    text = (f"injected into {count(int(use.get('injected', 0)), 'issue')}: {use.get('passed', 0)} passed, "
            f"{use.get('failed', 0)} failed, {use.get('errored', 0)} errors")
    if use.get("helped") or use.get("hurt"):
        text += f"; against the baseline: helped {use.get('helped', 0)}, hurt {use.get('hurt', 0)}"
    if lcb is not None and use.get("injected"):
        text += f"; pass rate {use.get('pass_rate', 0):.0%} (95% lower bound {lcb:.0%})"
    return text


def _table(memory) -> str:
    if not memory.workflows:
        return "the memory is empty"
    rows = [("id", "kind", "v", "round", "state", "used", "pass", "fail", "err", "lcb", "name")]
    for w in memory.workflows:
        use = memory.usefulness(w.id)
        state = "pinned" if w.pinned else "disabled" if w.disabled else "active"
        lcb = use.get("lcb")
        rows.append((w.id, w.kind, str(w.version), str(w.round), state, str(use.get("injected", 0)),
                     str(use.get("passed", 0)), str(use.get("failed", 0)), str(use.get("errored", 0)),
                     "-" if lcb is None or not use.get("injected") else f"{lcb:.2f}", w.name))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join("  ".join(c.ljust(widths[i]) for i, c in enumerate(r[:-1])) + "  " + r[-1] for r in rows)
