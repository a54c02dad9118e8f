"""load_spec: a good spec loads; every mistake is one paragraph naming file, line, field and fix."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from awm.errors import UserError
from awm.spec import RunSpec, load_spec

SECRET = "sk-test-very-secret-0123456789"
ENV = {"OPENAI_API_KEY": SECRET}


def write(folder: Path, text: str, name: str = "spec.yaml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def load(folder: Path, text: str, overrides: dict | None = None, env: dict | None = None) -> RunSpec:
    return load_spec(write(folder, text), overrides, ENV if env is None else env)


def fails(folder: Path, text: str, *expected: str, overrides: dict | None = None, env: dict | None = None) -> str:
    """Loading must fail with a one-paragraph message containing every expected substring."""
    with pytest.raises(UserError) as info:
        load(folder, text, overrides, env)
    message = info.value.message
    assert "\n" not in message
    assert "spec.yaml" in message
    for part in expected:
        assert part in message, f"{part!r} not in {message!r}"
    assert SECRET not in message
    return message


CONFIG = """
[core]
workspace_base = "./ws"

[llm]
api_key = "sk-test-very-secret-0123456789"
temperature = 0.5

[llm.eval_gpt4]
model = "openai/gpt-4o"
base_url = "https://example.com/v1"
num_retries = 7
embedding_model = "ignored"

[llm.from_env]
model = "anthropic/claude"
api_key_env = "OTHER_KEY"
"""

INLINE = """
name: demo
llm:
  model: openai/gpt-4o
  base_url: http://localhost:8000/v1
  api_key_env: OPENAI_API_KEY
  temperature: 0
  max_output_tokens: 2048
agent: {kind: CodeActAgent, max_iterations: 40, timeout_minutes: 10, include_hints: true, workspace: docker}
dataset:
  name: princeton-nlp/SWE-bench_Lite
  split: dev
  repo_filter: astropy/astropy
  instance_ids: [astropy__astropy-12907]
  limit: 3
repos:
  astropy/astropy: https://github.com/astropy/astropy.git
  django/django: ../checkouts/django
  sample/repo: builtin:minibench
