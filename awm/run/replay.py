"""A replay: a finished run's issues run again, in the same order, with the run's final memory frozen (given as it
is: retrieval as usual, no induction, no merge or eviction, no usefulness counts, no edits). What each issue would
have got from everything the run learned, against what it got online: the continual-learning figures' second pass
(backward transfer, forgetting: awm.experiment.continual).

A replay is no engine of its own: it is the source run's spec (its recorded spec file with its recorded flags, as a
resume reads it) with the issues fixed to the source's finished ones in the source's order (`dataset.instance_ids`,
`order: id`), `memory.enabled: frozen` and `memory.from` the source's memory.json. It is an ordinary run (resumable,
listed by the picker) whose config.json names its source: `replay_of: {run_dir, run_id}`."""

from __future__ import annotations

from pathlib import Path

from awm.errors import UserError
from awm.run.store import RunState, RunStore, find_run
from awm.spec import NAME_MAX, RunSpec

SUFFIX = "-replay"
# the fingerprint fields a replay changes on purpose; any other difference with its source means the spec file
# changed since the source ran, and the replay would not be the same agent on the same issues
CHANGED_ON_PURPOSE = ("instance_ids", "order", "order_seed", "memory", "withhold")


def source_run(given: str, command: str = "replay") -> RunStore:
    """The finished run to replay.

    Args:
        given: its folder, or its name under the runs folder.
        command: the command's name for the messages ("replay", "experiment --replay").

    Returns:
        The source run's store.

    Raises:
        UserError: why it cannot be replayed: missing, not a run, not finished (still running, paused, stopped,
            crashed), run without memory, or without its memory.json.
    """
    path = find_run(given)
    if path is None:
        folder = Path(given).expanduser()
        if folder.is_dir():
            raise UserError(f"{command} {given}: {folder.resolve()} is not a run folder (it has no config.json), so "
                            "there is nothing to replay. Give the folder of a run awm-tui made, or its name as "
                            "`awm-tui` lists it.")
        raise UserError(f"{command} {given}: no run found there (no such folder, nor a run of that name under the "
                        "runs folder), so there is nothing to replay. Give a finished run's folder, or its name as "
                        "`awm-tui` lists it.")
    store = RunStore(path.resolve())
    state = store.state()
    if state == RunState.RUNNING:
        raise UserError(f"{command} {given}: the run {store.dir} is still running (another process holds it), and "
                        "a replay needs its final memory. Let it finish (`awm-tui watch "
                        f"{store.dir}` follows it), then replay it.")
    if state != RunState.COMPLETED:
        done = len(store.checkpoint().get("finished_ids") or [])
        total = len(store.checkpoint().get("instance_ids") or [])
        progress = f" after {done} of {total} issues" if total else ""
        raise UserError(f"{command} {given}: the run {store.dir} is {state}{progress}, not completed, and a replay "
                        "re-runs a finished run's issues with its final memory (an unfinished run's memory is not "
                        f"final). Finish it first with `awm-tui --no-ui --resume {store.dir}`, then replay it.")
    memory = ((store.recorded_spec().get("memory") or {}).get("enabled")) or "on"
    if memory == "off":
        raise UserError(f"{command} {given}: the run {store.dir} ran with `memory.enabled: off`: it has no memory "
                        "to replay its issues with. Replay a run made with memory on.")
    if not store.memory_path.is_file():
        raise UserError(f"{command} {given}: the run {store.dir} has no memory.json, so there is no final memory to "
                        "replay it with. Restore that file from a backup, or replay another run.")
    return store


def replay_overrides(store: RunStore) -> tuple[str, dict]:
    """The spec file and the overrides (spec fields) that make the replay of the finished run in `store`."""
    from awm.run.launch import NOT_CARRIED

    spec_path = store.spec_path()
    if not spec_path or not Path(spec_path).is_file():
        where = f"the spec {spec_path} it was started from is no longer there" if spec_path else \
            "it does not record the spec file it was started from"
        raise UserError(f"replay {store.dir}: {where} (config.json), and a replay runs with the source's own spec. "
                        "Put the spec back where it was, then replay the run.")
    finished = sorted(store.finished(repair=False), key=lambda e: e.position or 0)  # the source's order
    ids = list(dict.fromkeys(e.instance_id for e in finished))
    if not ids:
        raise UserError(f"replay {store.dir}: the run finished no issue, so there is nothing to replay.")
    name = str(store.recorded_spec().get("name") or store.run_id)
    overrides = {k: v for k, v in store.recorded_flags().items() if k not in NOT_CARRIED}
    overrides.update({
        "dataset.instance_ids": ids, "dataset.order": "id", "dataset.limit": len(ids),
        "memory.enabled": "frozen", "memory.from": str(store.memory_path),
        "name": name[: NAME_MAX - len(SUFFIX)] + SUFFIX,
    })
    return spec_path, overrides


def replay_spec(store: RunStore, extra: dict | None = None) -> RunSpec:
    """The replay's spec: the source's, with memory frozen from the source's memory.json (its flags recorded, so a
    resume of the replay runs it again as a replay).

    Args:
        store: the source run (source_run).
        extra: spec fields that change the replay (an ablation's: fewer issues, an entry withheld, its own name).

    Returns:
        The RunSpec to launch.

    Raises:
        UserError: the source's spec file changed what the run means since it ran, or no longer loads.
    """
    from awm.run.launch import launch_spec

    spec_path, overrides = replay_overrides(store)
    spec = launch_spec(spec_path, None, {**overrides, **(extra or {})})
    stored = store.config().get("fingerprint") or {}
    now = spec.fingerprint()
    changed = [k for k in sorted(stored) if k not in CHANGED_ON_PURPOSE and stored.get(k) != now.get(k)]
    if changed:
        detail = "; ".join(f"{k}: {stored.get(k)!r} then, {now.get(k)!r} now" for k in changed)
        raise UserError(f"replay {store.dir}: its spec {spec_path} has changed since the run was made ({detail}), "
                        "so the replay would not be the same agent on the same issues. Restore the spec as it was "
                        "(config.json records it under `spec`), then replay the run.", path=spec_path)
    spec.replay_of = {"run_dir": str(store.dir), "run_id": store.run_id}
    return spec


def default_folder(store: RunStore) -> Path:
    """Where a replay goes without --output-dir: beside its source, `<source>-replay` (numbered when taken)."""
    folder = store.dir.with_name(store.dir.name + SUFFIX)
    n = 2
    while folder.exists():
        folder = store.dir.with_name(f"{store.dir.name}{SUFFIX}-{n}")
        n += 1
    return folder
