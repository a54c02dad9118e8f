"""The design's Python API (section 4.2): AWMConfig with the design's names and every spec field, its files, and
AWMOnlineLoop over the engine on the demo."""

from __future__ import annotations

import json

import pytest

from awm import AWMConfig, AWMOnlineLoop, load_django_issues
from awm.errors import UserError
from conftest import ROOT

DEMO = ROOT / "specs" / "demo.yaml"


def test_design_names_map_onto_the_spec():
    config = AWMConfig(llm={"model": "scripted/demo"}, agent_class="GeminiAgent", max_iterations=7,
                       dataset_name="builtin:minibench", split="dev", repo_filter="awm-bench/tallyho",
                       induction_trigger_count=5, max_workflows=30, checkpoint_interval=2, skip_evaluation=True,
                       verbose=False, memory="off", evaluation={"timeout_minutes": 3})
    spec = config.to_spec()
    assert (spec.agent.kind, spec.agent.max_iterations) == ("GeminiAgent", 7)
    assert (spec.dataset.name, spec.dataset.split, spec.dataset.repo_filter) == (
        "builtin:minibench", "dev", ["awm-bench/tallyho"])
    assert (spec.induction.trigger, spec.induction.max_workflows, spec.checkpoint_interval) == (5, 30, 2)
    assert spec.evaluation.backend == "none" and spec.evaluation.timeout_minutes == 3.0
    assert spec.memory.enabled == "off" and spec.verbose is False and spec.llm.model == "scripted/demo"


def test_a_mistake_is_a_user_error_naming_the_field():
    with pytest.raises(UserError) as err:
        AWMConfig(llm={"model": "scripted/demo"}, max_workflows=0).to_spec()
    assert str(err.value).startswith("AWMConfig, field `max_workflows`: must be at least 1")
    with pytest.raises(UserError, match="unknown field"):
        AWMConfig.from_dict({"llm": {"model": "x/y"}, "max_workflow": 3})
    with pytest.raises(UserError, match="field `agent_class`: must be one of CodeActAgent"):
        AWMConfig(llm={"model": "x/y"}, agent_class="BrowsingAgent").to_spec()


def test_save_load_round_trip_and_loading_a_yaml_spec(tmp_path):
    config = AWMConfig(llm_config_name="llm.eval_gpt4", induction_trigger_count=5, max_workflows=30)
    config.save(tmp_path / "awm.json")
    assert AWMConfig.load(tmp_path / "awm.json") == config
    assert AWMConfig.from_dict(config.to_dict()) == config
    demo = AWMConfig.load(DEMO)
    assert demo.name == "demo" and demo.llm["model"] == "scripted/learner" and demo.induction["trigger"] == 2
    spec = demo.to_spec()
    assert spec.path == str(DEMO) and spec.dataset.repo_filter == ["awm-bench/tallyho"]


def test_load_django_issues_reads_a_dataset_in_a_stable_order():
    issues = load_django_issues("builtin:minibench", repo_filter="awm-bench/tallyho", limit=3)
    assert len(issues) == 3 and issues[0].repo == "awm-bench/tallyho"
    assert [i.instance_id for i in issues] == [i.instance_id for i in load_django_issues(
        "builtin:minibench", repo_filter="awm-bench/tallyho")[:3]]
    assert load_django_issues("builtin:minibench") == []  # django/django by default: none in the demo


@pytest.mark.slow
def test_the_online_loop_runs_the_demo_and_resumes_from_a_checkpoint(awm_home, tmp_path):
    out = tmp_path / "run"
    config = AWMConfig.load(DEMO)
    config.output_dir, config.verbose = str(out), False
    issues = load_django_issues("builtin:minibench", repo_filter="awm-bench/tallyho", limit=4)
    loop = AWMOnlineLoop(config)
    loop.spec.max_consecutive_errors = 3
    first = AWMOnlineLoop(config)
    result = first.run(issues[:2])
    stats = result.statistics
    assert stats["total_processed"] == 2 and stats["success_rate"] == stats["total_success"] / 2
    assert {"workflows_learned", "buffer_size", "elapsed_seconds", "config"} <= set(stats)
    assert stats["config"]["name"] == "demo" and result.outcome == "completed"
    assert len(result.experiences) == 2 and result.experiences[0].instance_id == issues[0].instance_id
    saved = json.loads((out / "config.json").read_text())
    assert saved["spec"]["dataset"]["instance_ids"] == [i.instance_id for i in issues[:2]]
    # the run's own config.json makes the same configuration again
    recorded = AWMConfig.load(out / "config.json").to_spec()
    assert recorded.llm.model == "scripted/learner" and recorded.memory == loop.spec.memory
    again = AWMOnlineLoop(config).run(issues[:2], resume_from=out / "checkpoint.json")
    assert again.statistics["total_processed"] == 2  # nothing redone
    assert [e.instance_id for e in again.experiences] == [e.instance_id for e in result.experiences]
    assert again.workflows == result.workflows