evaluation: {backend: swebench-docker, timeout_minutes: 12.5}
induction: {trigger: 4, max_workflows: 8}
output_dir: runs/demo
checkpoint_interval: 2
max_consecutive_errors: 6
verbose: false
"""


# ---------------------------------------------------------------- good specs


def test_inline_spec_loads(tmp_path):
    spec = load(tmp_path, INLINE)
    assert spec.name == "demo"
    assert spec.path == str(tmp_path / "spec.yaml")
    assert spec.llm.model == "openai/gpt-4o"
    assert spec.llm.base_url == "http://localhost:8000/v1"
    assert spec.llm.api_key == SECRET
    assert spec.llm.temperature == 0.0 and type(spec.llm.temperature) is float
    assert spec.llm.max_output_tokens == 2048
    assert spec.llm.num_retries == 3
    assert spec.llm.source == "inline"
    assert (spec.agent.kind, spec.agent.max_iterations, spec.agent.timeout_minutes) == ("CodeActAgent", 40, 10.0)
    assert spec.agent.include_hints is True and spec.agent.workspace == "docker"
    assert spec.dataset.name == "princeton-nlp/SWE-bench_Lite"
    assert spec.dataset.split == "dev"
    assert spec.dataset.repo_filter == ["astropy/astropy"]
    assert spec.dataset.instance_ids == ["astropy__astropy-12907"]
    assert spec.dataset.limit == 3
    assert spec.repos == {
        "astropy/astropy": "https://github.com/astropy/astropy.git",
        "django/django": str((tmp_path.parent / "checkouts" / "django").resolve()),
        "sample/repo": "builtin:minibench",
    }
    assert spec.evaluation.backend == "swebench-docker" and spec.evaluation.timeout_minutes == 12.5
    assert (spec.induction.trigger, spec.induction.max_workflows) == (4, 8)
    assert spec.output_dir == str((tmp_path / "runs" / "demo").resolve())
    assert (spec.checkpoint_interval, spec.max_consecutive_errors, spec.verbose) == (2, 6, False)
    json.dumps(spec.public())  # plain types only


def test_defaults_and_name_from_stem(tmp_path):
    spec = load_spec(write(tmp_path, "llm: {model: scripted/solve}\n", "my-run.yaml"), env={})
    assert spec.name == "my-run"
    assert spec.llm.scripted and spec.llm.api_key is None
    assert spec.agent.max_iterations == 100
    assert spec.dataset.name == "princeton-nlp/SWE-bench" and spec.dataset.repo_filter == ["django/django"]
    assert spec.evaluation.backend == "local"
    assert spec.induction.trigger == 10
    assert spec.output_dir is None


def test_model_without_key_is_fine(tmp_path):
    assert load(tmp_path, "llm: {model: bedrock/claude}\n", env={}).llm.api_key is None


def test_output_dir_tilde_is_expanded(tmp_path):
    spec = load(tmp_path, "llm: {model: scripted/x}\noutput_dir: ~/awm-runs\n")
    assert spec.output_dir == str(Path.home() / "awm-runs")


@pytest.mark.parametrize("name", ["eval_gpt4", "llm.eval_gpt4"])
def test_llm_from_config_toml_by_name(tmp_path, name):
    (tmp_path / "config.toml").write_text(CONFIG)
    spec = load(tmp_path, f"llm: {name}\n", env={})
    config = (tmp_path / "config.toml").resolve()
    assert spec.llm.model == "openai/gpt-4o"
    assert spec.llm.api_key == SECRET  # inherited from [llm], as in OpenHands
    assert spec.llm.temperature == 0.5
    assert spec.llm.base_url == "https://example.com/v1"
    assert spec.llm.num_retries == 7
    assert spec.llm.source == f"config.toml:[llm.eval_gpt4] ({config})"


def test_config_table_api_key_env(tmp_path):
    (tmp_path / "config.toml").write_text(CONFIG.replace('api_key = "sk-test-very-secret-0123456789"\n', ""))
    spec = load(tmp_path, "llm: from_env\n", env={"OTHER_KEY": SECRET})
    assert spec.llm.api_key == SECRET and spec.llm.api_key_env == "OTHER_KEY"


def test_llm_config_file_relative_to_spec(tmp_path):
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "openhands.toml").write_text(CONFIG)
    spec = load(tmp_path, "llm: eval_gpt4\nllm_config_file: conf/openhands.toml\n")
    assert spec.llm.source.startswith("openhands.toml:[llm.eval_gpt4]")


def test_overrides(tmp_path, monkeypatch):
    (tmp_path / "config.toml").write_text(CONFIG)
    monkeypatch.chdir(tmp_path)
    spec = load(
        tmp_path,
        INLINE,
        overrides={
            "llm": "eval_gpt4",
            "dataset.limit": 1,
            "induction.trigger": 2,
            "induction.max_workflows": 3,
            "output_dir": "elsewhere",
            "evaluation.backend": "none",
            "verbose": True,
            "agent.max_iterations": None,  # a flag not given
        },
    )
    assert spec.llm.model == "openai/gpt-4o" and spec.llm.source.startswith("config.toml:[llm.eval_gpt4]")
    assert spec.llm.max_output_tokens is None  # the inline settings are replaced, not merged
    assert spec.dataset.limit == 1
    assert (spec.induction.trigger, spec.induction.max_workflows) == (2, 3)
    assert spec.output_dir == str(tmp_path / "elsewhere")
    assert spec.evaluation.backend == "none"
    assert spec.verbose is True
    assert spec.agent.max_iterations == 40


def test_override_llm_when_spec_has_none(tmp_path):
    (tmp_path / "config.toml").write_text(CONFIG)
    assert load(tmp_path, "name: x\n", overrides={"llm": "eval_gpt4"}).llm.model == "openai/gpt-4o"


def test_seed_aliases(tmp_path):
    (tmp_path / "config.toml").write_text(CONFIG)
    spec = load(
        tmp_path,
        """
        llm_config_name: eval_gpt4
        agent_class: CodeActAgent
        max_iterations: 30
        dataset_name: princeton-nlp/SWE-bench_Verified
        split: test
        repo_filter: [django/django, sympy/sympy]
        induction_trigger_count: 5
        max_workflows: 20
        skip_evaluation: true
        """,
    )
    assert spec.llm.model == "openai/gpt-4o"
    assert spec.agent.max_iterations == 30
    assert spec.dataset.name == "princeton-nlp/SWE-bench_Verified"
    assert spec.dataset.repo_filter == ["django/django", "sympy/sympy"]
    assert (spec.induction.trigger, spec.induction.max_workflows) == (5, 20)
    assert spec.evaluation.backend == "none"


def test_local_dataset_file_resolves_against_spec_folder(tmp_path, monkeypatch):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "tasks.jsonl").write_text("{}\n")
    (tmp_path / "plain.json").write_text("[]")
    monkeypatch.chdir("/")
    spec = load(tmp_path, "llm: {model: scripted/x}\ndataset: {name: data/tasks.jsonl}\n")
    assert spec.dataset.name == str(tmp_path / "data" / "tasks.jsonl")
    spec = load(tmp_path, "llm: {model: scripted/x}\ndataset: {name: plain.json}\n")
    assert spec.dataset.name == str(tmp_path / "plain.json")
    spec = load(tmp_path, "llm: {model: scripted/x}\ndataset: {name: 'builtin:minibench'}\n")
    assert spec.dataset.name == "builtin:minibench"


# ---------------------------------------------------------------- mistakes


def test_unknown_key_did_you_mean(tmp_path):
    fails(tmp_path, "llm: {model: x/y}\nagent:\n  max_iteration: 5\n", "line 3", "`agent.max_iteration`", "`max_iterations`?")


def test_unknown_top_level_key_lists_valid_keys(tmp_path):
    message = fails(tmp_path, "llm: {model: x/y}\nzzz: 1\n", "line 2", "unknown key `zzz`", "Valid keys here:")
    assert "induction" in message and "checkpoint_interval" in message


def test_nested_key_at_top_level_points_to_its_section(tmp_path):
    fails(tmp_path, "llm: {model: x/y}\ntrigger: 3\n", "line 2", "`induction.trigger`")


def test_unknown_inline_llm_key(tmp_path):
    fails(tmp_path, "llm:\n  model: x/y\n  temprature: 0.2\n", "line 3", "`llm.temprature`", "`temperature`?")


def test_inline_api_key_refused_without_echo(tmp_path):
    fails(tmp_path, f"llm:\n  model: x/y\n  api_key: {SECRET}\n", "line 3", "`llm.api_key`", "api_key_env")


@pytest.mark.parametrize(
    "text, line, field, hint",
    [
        ('llm: {model: x/y}\nagent:\n  max_iterations: "ten"\n', "line 3", "`agent.max_iterations`", "whole number"),
        ("llm: {model: x/y}\nagent:\n  max_iterations: true\n", "line 3", "`agent.max_iterations`", "whole number"),
        ("llm: {model: x/y}\nagent:\n  max_iterations: 0\n", "line 3", "`agent.max_iterations`", "at least 1"),
        ("llm: {model: x/y}\nagent: [a, b]\n", "line 2", "`agent`", "mapping"),
        ("llm: {model: x/y}\nagent:\n  timeout_minutes: 0\n", "line 3", "`agent.timeout_minutes`", "greater than 0"),
        ("llm: {model: x/y}\nagent:\n  include_hints: yes\n", "line 3", "`agent.include_hints`", "true or false"),
        ("llm: {model: x/y}\ninduction:\n  trigger: 0\n", "line 3", "`induction.trigger`", "at least 1"),
        ("llm: {model: x/y}\ninduction:\n  max_workflows: -1\n", "line 3", "`induction.max_workflows`", "at least 1"),
        ("llm: {model: x/y}\ndataset:\n  limit: 0\n", "line 3", "`dataset.limit`", "at least 1"),
        ("llm: {model: x/y}\ndataset:\n  repo_filter: {a: b}\n", "line 3", "`dataset.repo_filter`", "list of strings"),
        ("llm: {model: x/y}\ncheckpoint_interval: 0\n", "line 2", "`checkpoint_interval`", "at least 1"),
        ("llm: {model: x/y}\nevaluation: {timeout_minutes: -2}\n", "line 2", "`evaluation.timeout_minutes`", "greater than 0"),
        ("llm: {model: x/y, temperature: hot}\n", "line 1", "`llm.temperature`", "must be a number"),
        ("llm: {model: x/y, top_p: 2}\n", "line 1", "`llm.top_p`", "between 0 and 1"),
        ("llm: [a]\n", "line 1", "`llm`", "llm: eval_gpt4"),
        ("llm: {model: x/y}\nrepos: [a]\n", "line 2", "`repos`", "https://github.com/django/django.git"),
        ("llm: {model: x/y}\nrepos:\n  a/b: 3\n", "line 3", "`repos.a/b`", "git URL or a local path"),
        ("llm: {model: x/y}\nmax_iterations: ten\n", "line 2", "`max_iterations`", "whole number"),
    ],
)
def test_wrong_types_and_ranges(tmp_path, text, line, field, hint):
    fails(tmp_path, text, line, field, hint)


def test_ints_accepted_for_floats(tmp_path):
    spec = load(tmp_path, "llm: {model: x/y}\nagent: {timeout_minutes: 5}\n")
    assert spec.agent.timeout_minutes == 5.0 and type(spec.agent.timeout_minutes) is float


@pytest.mark.parametrize(
    "field, value, hint",
    [("evaluation", "backend: docker", "`swebench-docker`"), ("evaluation", "backend: nnone", "`none`"), ("agent", "workspace: dockr", "`docker`")],
)
def test_enum_did_you_mean(tmp_path, field, value, hint):
    message = fails(tmp_path, f"llm: {{model: x/y}}\n{field}:\n  {value}\n", "line 3", f"`{field}.", "Did you mean", hint)
    assert "must be one of" in message


def test_enum_without_close_match_lists_choices(tmp_path):
    fails(tmp_path, "llm: {model: x/y}\nevaluation: {backend: k8s}\n", "line 2", "local, swebench-docker, swebench-modal, none")


def test_alias_and_nested_field_both_given(tmp_path):
    fails(tmp_path, "llm: {model: x/y}\nagent: {max_iterations: 3}\nmax_iterations: 4\n", "line 3", "both given", "agent.max_iterations")


def test_alias_and_llm_both_given(tmp_path):
    fails(tmp_path, "llm: {model: x/y}\nllm_config_name: eval\n", "line 2", "`llm_config_name`", "both given")


def test_skip_evaluation_contradicts_backend(tmp_path):
    fails(tmp_path, "llm: {model: x/y}\nevaluation: {backend: local}\nskip_evaluation: true\n", "line 3", "skip_evaluation", "backend")


def test_missing_llm(tmp_path):
    fails(tmp_path, "name: x\n", "`llm`", "llm: {model: openai/gpt-4o", "llm: eval_gpt4", "--llm-config")


def test_inline_llm_without_model(tmp_path):
    fails(tmp_path, "name: x\nllm:\n  temperature: 0.1\n", "line 2", "`llm.model`", "model: openai/gpt-4o")


def test_config_table_not_found_lists_names(tmp_path):
    (tmp_path / "config.toml").write_text(CONFIG)
    config = str((tmp_path / "config.toml").resolve())
    fails(tmp_path, "name: x\nllm: eval_gpt5\n", "line 2", "`llm`", "[llm.eval_gpt5]", config, "[llm.eval_gpt4]", "[llm.from_env]")


def test_config_file_missing(tmp_path):
    fails(tmp_path, "llm: eval\nllm_config_file: nope.toml\n", "line 1", "nope.toml", "does not exist", "llm_config_file")


def test_no_config_file_anywhere(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    fails(tmp_path, "llm: eval\n", "line 1", "no config.toml found", str(tmp_path / "config.toml"), "llm_config_file")


def test_config_file_not_toml(tmp_path):
    (tmp_path / "config.toml").write_text('[llm.eval]\nmodel = "x"\nbroken line here\n')
    fails(tmp_path, "llm: eval\n", "line 1", "not valid TOML", "line 3")


def test_config_table_without_model(tmp_path):
    (tmp_path / "config.toml").write_text("[llm.eval]\ntemperature = 0.1\n")
    with pytest.raises(UserError, match=r"config.toml, table \[llm.eval\]: has no `model`"):
        load(tmp_path, "llm: eval\n")


def test_config_table_wrong_type(tmp_path):
    (tmp_path / "config.toml").write_text('[llm.eval]\nmodel = "x/y"\napi_key = 12345\n')
    with pytest.raises(UserError) as info:
        load(tmp_path, "llm: eval\n")
    assert "[llm.eval], field `api_key`" in info.value.message and "12345" not in info.value.message


def test_config_table_bad_value_example_is_toml(tmp_path):
    (tmp_path / "config.toml").write_text('[llm.eval]\nmodel = "x/y"\nnum_retries = "many"\n')
    with pytest.raises(UserError, match=r"\[llm.eval\], field `num_retries`: must be a whole number.*`num_retries = 3`"):
        load(tmp_path, "llm: eval\n")


def test_api_key_env_not_set(tmp_path):
    fails(tmp_path, "llm:\n  model: x/y\n  api_key_env: MY_KEY\n", "line 3", "`llm.api_key_env`", "MY_KEY", "export MY_KEY=", env={})


def test_api_key_env_holding_the_key_itself(tmp_path):
    fails(tmp_path, f"llm:\n  model: x/y\n  api_key_env: {SECRET}\n", "line 3", "NAME of an environment variable", env={})


def test_config_api_key_env_not_set(tmp_path):
    (tmp_path / "config.toml").write_text(CONFIG.replace('api_key = "sk-test-very-secret-0123456789"\n', ""))
    with pytest.raises(UserError, match="export OTHER_KEY="):
        load(tmp_path, "llm: from_env\n", env={})


def test_spec_file_missing(tmp_path):
    with pytest.raises(UserError, match="nope.yaml: the spec file does not exist"):
        load_spec(tmp_path / "nope.yaml")


def test_spec_is_a_folder(tmp_path):
    with pytest.raises(UserError, match="is a folder"):
        load_spec(tmp_path)


def test_spec_not_yaml(tmp_path):
    fails(tmp_path, "llm: {model: x/y}\nagent: kind: X\n", "line 2", "not valid YAML")


def test_spec_duplicate_key(tmp_path):
    message = fails(tmp_path, f"llm: {{model: x/y}}\nname: {SECRET}\nname: b\n", "line 3", "duplicate key")
    assert "with value" not in message


def test_spec_top_level_not_mapping(tmp_path):
    fails(tmp_path, "- a\n- b\n", "top level must be a mapping", "got a list")


def test_spec_empty(tmp_path):
    fails(tmp_path, "# nothing\n", "empty", "llm")


@pytest.mark.parametrize("name", ["data/missing.jsonl", "./missing", "../x.parquet", "~/nope-awm.json"])
def test_local_dataset_missing(tmp_path, name):
    fails(
        tmp_path,
        f"llm: {{model: x/y}}\ndataset:\n  name: {name}\n",
        "line 3",
        "`dataset.name`",
        "does not exist",
        "missing" if "missing" in name else name.split("/")[-1],
        "princeton-nlp/SWE-bench",
        "builtin:minibench",
    )


def test_local_dataset_folder_is_not_a_file(tmp_path):
    (tmp_path / "data.jsonl").mkdir()
    fails(tmp_path, "llm: {model: x/y}\ndataset: {name: ./data.jsonl}\n", "line 2", "is not a readable file")


def test_hub_name_is_not_checked(tmp_path):
    assert load(tmp_path, "llm: {model: x/y}\ndataset: {name: org/some-set}\n").dataset.name == "org/some-set"


@pytest.mark.parametrize(
    "overrides, flag, hint",
    [
        ({"dataset.limit": 0}, "--limit", "at least 1"),
        ({"induction.trigger": "x"}, "--induction-trigger", "--induction-trigger 10"),
        ({"induction.max_workflows": 0}, "--max-workflows", "at least 1"),
        ({"verbose": "loud"}, "--quiet", "true or false"),
        ({"evaluation.backend": "nope"}, "--skip-evaluation", "local, swebench-docker, swebench-modal, none"),
        ({"llm": "missing"}, "--llm-config", "[llm.missing]"),
    ],
)
def test_override_errors_name_the_flag(tmp_path, overrides, flag, hint):
    (tmp_path / "config.toml").write_text(CONFIG)
    fails(tmp_path, "llm: {model: x/y}\n", f"option `{flag}`", hint, overrides=overrides)


# ---------------------------------------------------------------- secrets and imports


def test_secret_never_in_repr_or_public(tmp_path):
    (tmp_path / "config.toml").write_text(CONFIG)
    for text in (INLINE, "llm: eval_gpt4\n"):
        spec = load(tmp_path, text)
        assert spec.llm.api_key == SECRET
        assert SECRET not in repr(spec) and SECRET not in str(spec)
        assert SECRET not in json.dumps(spec.public())
        assert spec.public()["llm"]["api_key"] == "<redacted>"


def test_import_is_light():
    code = (
        "import sys, awm.spec, awm.model.tables, awm.errors;"
        "heavy = [m for m in sys.modules if m.split('.')[0] in ('openhands', 'litellm', 'datasets', 'swebench')];"
        "print(heavy)"
    )
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, check=True,
                         env={**os.environ, "PYTHONPATH": str(root)})
    assert out.stdout.strip() == "[]"


# ---------------------------------------------------------------- the run name: its folder's name

@pytest.mark.parametrize("name, expected", [
    ("a/b", "'/'"),
    ("../escape", "'/'"),
    (".hidden", "starts with `.`"),
    ("..", "starts with `.`"),
    ("my run", "' '"),
    ("n" * 101, "101 characters"),
])
def test_a_run_name_that_is_no_folder_name_is_refused(tmp_path, name, expected):
    fails(tmp_path, f"name: '{name}'\nllm: {{model: openai/x}}\n", "line 1", "field `name`", expected)


@pytest.mark.parametrize("name", ["demo", "django-lite_2.1", "a" * 100, "_x", "-x"])
def test_good_run_names_load(tmp_path, name):
    assert load(tmp_path, f"name: '{name}'\nllm: {{model: openai/x}}\n").name == name


def test_a_name_from_the_spec_file_name_is_made_safe(tmp_path):
    path = write(tmp_path, "llm: {model: openai/x}\n", name=".my spec (1).yaml")
    assert load_spec(path, None, ENV).name == "my-spec-1-"


def test_memory_is_a_switch_or_a_section(tmp_path):
    base = "llm: {model: openai/gpt-4o}\n"
    assert load(tmp_path, base + "memory: off\n").memory.enabled == "off"
    spec = load(tmp_path, base + "memory:\n  retrieval: all\n  budget_tokens: 800\n  from: runs/train\n")
    assert (spec.memory.enabled, spec.memory.retrieval, spec.memory.budget_tokens, spec.memory.start_from) == (
        "on", "all", 800, str((tmp_path / "runs" / "train").resolve()))  # a path: from the spec's folder
    assert load(tmp_path, base, overrides={"memory.enabled": "off"}).memory.enabled == "off"
    spec = load(tmp_path, base + "induction:\n  success: tests+judge\n  from_failures: true\n"
                "  llm: {model: openai/gpt-4o-mini, temperature: 0.2}\n")
    assert (spec.induction.success, spec.induction.from_failures) == ("tests+judge", True)
    assert (spec.induction.llm.model, spec.induction.llm.temperature) == ("openai/gpt-4o-mini", 0.2)
    assert spec.public()["induction"]["llm"]["model"] == "openai/gpt-4o-mini"


def test_memory_mistakes_name_the_field_and_the_fix(tmp_path):
    base = "llm: {model: openai/gpt-4o}\n"
    fails(tmp_path, base + "memory: maybe\n", "field `memory`", "one of on, off")
    fails(tmp_path, base + "memory:\n  retrieval: bm26\n", "memory.retrieval", "Did you mean `bm25`?")
    fails(tmp_path, base + "memory:\n  retrieval: embedding\n", "memory.retrieval", "embedding_model")
    fails(tmp_path, base + "memory:\n  budget: 10\n", "unknown key `budget`")
    fails(tmp_path, base + "induction:\n  success: vibes\n", "induction.success", "tests, judge, tests+judge")
    fails(tmp_path, base + "induction:\n  llm: {modle: x}\n", "induction.llm.modle", "Did you mean `model`?")
    fails(tmp_path, base, "option `--memory`", overrides={"memory.enabled": "maybe"})


def test_the_induction_models_key_is_never_written(tmp_path):
    spec = load(tmp_path, "llm: {model: openai/gpt-4o}\ninduction:\n  llm: {model: openai/o3, api_key_env: K2}\n",
                env={"K2": "sk-secret-induction-key"})
    assert spec.induction.llm.api_key == "sk-secret-induction-key"
    assert "sk-secret-induction-key" not in json.dumps(spec.public())
