"""One schema: the spec's dataclasses declare each field once (type, default, range, example, doc, flag); validation,
awm-tui's flags, the Python API's AWMConfig and the README's field table are derived from them. A field added in
one place is in all four."""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path

import pytest

from awm import api, spec
from awm.errors import UserError
from awm.grading import BACKENDS
from awm.memory.retrieval import RETRIEVALS
from awm.spec import FIELDS, Flag, setting
from awm_tui.commands import cli

ROOT = Path(__file__).resolve().parents[1]


def test_the_readmes_field_table_is_the_generated_one():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("<!-- field table: python -m awm.spec --table -->\n")
    end = readme.index("<!-- end of the field table -->")
    table = readme[start:end].split("\n", 1)[1]
    assert table == spec.field_table(), "README's field table is stale: paste `python -m awm.spec --table` into it"


def test_choices_are_their_owners():
    assert FIELDS["memory.retrieval"].choices == RETRIEVALS == ("bm25", "embedding", "all")
    assert FIELDS["evaluation.backend"].choices == BACKENDS
    assert FIELDS["memory.enabled"].choices == ("on", "off", "frozen")


def test_every_field_has_a_doc_and_every_flag_a_help():
    assert len(spec.ENTRIES) > 70
    assert all(e.setting.doc.strip() and "\n" not in e.setting.doc for e in spec.ENTRIES)
    assert all(f.name.startswith("--") and f.help for f in spec.FLAGS.values())
    assert {k for k in spec.FLAGS if k != "llm"} <= set(FIELDS)
    assert spec.OVERRIDE_FLAGS["workers"] == "--workers" and spec.OVERRIDE_FLAGS["verbose"] == "--quiet"


def test_a_type_the_schema_cannot_read_is_refused_when_the_dataclass_is_read():
    @dataclasses.dataclass
    class Odd:
        when: complex = setting(1j, doc="a type no spec field has")

    with pytest.raises(TypeError, match="needs `kind=`"):
        list(spec._entries_of(Odd))


# ---------------------------------------------------------------- a field added in one place


@pytest.fixture
def extended(monkeypatch):
    """RunSpec with one more top-level field (and its flag) and MemorySpec with one more setting, declared as any
    field is: the tables derived again from them, and back to the real ones afterwards."""

    @dataclasses.dataclass
    class Memory(spec.MemorySpec):
        recall_depth: int = setting(2, doc="how deep recall goes", lo=1)

    @dataclasses.dataclass
    class Run(spec.RunSpec):
        memory: spec.MemorySpec = spec.section(Memory, doc="the workflow memory")
        issue_retries: int = setting(0, doc="retries of an issue that errs", lo=0,
                                     flag=Flag("--issue-retries", "retry an erring issue up to N times", metavar="N"))

    monkeypatch.setattr(spec, "MemorySpec", Memory)
    monkeypatch.setattr(spec, "RunSpec", Run)
    spec.derive()
    try:
        yield Run
    finally:
        monkeypatch.undo()
        spec.derive()
        assert "issue_retries" not in FIELDS and "--issue-retries" not in cli.parser().format_help()


def write(folder: Path, text: str) -> Path:
    path = folder / "spec.yaml"
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def message(call) -> str:
    with pytest.raises(UserError) as info:
        call()
    assert "\n" not in info.value.message
    return info.value.message


def test_a_field_added_in_one_place_is_validated_from_a_file(extended, tmp_path):
    loaded = spec.load_spec(write(tmp_path, "llm: {model: x/y}\nissue_retries: 2\nmemory: {recall_depth: 4}\n"))
    assert isinstance(loaded, extended) and loaded.issue_retries == 2 and loaded.memory.recall_depth == 4
    assert spec.load_spec(write(tmp_path, "llm: {model: x/y}\n")).issue_retries == 0  # its default
    bad = write(tmp_path, "llm: {model: x/y}\nissue_retries: -1\n")
    assert message(lambda: spec.load_spec(bad)) == (
        f"{bad}, line 2, field `issue_retries`: must be at least 0, got -1. Write e.g. `issue_retries: 0`.")
    typo = write(tmp_path, "llm: {model: x/y}\nissue_retry: 2\n")
    assert "unknown key `issue_retry`. Did you mean `issue_retries`?" in message(lambda: spec.load_spec(typo))
    deep = write(tmp_path, "llm: {model: x/y}\nmemory:\n  recall_depth: 0\n")
    assert message(lambda: spec.load_spec(deep)) == (
        f"{deep}, line 3, field `memory.recall_depth`: must be at least 1, got 0. Write e.g. `recall_depth: 2`.")


def test_a_field_added_in_one_place_is_a_flag_of_awm_tui(extended, tmp_path):
    parser = cli.parser()
    assert "--issue-retries N" in parser.format_help() and "retry an erring issue up to N times" in parser.format_help()
    args = parser.parse_args(["spec.yaml", "--issue-retries", "3"])
    assert cli.overrides(args) == {"issue_retries": 3}
    path = write(tmp_path, "llm: {model: x/y}\n")
    assert spec.load_spec(path, cli.overrides(args)).issue_retries == 3
    wrong = cli.overrides(parser.parse_args(["spec.yaml", "--issue-retries", "many"]))
    assert message(lambda: spec.load_spec(path, wrong)) == (
        f'{path}, option `--issue-retries`: must be a whole number, got "many" (a string). Write e.g. '
        "`--issue-retries 0`.")


def test_a_field_added_in_one_place_is_a_field_of_awm_config(extended):
    config_class = api.config_class()
    assert "issue_retries" in {f.name for f in dataclasses.fields(config_class)}
    assert config_class(llm={"model": "x/y"}, issue_retries=2).to_spec().issue_retries == 2
    assert config_class(llm={"model": "x/y"}, memory={"recall_depth": 5}).to_spec().memory.recall_depth == 5
    assert message(lambda: config_class(llm={"model": "x/y"}, issue_retries="2").to_spec()) == (
        'AWMConfig, field `issue_retries`: must be a whole number, got "2" (a string). Write e.g. '
        "`issue_retries: 0`.")
    assert "issue_retries" in config_class.from_dict({"issue_retries": 1}).to_dict()


def test_a_field_added_in_one_place_is_in_the_field_table(extended):
    rows = spec.field_table().splitlines()
    assert "| `issue_retries` | whole number ≥ 0 | `0` | `--issue-retries N` | retries of an issue that errs |" in rows
    assert "| `memory.recall_depth` | whole number ≥ 1 | `2` |  | how deep recall goes |" in rows


def test_awm_config_has_the_design_names_then_every_other_top_level_field():
    names = [f.name for f in dataclasses.fields(api.AWMConfig)]
    design = ["llm_config_name", "agent_class", "max_iterations", "dataset_name", "split", "repo_filter",
              "induction_trigger_count", "max_workflows", "output_dir", "checkpoint_interval", "skip_evaluation",
              "verbose"]
    assert names[:len(design)] == design and names[-1] == "source"
    assert set(names[len(design):-1]) == {"name", "llm", "llm_config_file", "agent", "dataset", "repos", "evaluation",
                                          "induction", "memory", "max_consecutive_errors", "budget", "workers",
                                          "max_staleness"}
