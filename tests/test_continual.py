"""Continual-learning figures (awm.experiment.continual) on hand-made run folders, checked against values computed
by hand; the replay's refusals (awm.run.replay) and frozen memory's (spec, edits). In-process, no agent: milliseconds.
The real replay of a demo run is in test_replay_e2e.py."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from awm.errors import UserError
from awm.experiment import continual
from awm.experiment.compare import compare, load_arm
from awm.experiment.report import write_report
from awm.experiment.runs import read_run
from awm_tui.commands.cli import main
from compare_fixtures import write_run
from conftest import ROOT

IDS = [f"repo__repo-{k}" for k in range(1, 7)]
CODES = {"P": "PASS", "F": "FAIL", "E": "ERROR", "S": "SKIPPED"}


def run(folder: Path, outcomes: str, memory: str, replay_of: Path | None = None, order: list[str] | None = None,
        status: str = "completed") -> Path:
    """A run folder: `outcomes` one letter per issue of IDS (P, F, E), taken in `order` (default IDS'); its
    config.json records `memory.enabled` and, for a replay, `replay_of`."""
    by_id = dict(zip(IDS, outcomes))
    statuses = {i: CODES[by_id[i]] for i in (order or IDS)}
    write_run(folder, statuses, status=status)
    config = json.loads((folder / "config.json").read_text())
    config["spec"]["memory"] = {"enabled": memory}
    if replay_of is not None:
        config["replay_of"] = {"run_dir": str(replay_of), "run_id": replay_of.name}
    (folder / "config.json").write_text(json.dumps(config))
    return folder


# The 6-issue example. Position:  1  2  3  4  5  6
OFF = "FFPFPF"  #                 0  0  1  0  1  0
ON = "FPPPPF"  #                  0  1  1  1  1  0
REPLAY = "PPFPPP"  #              1  1  0  1  1  1
# forward transfer  = mean(on − off)          = (0+1+0+1+0+0)/6 = 2/6
# backward transfer = mean(replay − on)       = (1+0−1+0+0+1)/6 = 1/6
# forgetting        = mean(max(0, on − rep))  = (0+0+1+0+0+0)/6 = 1/6
# AULC(on):  cumulative 0, 1/2, 2/3, 3/4, 4/5, 4/6 -> sum 3.383333 / 6 = 0.5638889
# AULC(off): cumulative 0, 0, 1/3, 1/4, 2/5, 2/6   -> sum 1.316667 / 6 = 0.2194444
AULC_ON = (0 + 1 / 2 + 2 / 3 + 3 / 4 + 4 / 5 + 4 / 6) / 6
AULC_OFF = (0 + 0 + 1 / 3 + 1 / 4 + 2 / 5 + 2 / 6) / 6


@pytest.fixture
def example(tmp_path) -> tuple[Path, Path, Path]:
    off = run(tmp_path / "off", OFF, "off")
    on = run(tmp_path / "on", ON, "on")
    replay = run(tmp_path / "on-replay", REPLAY, "frozen", replay_of=on)
    return off, on, replay


def figures(off: Path, on: Path, replays: list[Path], bootstrap: int = 2000):
    comparison = compare([load_arm("memory=off", off), load_arm("memory=on", on)], bootstrap=bootstrap)
    continual.attach(comparison, [read_run(r) for r in replays])
    return comparison


def test_the_six_issue_example_gives_the_hand_computed_figures(example):
    off, on, replay = example
    comparison = figures(off, on, [replay])
    [record] = comparison.continual
    assert record["arm"] == "memory=on" and record["reference"] == "memory=off" and record["instances"] == 6
    assert record["forward_transfer"]["value"] == pytest.approx(2 / 6)
    assert record["backward_transfer"]["value"] == pytest.approx(1 / 6)
    assert record["forgetting"]["value"] == pytest.approx(1 / 6)
    assert record["aulc"]["value"] == pytest.approx(AULC_ON)
    assert record["aulc"]["reference"] == pytest.approx(AULC_OFF)
    assert record["aulc"]["difference"] == pytest.approx(AULC_ON - AULC_OFF)
    for key in continual.KEYS:  # each with its 95% interval around it
        low, high = record[key]["ci"]
        assert low <= record[key]["value"] <= high and low < high
    low, high = record["aulc"]["difference_ci"]
    assert low <= AULC_ON - AULC_OFF <= high
    # the per-issue differences are 0/±1, so the bootstrap's bounds are multiples of 1/6
    assert record["forgetting"]["ci"][0] == pytest.approx(0.0)
    assert all(abs(v * 6 - round(v * 6)) < 1e-9 for v in record["backward_transfer"]["ci"])


def test_comparison_json_and_report_md_carry_the_four_figures_and_their_definitions(example, tmp_path):
    off, on, replay = example
    comparison = figures(off, on, [replay])
    write_report(comparison, tmp_path / "report")
    data = json.loads((tmp_path / "report" / "comparison.json").read_text())
    [record] = data["continual"]
    assert set(continual.KEYS) <= set(record)
    assert record["backward_transfer"]["value"] == pytest.approx(1 / 6)
    md = (tmp_path / "report" / "report.md").read_text()
    assert "## Continual learning" in md
    for key in continual.KEYS:
        assert f"`{key}`" in md
    assert "max(0, resolved online − resolved in the replay)" in md
    assert "+33.3 pp" in md and "+16.7 pp" in md and f"{AULC_ON:.3f}" in md
    assert "continual, memory=on: forward transfer +33.3 pp, backward transfer +16.7 pp, forgetting 16.7%" \
        in comparison.summary()


def test_the_aulc_follows_each_runs_own_order():
    """Positions, not ids, weigh: the same outcomes taken in another order give another area."""
    assert continual.aulc([1, 0, 0]) == pytest.approx((1 + 1 / 2 + 1 / 3) / 3)
    assert continual.aulc([0, 0, 1]) == pytest.approx((0 + 0 + 1 / 3) / 3)
    weights = continual.position_weights(6)
    assert weights.sum() == pytest.approx(1.0)
    outcomes = np.array([0, 1, 1, 1, 1, 0], float)
    assert float(weights @ outcomes) == pytest.approx(AULC_ON)


def test_replicates_average_per_instance_and_an_instance_not_replayed_is_left_out(tmp_path):
    ids = IDS
    off = [run(tmp_path / f"off{k}", OFF, "off") for k in (1, 2)]
    on = [run(tmp_path / "on1", ON, "on"), run(tmp_path / "on2", "PPPPPF", "on", order=list(reversed(ids)))]
    replays = [run(tmp_path / "on1-replay", REPLAY, "frozen", replay_of=on[0]),
               run(tmp_path / "on2-replay", "PPPPPP", "frozen", replay_of=on[1])]
    comparison = compare([load_arm("off", off), load_arm("on", on)], bootstrap=500)
    continual.attach(comparison, [read_run(r) for r in replays])
    [record] = comparison.continual
    # replicate 2: on = 1 1 1 1 1 0, off = 0 0 1 0 1 0 -> FWT 3/6; replay all 1 -> BWT 1/6, forgetting 0
    assert record["forward_transfer"]["value"] == pytest.approx((2 / 6 + 3 / 6) / 2)
    assert record["backward_transfer"]["value"] == pytest.approx((1 / 6 + 1 / 6) / 2)
    assert record["forgetting"]["value"] == pytest.approx((1 / 6 + 0) / 2)
    # replicate 2 took the issues in reverse: outcomes by position 0 1 1 1 1 1
    second = (0 + 1 / 2 + 2 / 3 + 3 / 4 + 4 / 5 + 5 / 6) / 6
    assert record["aulc"]["value"] == pytest.approx((AULC_ON + second) / 2)

    # a replay that has not finished issue 6 leaves it out of that arm's figures, with a warning
    partial = tmp_path / "partial"
    run(partial, REPLAY, "frozen", replay_of=on[0])
    lines = (partial / "experiences.jsonl").read_text().splitlines()[:5]
    (partial / "experiences.jsonl").write_text("\n".join(lines) + "\n")
    comparison = compare([load_arm("off", off[0]), load_arm("on", on[0])], bootstrap=500)
    continual.attach(comparison, [read_run(partial)])
    assert comparison.continual[0]["instances"] == 5
    assert comparison.continual[0]["backward_transfer"]["value"] == pytest.approx((1 + 0 - 1 + 0 + 0) / 5)
    assert any("left out of its continual-learning figures" in w for w in comparison.warnings)


def test_an_arm_without_every_replay_and_a_stray_replay_are_warned_about(tmp_path):
    off = [run(tmp_path / f"off{k}", OFF, "off") for k in (1, 2)]
    on = [run(tmp_path / f"on{k}", ON, "on") for k in (1, 2)]
    stray = run(tmp_path / "elsewhere", ON, "on")
    replays = [run(tmp_path / "on1-replay", REPLAY, "frozen", replay_of=on[0]),
               run(tmp_path / "stray-replay", REPLAY, "frozen", replay_of=stray),
               run(tmp_path / "not-a-replay", REPLAY, "on")]
    comparison = compare([load_arm("off", off), load_arm("on", on)], bootstrap=200)
    continual.attach(comparison, [read_run(r) for r in replays])
    assert comparison.continual == []
    text = " ".join(comparison.warnings)
    assert "on: no replay of on2" in text and "not one of the compared runs" in text and "is not a replay" in text


def test_compare_command_takes_replays(example, tmp_path, capsys):
    off, on, replay = example
    assert main(["compare", str(off), str(on), "--replay", str(replay), "--output-dir", str(tmp_path / "r"),
                 "--bootstrap", "500"]) == 0
    data = json.loads((tmp_path / "r" / "comparison.json").read_text())
    assert data["continual"][0]["forward_transfer"]["value"] == pytest.approx(2 / 6)
    assert "continual, on:" in capsys.readouterr().out


# ---- the replay's refusals


def refused(capsys, *argv: str) -> str:
    assert main(list(argv)) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("awm-tui: ") and "\n" not in err and "Traceback" not in err
    return err


def test_replay_refuses_a_missing_run_a_folder_that_is_no_run_and_an_unfinished_run(tmp_path, capsys, awm_home):
    err = refused(capsys, "replay", str(tmp_path / "nowhere"))
    assert "no run found there" in err and "nothing to replay" in err
    (tmp_path / "plain").mkdir()
    err = refused(capsys, "replay", str(tmp_path / "plain"))
    assert "is not a run folder" in err and "no config.json" in err
    paused = run(tmp_path / "paused", ON, "on", status="paused")
    err = refused(capsys, "replay", str(paused))
    assert "is paused after 6 of 6 issues, not completed" in err and f"--resume {paused}" in err
    assert not (tmp_path / "paused-replay").exists()


def test_replay_refuses_a_run_still_running_and_a_run_without_memory(tmp_path, capsys, awm_home):
    from awm.run.store import RunStore

    live = run(tmp_path / "live", ON, "on", status="running")
    with RunStore(live).lock():  # an engine holds it
        err = refused(capsys, "replay", str(live))
    assert "is still running" in err and "Let it finish" in err
    off = run(tmp_path / "off", OFF, "off")
    err = refused(capsys, "replay", str(off))
    assert "memory.enabled: off" in err and "no memory" in err


def test_frozen_memory_needs_memory_from_and_takes_no_edits(tmp_path, capsys):
    from awm.memory import ops
    from awm.spec import load_spec

    with pytest.raises(UserError, match=r"`enabled: frozen`.*`memory.from` names none"):
        load_spec(ROOT / "specs" / "demo.yaml", {"memory.enabled": "frozen"})
    spec = load_spec(ROOT / "specs" / "demo.yaml", {"memory.enabled": "frozen", "memory.from": str(tmp_path)})
    assert spec.memory.frozen and spec.memory.retrieves and not spec.memory.on
    assert spec.fingerprint()["memory"] == "frozen"

    frozen = run(tmp_path / "frozen", ON, "frozen")
    memory = json.loads((frozen / "memory.json").read_text())
    memory["workflows"] = [{"id": "wf-a", "name": "A", "description": "", "steps": ["do it"]}]
    (frozen / "memory.json").write_text(json.dumps(memory))
    with pytest.raises(UserError, match="its memory is frozen"):
        ops.append(frozen, "disable", "wf-a")
    err = refused(capsys, "memory", str(frozen), "disable", "wf-a")
    assert "takes no edits" in err
    assert not ops.path(frozen).exists()


# ---- ablations (awm.experiment.ablation)

def ablation_fixture(tmp_path) -> tuple:
    """Online: wf-a given to issues 2-5. Replay (final memory): wf-a given to issues 1, 2, 4, 5, 6, wf-b to 3 and 4.
    Without wf-a, issues 1, 4 and 6 fail."""
    off = run(tmp_path / "off", OFF, "off")
    on = tmp_path / "on"
    write_run(on, {i: CODES[c] for i, c in zip(IDS, ON)}, workflows={i: ["wf-a"] for i in IDS[1:5]},
              entries={"wf-a": "Fix A", "wf-b": "Fix B"})
    config = json.loads((on / "config.json").read_text())
    config["spec"]["memory"] = {"enabled": "on"}
    (on / "config.json").write_text(json.dumps(config))
    given = {IDS[0]: ["wf-a"], IDS[1]: ["wf-a"], IDS[2]: ["wf-b"], IDS[3]: ["wf-a", "wf-b"], IDS[4]: ["wf-a"],
             IDS[5]: ["wf-a"]}
    replay = tmp_path / "on-replay"
    write_run(replay, {i: CODES[c] for i, c in zip(IDS, REPLAY)}, workflows=given,
              entries={"wf-a": "Fix A", "wf-b": "Fix B"})
    without = tmp_path / "on-without-wf-a"
    write_run(without, {IDS[k]: CODES[c] for k, c in zip((0, 1, 3, 4, 5), "FPFPF")})
    for folder, withheld in ((replay, []), (without, ["wf-a"])):
        config = json.loads((folder / "config.json").read_text())
        config["spec"]["memory"] = {"enabled": "frozen", "withhold": withheld}
        config["replay_of"] = {"run_dir": str(on), "run_id": "on"}
        (folder / "config.json").write_text(json.dumps(config))
    return off, on, replay, without


def test_ablate_parses_top_k_and_ids_and_refuses_anything_else():
    from awm.experiment import ablation

    assert ablation.parse("top:2") == ablation.Choice(top=2) and ablation.parse("top:2").entries == 2
    assert ablation.parse("wf-a, pf-b,wf-a").ids == ("wf-a", "pf-b")
    for bad in ("top:0", "top:x", "", " , ", "wf a"):
        with pytest.raises(UserError, match="--ablate"):
            ablation.parse(bad)


def test_the_entries_withheld_are_those_the_replay_gave_most_with_their_issues(tmp_path):
    from awm.experiment import ablation

    _, _, replay, _ = ablation_fixture(tmp_path)
    replayed = read_run(replay)
    assert ablation.choose(replayed, ablation.parse("top:1")) == [("wf-a", [IDS[0], IDS[1], IDS[3], IDS[4], IDS[5]])]
    assert [e for e, _ in ablation.choose(replayed, ablation.parse("top:5"))] == ["wf-a", "wf-b"]
    assert ablation.choose(replayed, ablation.parse("wf-b,wf-never")) == [("wf-b", [IDS[2], IDS[3]])]


def test_an_ablation_gives_the_entrys_effect_beside_its_association(tmp_path):
    from awm.experiment import ablation

    off, on, replay, without = ablation_fixture(tmp_path)
    comparison = compare([load_arm("off", off), load_arm("on", on)], bootstrap=2000)
    ablation.attach(comparison, [read_run(replay)], [read_run(without)])
    [row] = comparison.ablations
    # with wf-a (the replay) on issues 1, 2, 4, 5, 6: 1 1 1 1 1; without: 0 1 0 1 0
    assert (row["arm"], row["id"], row["name"], row["issues"]) == ("on", "wf-a", "Fix A", 5)
    assert row["with"] == pytest.approx(1.0) and row["without"] == pytest.approx(2 / 5)
    assert row["effect"] == pytest.approx(3 / 5) and (row["wins"], row["losses"]) == (3, 0)
    assert row["p_value"] == pytest.approx(2 * 0.5 ** 3)  # McNemar exact, 3 discordant pairs all one way
    assert 0 <= row["ci"][0] <= 3 / 5 <= row["ci"][1] <= 1
    # online against off, wf-a was given to issues 2-5: resolved 2, 3, 4, 5 where off resolved 3 and 5
    assert (row["given"], row["helped"], row["hurt"]) == (4, 2, 0)
    write_report(comparison, tmp_path / "report")
    data = json.loads((tmp_path / "report" / "comparison.json").read_text())
    assert data["ablations"][0]["effect"] == pytest.approx(0.6)
    md = (tmp_path / "report" / "report.md").read_text()
    assert "## Ablations: what an entry causes" in md and "+60.0 pp" in md and "4 / 2 / 0" in md
    assert "without wf-a (on, 5 issues): effect of the entry +60.0 pp" in comparison.summary()


def test_ablate_prints_its_cost_and_wants_yes_headless(tmp_path):
    import subprocess

    from conftest import cli

    folder = tmp_path / "exp"
    proc = subprocess.run(cli("experiment", "specs/demo.yaml", "--arms", "memory=off,on", "--ablate", "top:2",
                              "--limit", "3", "--output-dir", str(folder)), cwd=ROOT, capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "up to 2 entries x 3 issues = 6 issue runs per memory run, 1 memory run:" in proc.stdout
    message = proc.stderr.strip()
    assert message.startswith("awm-tui: --ablate top:2 may run up to 6 more issues") and "--yes" in message
    assert "\n" not in message and not folder.exists()


# ---- frozen memory in the engine (stub parts, in-process)

def test_a_frozen_run_gives_the_final_memory_as_it_was_before_each_issue_taught_it_and_never_changes_it(tmp_path):
    """The online run learns `wf-fix-an-off-by-one` from issues 1-2 (version 1) and merges issues 3-4 into it
    (version 2). Frozen, issue 1 gets nothing (every version learned from it), issue 3 version 1 (the one before it
    taught it), nothing is induced, usefulness is not counted, memory.json is not written after the seed."""
    from dataclasses import replace as copy

    from awm.memory.induction import Inducer
    from awm.run.loop import Engine
    from awm.run.parts import Parts, memory_sources
    from awm.run.store import RunStore
    from support.stubs import Complete, StubAgent, StubEvaluator, StubWorkspace, make_run

    online = make_run(tmp_path / "online", 4)
    online.engine().run()
    learned = json.loads(online.store.memory_path.read_text())
    [entry] = learned["workflows"]
    assert entry["version"] == 2 and len(entry["source_instances"]) == 4

    def frozen(folder: str, withhold: list[str]):
        spec = copy(online.spec, name=folder, memory=copy(online.spec.memory, enabled="frozen", withhold=withhold,
                                                          start_from=str(online.store.memory_path)))
        store = RunStore.create(spec, str(tmp_path / folder))
        agent, complete = StubAgent(), Complete()
        parts = Parts(spec, online.issues, StubWorkspace(), agent, StubEvaluator(), Inducer(complete, store.induction),
                      sources=memory_sources(spec))
        writes = []
        engine = Engine(parts, store, [lambda e: writes.append(store.memory_path.stat().st_mtime_ns)
                                       if store.memory_path.exists() else None])
        engine.run()
        journal = [json.loads(x) for x in store.journal.read_text().splitlines()]
        return store, agent, complete, journal, writes

    store, agent, complete, journal, writes = frozen("replay", [])
    assert complete.calls == 0  # no induction
    given = {e["instance_id"]: [(r["id"], r["version"]) for r in e["retrieved"]] for e in journal}
    assert given == {"acme__app-1": [], "acme__app-2": [], "acme__app-3": [(entry["id"], 1)],
                     "acme__app-4": [(entry["id"], 1)]}
    assert "Fix an off-by-one" in agent.prompts["acme__app-3"] and agent.prompts["acme__app-1"] == ""
    memory = json.loads(store.memory_path.read_text())
    assert [r["kind"] for r in memory["rounds"]] == ["seed"] and memory["usefulness"] == {}
    assert [(w["id"], w["version"]) for w in memory["workflows"]] == [(entry["id"], 2)]  # the final memory, kept
    assert len(set(writes)) == 1  # memory.json written once (the seed), never during the run
    assert json.loads(online.store.memory_path.read_text()) == learned

    _, agent, _, journal, _ = frozen("without", [entry["id"]])  # an ablation: the entry withheld
    assert all(not e["workflow_ids"] for e in journal) and not any(agent.prompts.values())


def test_a_plan_with_replays_and_ablations_saves_reloads_and_finds_its_ablations(tmp_path):
    """Replays come after their seed's arms; the ablations are known from the completed replays, the same after a
    reload (what a resumed experiment finds); the comparison's arms leave both out."""
    from awm.experiment import arms

    made = arms.plan(str(ROOT / "specs" / "demo.yaml"), arms.parse_arms(["memory=off,on"]), 2, {"dataset.limit": 6},
                     str(tmp_path / "exp"), "demo", ["memory=on"], "top:1")
    assert [(r.arm, r.dir.name, r.replay_of.name if r.replay_of else None) for r in made.runs()] == [
        ("memory=off", "memory-off-seed1", None), ("memory=on", "memory-on-seed1", None),
        ("memory=on", "memory-on-seed1-replay", "memory-on-seed1"),
        ("memory=off", "memory-off-seed2", None), ("memory=on", "memory-on-seed2", None),
        ("memory=on", "memory-on-seed2-replay", "memory-on-seed2")]
    assert [[d.name for d in dirs] for _, dirs in made.arm_dirs()] == [
        ["memory-off-seed1", "memory-off-seed2"], ["memory-on-seed1", "memory-on-seed2"]]
    assert made.ablation_runs() == []  # no replay has run yet
    runs = tmp_path / "exp" / "runs"
    write_run(runs / "memory-on-seed1-replay", {i: "PASS" for i in IDS},
              workflows={IDS[1]: ["wf-b"], IDS[2]: ["wf-a", "wf-b"], IDS[4]: ["wf-a"], IDS[5]: ["wf-b"]})
    write_run(runs / "memory-on-seed2-replay", {i: "PASS" for i in IDS[:3]}, status="paused")  # not completed
    again = arms.Experiment.load(tmp_path / "exp")
    assert again.runs() == made.runs() and (again.replay_arms, again.ablate) == (["memory=on"], "top:1")
    [planned] = again.ablation_runs()
    assert (planned.dir.name, planned.withhold, planned.issues, planned.replay_of.name) == (
        "memory-on-seed1-without-wf-b", "wf-b", (IDS[1], IDS[2], IDS[5]), "memory-on-seed1")
    assert again.ablation_runs() == [planned]


def test_the_compare_screen_shows_the_continual_cost_and_adherence_sections(example):
    """The app's comparison (awm_tui.screens.compare.figures) carries the report's memory sections, not only its
    rates: the continual-learning table with the hand-computed figures, cost-effectiveness and adherence."""
    from rich.text import Text

    from awm_tui.screens.compare import figures as screen_figures

    off, on, replay = example
    comparison = figures(off, on, [replay], bootstrap=500)
    text = Text.from_markup(screen_figures(comparison).replace("$foreground-muted", "dim")
                            .replace("$text-success", "green").replace("$text-error", "red")
                            .replace("$text-warning", "yellow").replace("$text", "white")).plain
    lines = text.splitlines()
    assert "Continual learning" in lines and "Cost-effectiveness" in lines
    assert "Adherence: resolved when an entry was followed" in lines
    [row] = [line for line in lines if line.startswith("memory=on ") and "+33.3 pp" in line]
    # forward transfer 2/6, backward 1/6, forgetting 1/6, AULC of the on arm
    assert "+16.7 pp" in row and "16.7%" in row and f"{AULC_ON:.3f}" in row
    assert "`" not in text  # markdown's code quotes are the report's, not the screen's
