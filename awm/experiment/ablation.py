"""Ablations: the causal value of a memory entry. helped/hurt counts (compare's workflow table) are associations: an
entry given to issues that then passed may have been given to easy issues. The causal test withholds it: for an
entry the replay of a memory run gave to some issues, those issues are run again with the same frozen memory minus
that entry (`memory.withhold`), and the two passes are paired issue by issue. Whatever differs is the entry's doing
(and, with it gone, whatever retrieval gave in its place: that is the counterfactual memory without it).

    awm-tui experiment SPEC --arms memory=off,on --ablate top:2      # the 2 entries the replay gave most
    awm-tui experiment SPEC --arms memory=off,on --ablate wf-a,wf-b  # these entries

An ablation run is an ordinary run (resumable) named `<arm>-seed<k>-without-<entry>`, whose config.json names the
run whose memory it freezes (`replay_of`) and the entry withheld (`spec.memory.withhold`)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from awm.errors import UserError
from awm.experiment import stats
from awm.experiment.figures import p_value, percent, points
from awm.records import Status

if TYPE_CHECKING:
    from awm.experiment.compare import Comparison
    from awm.experiment.runs import Run

WITHOUT = "-without-"


@dataclass(frozen=True)
class Choice:
    """--ablate: the `top` K entries the replay gave most, or the entries named (`ids`)."""

    top: int = 0
    ids: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        return f"top:{self.top}" if self.top else ",".join(self.ids)

    @property
    def entries(self) -> int:
        """At most this many entries per memory run."""
        return self.top or len(self.ids)


def parse(text: str) -> Choice:
    """`top:K` (K at least 1) or `ID,ID,...` (memory entry ids, as `awm-tui memory RUN list` shows them)."""
    given = text.strip()
    if given.startswith("top:"):
        try:
            k = int(given[4:])
        except ValueError:
            k = 0
        if k < 1:
            raise UserError(f"--ablate {text}: give how many entries after `top:`, a whole number of at least 1, "
                            "e.g. `--ablate top:2` (the 2 entries the replay gave most).")
        return Choice(top=k)
    ids = tuple(dict.fromkeys(i.strip() for i in given.split(",") if i.strip()))
    bad = [i for i in ids if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", i)]
    if not ids or bad:
        raise UserError(f"--ablate {text}: give `top:K` or memory entry ids separated by commas, e.g. `--ablate "
                        "top:2` or `--ablate wf-fix-a-parser,pf-avoid-b` (`awm-tui memory RUN list` shows the ids).")
    return Choice(ids=ids)


def choose(replay: Run, choice: Choice) -> list[tuple[str, list[str]]]:
    """The entries to withhold for one memory run, each with the issues its replay gave it (in the replay's order):
    the `top` K by how many issues were given them (ties by id), or the ids named that the replay gave to any issue
    (an id it never gave has no issue to run, and is left out)."""
    given: dict[str, list[str]] = {}
    for e in replay.experiences:
        if e.status == Status.SKIPPED:
            continue
        for entry in dict.fromkeys(e.workflow_ids):
            given.setdefault(entry, []).append(e.instance_id)
    if choice.top:
        counts = Counter({entry: len(ids) for entry, ids in given.items()})
        ranked = sorted(counts, key=lambda entry: (-counts[entry], entry))[: choice.top]
    else:
        ranked = [entry for entry in choice.ids if entry in given]
    return [(entry, given[entry]) for entry in ranked]


def folder_name(source: Path, entry: str) -> str:
    return f"{source.name}{WITHOUT}{entry}"


def overrides(source_name: str, entry: str, issues: list[str]) -> dict:
    """The spec fields that make the replay of `source` an ablation of `entry` on `issues`."""
    from awm.spec import NAME_MAX

    name = f"{source_name}{WITHOUT}{entry}"
    return {"dataset.instance_ids": list(issues), "dataset.limit": len(issues), "memory.withhold": [entry],
            "name": name[:NAME_MAX]}


def withheld(run: Run) -> list[str]:
    return list(((run.config.get("spec") or {}).get("memory") or {}).get("withhold") or [])


# ---- the figures

def attach(comparison: Comparison, replays: Sequence[Run], ablations: Sequence[Run], bootstrap: int | None = None,
           seed: int | None = None) -> list[dict]:
    """Each ablation paired with the replay of the same run on the issues both finished and graded: the entry's
    effect (resolved with it − without it, the rest of the frozen memory the same), its 95% paired bootstrap
    interval, McNemar's exact p, and the entry's helped/hurt association from the comparison's workflow table.

    Args:
        comparison: what compare() computed.
        replays: the frozen replays (read_run) the ablations were made from.
        ablations: the ablation runs (a replay with `memory.withhold`), matched to their replay by `replay_of`.
        bootstrap: resamples for the intervals (default: the comparison's).
        seed: their seed (default: the comparison's).

    Returns:
        One dict per entry withheld, also kept as `comparison.ablations` (comparison.json: `ablations`).
    """
    from awm.experiment.continual import replay_source

    bootstrap = bootstrap or comparison.settings.get("bootstrap", 10_000)
    seed = comparison.settings.get("seed", 0) if seed is None else seed
    replay_of = {replay_source(r): r for r in replays if replay_source(r) and not withheld(r)}
    arm_of = {str(Path(run.path).resolve()): arm.name for arm in comparison.arms for run in arm.runs}
    association = {(w["arm"], w["id"]): w for w in comparison.workflows}
    rows = []
    for run in ablations:
        source = replay_source(run)
        entries = withheld(run)
        replay = replay_of.get(source)
        if source is None or replay is None or len(entries) != 1:
            comparison.warnings.append(f"{run.label}: no replay of its source run {source} to pair it with (or not "
                                       "one entry withheld): left out of the ablations.")
            continue
        mine, theirs = run.by_instance(), replay.by_instance()
        instances = [e.instance_id for e in replay.experiences if e.instance_id in mine
                     and Status.SKIPPED not in (mine[e.instance_id].status, theirs[e.instance_id].status)]
        entry, arm = entries[0], arm_of.get(source, "")
        known = association.get((arm, entry), {})
        row = {"arm": arm, "run": Path(source).name, "ablation": str(run.path), "replay": str(replay.path),
               "id": entry, "name": replay.entries.get(entry, {}).get("name", "") or known.get("name", ""),
               "issues": len(instances), "given": known.get("given"), "helped": known.get("helped"),
               "hurt": known.get("hurt")}
        if not instances:
            rows.append({**row, "with": None, "without": None, "effect": None, "ci": None, "wins": 0, "losses": 0,
                         "p_value": None})
            continue
        with_entry = np.array([float(theirs[i].status == Status.PASS) for i in instances])
        without = np.array([float(mine[i].status == Status.PASS) for i in instances])
        wins = int(((with_entry == 1) & (without == 0)).sum())
        losses = int(((with_entry == 0) & (without == 1)).sum())
        rows.append({**row, "with": float(with_entry.mean()), "without": float(without.mean()),
                     "effect": float((with_entry - without).mean()),
                     "ci": list(stats.paired_bootstrap(without, with_entry, bootstrap, seed)),
                     "wins": wins, "losses": losses, "p_value": stats.mcnemar_exact(wins, losses)})
    comparison.ablations = rows
    return rows


def blocks(c: Comparison) -> list[tuple]:
    """The report's section (awm.experiment.report's blocks); none without ablations."""
    if not c.ablations:
        return []
    rows = []
    for r in c.ablations:
        effect = "n/a" if r["effect"] is None else \
            f"{points(r['effect'])} [{points(r['ci'][0])}, {points(r['ci'][1])}]"
        association = "n/a" if r["given"] is None else f"{r['given']} / {r['helped']} / {r['hurt']}"
        rows.append([r["arm"], r["run"], f"`{r['id']}`", r["name"], str(r["issues"]),
                     percent(r["with"]) if r["with"] is not None else "n/a",
                     percent(r["without"]) if r["without"] is not None else "n/a", effect,
                     f"{r['wins']} / {r['losses']}", p_value(r["p_value"]) if r["p_value"] is not None else "n/a",
                     association])
    return [
        ("h2", "Ablations: what an entry causes"),
        ("p", "For each entry withheld (`--ablate`): the issues the replay gave it, run again with the same frozen "
              "memory minus that entry. Effect: resolved with the entry − without it, on those issues (95% paired "
              "bootstrap interval); won / lost: issues resolved only with it / only without it; McNemar's exact p "
              "on those. Beside it, the association from the online run against the reference (given / helped / "
              "hurt): an entry can be associated with wins without causing them (given to easy issues), and the "
              "ablation is the test of which."),
        ("table", ["arm", "run", "entry", "name", "issues", "with", "without", "effect", "won / lost", "McNemar p",
                   "online: given / helped / hurt"], rows, "lllllrrrrrl"),
    ]
