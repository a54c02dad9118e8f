"""A user's mistake ends in one paragraph naming file, field and fix, with exit status 2 — never a traceback."""

import socket
import subprocess

import pytest

from conftest import ROOT, cli

GOOD = """name: t
llm:
  model: openai/test-model
  base_url: http://127.0.0.1:{port}/v1
dataset:
  name: builtin:minibench
  repo_filter: awm-bench/tallyho
  limit: 1
repos:
  awm-bench/tallyho: builtin:minibench
"""


def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def run(tmp_path, text: str, *extra: str, env=None):
    spec = tmp_path / "spec.yaml"
    spec.write_text(text)
    proc = subprocess.run(cli("--no-ui", str(spec), "--output-dir", str(tmp_path / "out"), *extra), cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, env=env)
    return proc, spec


CASES = {
    "unknown key": (GOOD.replace("  limit: 1", "  limt: 1"), ["line 8", "dataset.limt", "Did you mean `limit`"]),
    "wrong type": (GOOD.replace("limit: 1", "limit: ten"), ["line 8", "dataset.limit", "whole number"]),
    "missing llm": ("dataset:\n  name: builtin:minibench\n", ["`llm`", "model"]),
    "unknown llm table": ("llm: llm.nope\nllm_config_file: config.toml\n", ["[llm.nope]", "config.toml", "eval_x"]),
    "missing api key variable": (GOOD.replace("  base_url", "  api_key_env: AWM_TEST_NO_SUCH_KEY\n  base_url"),
                                 ["AWM_TEST_NO_SUCH_KEY", "export AWM_TEST_NO_SUCH_KEY="]),
    "unreadable dataset path": (GOOD.replace("builtin:minibench\n  repo", "data/missing.jsonl\n  repo"),
                                ["dataset.name", "missing.jsonl"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_spec_gives_one_paragraph_and_exit_2(tmp_path, case):
    (tmp_path / "config.toml").write_text('[llm.eval_x]\nmodel = "openai/x"\napi_key = "sk-should-not-leak"\n')
    text, expected = CASES[case]
    proc, spec = run(tmp_path, text.format(port=closed_port()))
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    message = proc.stderr.strip()
    assert message.startswith("awm-tui: ") and "\n" not in message
    assert "spec.yaml" in message
    for part in expected:
        assert part in message, (part, message)
    assert "sk-should-not-leak" not in message


@pytest.mark.slow  # a subprocess that imports litellm and waits on a closed port
def test_unreachable_model_is_reported_before_the_first_issue(tmp_path, awm_home):
    proc, spec = run(tmp_path, GOOD.format(port=closed_port()))
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "unreachable" in proc.stderr and "base_url" in proc.stderr and "spec.yaml" in proc.stderr
    assert not (tmp_path / "out" / "experiences.jsonl").exists()


def test_resume_with_a_spec_that_changes_the_run_is_refused(tmp_path, awm_home):
    out = tmp_path / "out"
    first = tmp_path / "a.yaml"
    first.write_text(GOOD.format(port=1))
    from awm.run.launch import open_run
    from awm.spec import load_spec

    open_run(load_spec(first), output_dir=str(out))
    other = tmp_path / "b.yaml"
    other.write_text(GOOD.format(port=1).replace("openai/test-model", "openai/other-model"))
    proc = subprocess.run(cli("--no-ui", "--resume", str(out), str(other)), capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "cannot resume" in proc.stderr and "other-model" in proc.stderr and "test-model" in proc.stderr


def test_resume_of_unknown_run(tmp_path, awm_home):
    proc = subprocess.run(cli("--no-ui", "--resume", str(tmp_path / "nothing")), capture_output=True, text=True,
                          cwd=ROOT)
    assert proc.returncode == 2 and "no run found" in proc.stderr and "Traceback" not in proc.stderr