# ------------------------------------------------------------------ a setting set after load wins, under either name

def test_a_flat_name_set_after_load_overrides_the_loaded_section_value():
    """demo.yaml says `induction: {trigger: 2, max_workflows: 10}` and `agent: {max_iterations: 30, ...}`: the
    design's flat names set afterwards win (they were refused as naming the setting twice), and the rest of each
    section stays as loaded."""
    config = AWMConfig.load(DEMO)
    config.induction_trigger_count = 1
    config.max_iterations = 12
    config.skip_evaluation = True
    spec = AWMOnlineLoop(config).spec  # what a run is made with
    assert (spec.induction.trigger, spec.induction.max_workflows) == (1, 10)
    assert (spec.agent.max_iterations, spec.agent.timeout_minutes) == (12, 10.0)
    assert spec.evaluation.backend == "none" and spec.evaluation.timeout_minutes == 5.0
    assert config.induction_trigger_count == 1 and "trigger" not in config.induction  # held under one name
    assert AWMConfig.load(DEMO).induction["trigger"] == 2  # the file's mapping is not changed


def test_a_section_set_after_load_overrides_a_loaded_flat_name(tmp_path):
    """The other way round: a file in the design's names, then the spec's sections set (or edited in place)."""
    path = tmp_path / "flat.yaml"
    path.write_text("llm: {model: scripted/demo}\ninduction_trigger_count: 5\nmax_workflows: 30\n"
                    "induction: {budget_tokens: 4000}\nmax_iterations: 7\n")
    config = AWMConfig.load(path)
    config.induction = {"trigger": 1, "budget_tokens": 4000}
    config.agent = {"max_iterations": 9}
    spec = config.to_spec()
    assert (spec.induction.trigger, spec.induction.max_workflows, spec.induction.budget_tokens) == (1, 30, 4000)
    assert spec.agent.max_iterations == 9 and config.induction_trigger_count is None

    edited = AWMConfig.load(path)
    edited.induction["trigger"] = 3  # in place: no attribute is set, the edit still wins over the loaded flat name
    assert edited.to_spec().induction.trigger == 3
    edited.save(tmp_path / "saved.json")  # and what is saved holds it once
    saved = json.loads((tmp_path / "saved.json").read_text())
    assert "induction_trigger_count" not in saved
    assert AWMConfig.load(tmp_path / "saved.json").to_spec().induction.trigger == 3


def test_the_model_named_after_load_replaces_the_loaded_one(tmp_path, monkeypatch):
    (tmp_path / "config.toml").write_text('[llm.eval_gpt4]\nmodel = "scripted/demo"\n')
    monkeypatch.chdir(tmp_path)
    config = AWMConfig.load(DEMO)  # inline `llm: {model: scripted/learner, ...}`
    config.llm_config_name = "llm.eval_gpt4"
    assert config.to_spec().llm.model == "scripted/demo" and config.llm is None
    config.llm = {"model": "scripted/learner"}
    assert config.to_spec().llm.model == "scripted/learner" and config.llm_config_name is None


def test_both_names_given_at_once_are_still_refused(tmp_path):
    """No later word: the constructor, or one file, naming a setting twice is the user's to settle."""
    with pytest.raises(UserError, match="`induction_trigger_count` and `induction.trigger` are both given"):
        AWMConfig(llm={"model": "scripted/demo"}, induction_trigger_count=1, induction={"trigger": 2}).to_spec()
    path = tmp_path / "both.yaml"
    path.write_text("llm: {model: scripted/demo}\ninduction_trigger_count: 5\ninduction: {trigger: 2}\n")
    with pytest.raises(UserError, match="are both given"):
        AWMConfig.load(path).to_spec()
