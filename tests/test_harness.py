"""The SWE-bench harness evaluator, up to the Docker boundary: the real test spec for a Django instance, a fake
`run_instance` that writes its files where the real one does (and grades with the real `get_eval_report`), and a
fake Docker client."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from awm.errors import UserError
from awm.grading.harness import HarnessEvaluator, build_test_spec
from awm.records import Issue, Status

F2P = "test_trailing_newline (utils_tests.test_validators.TestValidators)"
P2P = "test_regex_equality (utils_tests.test_validators.TestValidatorEquality)"
TEST_PATCH = """diff --git a/tests/utils_tests/test_validators.py b/tests/utils_tests/test_validators.py
--- a/tests/utils_tests/test_validators.py
+++ b/tests/utils_tests/test_validators.py
@@ -1 +1,4 @@
 from django.core.validators import RegexValidator
+
+def test_trailing_newline():
+    pass
"""
# Shaped like a SWE-bench row from the hub (values made up): test lists are JSON strings.
ROW = {
    "repo": "django/django",
    "instance_id": "django__django-12345",
    "base_commit": "d26b2424437dabeeca94d7900b37d2df4410da0c",
    "environment_setup_commit": "419a78300f7cd27611196e1e464d50fd0385ff27",
    "version": "3.0",
    "problem_statement": "RegexValidator accepts a trailing newline.",
    "hints_text": "",
    "created_at": "2019-03-20T03:46:18Z",
    "patch": "",
    "test_patch": TEST_PATCH,
    "FAIL_TO_PASS": json.dumps([F2P]),
    "PASS_TO_PASS": json.dumps([P2P]),
}
PATCH = "diff --git a/django/core/validators.py b/django/core/validators.py\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n"


@pytest.fixture(autouse=True)
def offline_requirements(monkeypatch):
    """swebench 4.1.0's make_test_spec fetches Django's tests/requirements/py3.txt at environment_setup_commit from
    raw.githubusercontent.com (test_spec/python.py: get_requirements -> get_requirements_by_commit)."""
    from swebench.harness.test_spec import python as py_spec

    fetched: list[tuple[str, str]] = []

    def fake(repo: str, commit: str) -> str:
        fetched.append((repo, commit))
        return "asgiref ~= 3.2\nsqlparse\n"

    monkeypatch.setattr(py_spec, "get_requirements_by_commit", fake)
    return fetched


class FakeClient:
    def __init__(self, ping_error: Exception | None = None, root: str = "/"):
        self.ping_error = ping_error
        self.root = root
        self.pruned: list[dict] = []
        self.images = self

    def ping(self):
        if self.ping_error:
            raise self.ping_error
        return True

    def info(self):
        return {"DockerRootDir": self.root}

    def prune(self, filters=None):
        self.pruned.append(filters)
        return {"ImagesDeleted": None, "SpaceReclaimed": 3_000_000_000}


def django_log(f2p: str, p2p: str) -> str:
    return (f"+ ./tests/runtests.py --verbosity 2 --settings=test_sqlite --parallel 1 utils_tests.test_validators\n"
            f">>>>> Start Test Output\n{F2P} ... {f2p}\n{P2P} ... {p2p}\n>>>>> End Test Output\n")


class FakeRunInstance:
    """Does what swebench's run_instance does to its log folder, minus Docker."""

    def __init__(self, outcome: str):
        self.outcome = outcome
        self.calls: list[dict] = []

    def __call__(self, test_spec, pred, rm_image, force_rebuild, client, run_id, timeout, rewrite_reports=False):
        from swebench.harness import run_evaluation
        from swebench.harness.grading import get_eval_report

        log_dir = (run_evaluation.RUN_EVALUATION_LOG_DIR / run_id / pred["model_name_or_path"].replace("/", "__")
                   / test_spec.instance_id)
        self.calls.append(dict(test_spec=test_spec, pred=pred, rm_image=rm_image, force_rebuild=force_rebuild,
                               client=client, run_id=run_id, timeout=timeout, log_dir=log_dir))
        if self.outcome == "raise":
            raise RuntimeError("docker went away")
        log_dir.mkdir(parents=True, exist_ok=True)
        instance_log = log_dir / "run_instance.log"
        if self.outcome == "apply_failed":
            instance_log.write_text(
                "2024-01-01 10:00:00,000 - INFO - Failed to apply patch to container: git apply --verbose\n"
                "2024-01-01 10:00:01,000 - INFO - >>>>> Patch Apply Failed:\npatching file django/core/validators.py\n"
                "Hunk #1 FAILED at 1.\n1 out of 1 hunk FAILED -- saving rejects to file x.rej\n\n")
            return {"completed": False, "resolved": False}
        if self.outcome == "timeout":
            (log_dir / "test_output.txt").write_text(f"partial\n\nTimeout error: {timeout} seconds exceeded.")
            instance_log.write_text("2024-01-01 10:00:00,000 - INFO - Test runtime: 1_801.50 seconds\n"
                                    "EvaluationError: django__django-12345: Test timed out after 1800 seconds.\n")
            return {"completed": False, "resolved": False}
        if self.outcome == "pull_failed":
            instance_log.write_text("2024-01-01 10:00:00,000 - ERROR - Error in evaluating model for "
                                    "django__django-12345: Error occurred while pulling image x: 404\nTraceback ...\n")
            return {"completed": False, "resolved": False}
        statuses = {"resolved": ("ok", "ok"), "unresolved": ("FAIL", "ok"), "unparsable": None}[self.outcome]
        output = django_log(*statuses) if statuses else "the eval script died before the tests\n"
        (log_dir / "test_output.txt").write_text(output)
        instance_log.write_text("2024-01-01 10:00:00,000 - INFO - Test runtime: 12.50 seconds\n")
        report = get_eval_report(test_spec=test_spec, prediction=pred, test_log_path=str(log_dir / "test_output.txt"),
                                 include_tests_status=True)
        (log_dir / "report.json").write_text(json.dumps(report, indent=4))
        return {"completed": True, "resolved": report[test_spec.instance_id]["resolved"]}


def evaluator(tmp_path: Path, fake: FakeRunInstance | None, **kw) -> HarnessEvaluator:
    kw.setdefault("client", FakeClient())
    return HarnessEvaluator(tmp_path / "run", "my run #1", timeout_s=1800, model_name="openai/gpt-4o",
                            run_instance=fake, min_free_gb=0, **kw)


def test_the_test_spec_for_a_django_instance(offline_requirements):
    spec = build_test_spec(Issue.from_row(ROW).to_row(), "swebench")
    assert (spec.instance_id, spec.repo, spec.version) == ("django__django-12345", "django/django", "3.0")
    assert spec.FAIL_TO_PASS == [F2P] and spec.PASS_TO_PASS == [P2P]
    assert ("./tests/runtests.py --verbosity 2 --settings=test_sqlite --parallel 1 utils_tests.test_validators"
            in spec.eval_script)
    reset = "git checkout d26b2424437dabeeca94d7900b37d2df4410da0c tests/utils_tests/test_validators.py"
    assert reset in spec.eval_script
    assert spec.instance_image_key == "swebench/sweb.eval.x86_64.django_1776_django-12345:latest"
    # The trap: the requirements are fetched even though the image is pulled, and they land in the env script.
    assert offline_requirements == [("django/django", "419a78300f7cd27611196e1e464d50fd0385ff27")]
    assert "sqlparse" in spec.setup_env_script


def test_a_failed_requirements_fetch_does_not_stop_a_pulled_image(monkeypatch):
    from swebench.harness.test_spec import python as py_spec

    def down(repo, commit):
        raise requests.ConnectionError("raw.githubusercontent.com unreachable")

    monkeypatch.setattr(py_spec, "get_requirements_by_commit", down)
    spec = build_test_spec(ROW, "swebench")
    assert "utils_tests.test_validators" in spec.eval_script
    with pytest.raises(requests.ConnectionError):
        build_test_spec(ROW, None)  # images built here need the real requirements


def test_resolved_maps_to_pass_with_files_in_the_run_folder(tmp_path):
    fake = FakeRunInstance("resolved")
    out = tmp_path / "run" / "eval" / "django__django-12345"
    result = evaluator(tmp_path, fake).evaluate(Issue.from_row(ROW), PATCH, out)
    assert result.status == Status.PASS and result.reason == ""
    assert result.test_s == 12.5
    call = fake.calls[0]
    assert call["log_dir"].is_relative_to(out / "harness")  # not ./logs/run_evaluation under the cwd
    assert call["pred"] == {"instance_id": "django__django-12345", "model_name_or_path": "openai/gpt-4o",
                            "model_patch": PATCH}
    assert call["rm_image"] is True and call["force_rebuild"] is False and call["timeout"] == 1800
    assert call["test_spec"].instance_id == "django__django-12345"
    report = json.loads((out / "report.json").read_text())
    assert report["django__django-12345"]["resolved"] is True
    assert report["django__django-12345"]["tests_status"]["FAIL_TO_PASS"]["success"] == [F2P]
    assert ">>>>> Start Test Output" in (out / "test_output.txt").read_text()
    assert (out / "patch.diff").read_text() == PATCH
    assert (call["log_dir"] / "run_instance.log").exists()  # the harness's own files stay too
    assert not Path("logs/run_evaluation").exists() or not any(Path("logs/run_evaluation").glob("awm-*"))


def test_every_attempt_gets_a_fresh_run_id(tmp_path):
    fake = FakeRunInstance("resolved")
    ev = evaluator(tmp_path, fake)
    for attempt in range(2):
        ev.evaluate(Issue.from_row(ROW), PATCH, tmp_path / f"out{attempt}")
    first, second = (c["run_id"] for c in fake.calls)
    assert first != second
    assert first.startswith("awm-my-run-1-")  # container-name safe


def test_unresolved_names_the_failing_tests(tmp_path):
    result = evaluator(tmp_path, FakeRunInstance("unresolved")).evaluate(Issue.from_row(ROW), PATCH, tmp_path / "o")
    assert result.status == Status.FAIL
    assert result.reason == f"1 FAIL_TO_PASS test(s) still fail ({F2P})"


def test_a_patch_that_does_not_apply_is_a_fail(tmp_path):
    result = evaluator(tmp_path, FakeRunInstance("apply_failed")).evaluate(Issue.from_row(ROW), PATCH, tmp_path / "o")
    assert result.status == Status.FAIL
    assert result.reason.startswith("the patch does not apply: patching file django/core/validators.py; Hunk #1 FAILED")
    assert json.loads((tmp_path / "o" / "report.json").read_text())["django__django-12345"]["resolved"] is False


def test_a_report_without_test_results_is_a_fail(tmp_path):
    result = evaluator(tmp_path, FakeRunInstance("unparsable")).evaluate(Issue.from_row(ROW), PATCH, tmp_path / "o")
    assert result.status == Status.FAIL
    assert "did not apply" in result.reason
    assert result.report["patch_successfully_applied"] is False


def test_a_crash_a_timeout_and_a_failed_pull_are_errors(tmp_path):
    issue = Issue.from_row(ROW)
    crashed = evaluator(tmp_path, FakeRunInstance("raise")).evaluate(issue, PATCH, tmp_path / "a")
    assert crashed.status == Status.ERROR and crashed.reason == "the harness crashed: RuntimeError: docker went away"
    timed_out = evaluator(tmp_path, FakeRunInstance("timeout")).evaluate(issue, PATCH, tmp_path / "b")
    assert timed_out.status == Status.ERROR and timed_out.reason == "the tests timed out after 1800 s"
    assert timed_out.test_s == 1801.5
    assert "Timeout error" in (tmp_path / "b" / "test_output.txt").read_text()
    pulled = evaluator(tmp_path, FakeRunInstance("pull_failed")).evaluate(issue, PATCH, tmp_path / "c")
    assert pulled.status == Status.ERROR and "Error occurred while pulling image x: 404" in pulled.reason


def test_an_unknown_version_is_an_error_without_running(tmp_path):
    fake = FakeRunInstance("resolved")
    result = evaluator(tmp_path, fake).evaluate(Issue.from_row({**ROW, "version": "0.1"}), PATCH, tmp_path / "o")
    assert result.status == Status.ERROR and "could not prepare" in result.reason
    assert fake.calls == []


def test_an_empty_patch_fails_without_the_harness(tmp_path):
    fake = FakeRunInstance("resolved")
    result = evaluator(tmp_path, fake).evaluate(Issue.from_row(ROW), "  \n", tmp_path / "o")
    assert result.status == Status.FAIL and result.reason == "the agent produced no patch"
    assert fake.calls == []
    assert (tmp_path / "o" / "report.json").exists()


def test_keep_images_and_namespace_are_passed_through(tmp_path):
    fake = FakeRunInstance("resolved")
    evaluator(tmp_path, fake, keep_images=True, namespace=None).evaluate(Issue.from_row(ROW), PATCH, tmp_path / "o")
    assert fake.calls[0]["rm_image"] is False
    assert fake.calls[0]["test_spec"].instance_image_key == "sweb.eval.x86_64.django__django-12345:latest"


def test_low_disk_prunes_dangling_images_and_notes_it(tmp_path):
    client = FakeClient(root=str(tmp_path))
    ev = HarnessEvaluator(tmp_path / "run", "r", 60, "m", min_free_gb=10**9, client=client,
                          run_instance=FakeRunInstance("resolved"))
    ev.evaluate(Issue.from_row(ROW), PATCH, tmp_path / "o")
    assert client.pruned == [{"dangling": True}]
    assert "pruned dangling images, 3.0 GB reclaimed" in ev.notes[0]
    assert "pruned dangling images" in (tmp_path / "run" / "harness.log").read_text()
    roomy = FakeClient()
    HarnessEvaluator(tmp_path / "run", "r", 60, "m", min_free_gb=0, client=roomy,
                     run_instance=FakeRunInstance("resolved")).evaluate(Issue.from_row(ROW), PATCH, tmp_path / "p")
    assert roomy.pruned == []


def test_check_available_with_a_failing_ping(tmp_path):
    ev = evaluator(tmp_path, None, client=FakeClient(ping_error=ConnectionError("connection refused")))
    with pytest.raises(UserError) as err:
        ev.check_available()
    message = str(err.value.at("specs/x.yaml"))
    assert message.startswith("specs/x.yaml, field `evaluation.backend`:")
    assert "no Docker engine is reachable (ConnectionError: connection refused)" in message
    assert "DOCKER_HOST" in message and "evaluation.backend: local" in message and "none" in message
    assert "\n" not in message


def test_check_available_here_where_there_is_no_engine(tmp_path, monkeypatch):
    import docker

    try:
        docker.from_env().ping()
        pytest.skip("a Docker engine is reachable here")
    except Exception:  # noqa: BLE001
        pass
    ev = HarnessEvaluator(tmp_path / "run", "r", 60, "m")  # the real docker.from_env()
    with pytest.raises(UserError) as err:
        ev.check_available()
    assert "`evaluation.backend`" in str(err.value) and "DockerException" in str(err.value)


def test_warm_up_imports_the_harness(tmp_path):
    evaluator(tmp_path, None).warm_up()
    import sys

    assert "swebench.harness.run_evaluation" in sys.modules


# ---------------------------------------------------------------------- the real run_instance, on a fake engine


class FakeEngine:
    """The slice of the Docker SDK that swebench 4.1.0's run_instance touches, with a scripted container."""

    def __init__(self, applies: bool = True, eval_output: str = "", eval_seconds: float = 0.0):
        self.applies = applies
        self.eval_output = eval_output
        self.eval_seconds = eval_seconds
        self.execs: list[str] = []
        self.created: list[dict] = []
        self.removed_images: list[str] = []
        self.images = self.containers = self
        self.api = self

    # client.images / client.containers
    def get(self, key):
        return object()

    def remove(self, image, force=False):
        self.removed_images.append(image)

    def create(self, **kw):
        self.created.append(kw)
        return FakeContainer(self, kw["name"])

    # client.api, reached as container.client.api
    def exec_create(self, container_id, cmd):
        return {"Id": "exec-1"}

    def exec_start(self, exec_id, stream=True):
        import time

        time.sleep(self.eval_seconds)
        yield self.eval_output.encode()

    def exec_inspect(self, exec_id):
        return {"Pid": 4242}


class FakeContainer:
    def __init__(self, engine: FakeEngine, name: str):
        self.engine, self.name, self.id = engine, name, "c0ffee"
        self.client = engine

    def start(self):
        pass

    def exec_run(self, cmd, workdir=None, user=None, detach=False):
        from types import SimpleNamespace

        self.engine.execs.append(cmd)
        if cmd.startswith(("git apply", "patch --batch")) and not self.engine.applies:
            return SimpleNamespace(exit_code=1, output=b"error: patch failed: django/core/validators.py:1\n")
        return SimpleNamespace(exit_code=0, output=b"ok\n")

    def put_archive(self, path, data):
        return True

    def stop(self, timeout=None):
        pass

    def remove(self, force=False):
        pass


def real(tmp_path: Path, engine: FakeEngine, timeout_s: float = 1800) -> HarnessEvaluator:
    return HarnessEvaluator(tmp_path / "run", "r", timeout_s, "openai/gpt-4o", client=engine, min_free_gb=0)


def test_the_real_run_instance_resolves_and_writes_into_the_run_folder(tmp_path):
    engine = FakeEngine(eval_output=django_log("ok", "ok"))
    out = tmp_path / "eval" / "django__django-12345"
    result = real(tmp_path, engine).evaluate(Issue.from_row(ROW), PATCH, out)
    assert result.status == Status.PASS, result.reason
    assert json.loads((out / "report.json").read_text())["django__django-12345"]["resolved"] is True
    assert ">>>>> Start Test Output" in (out / "test_output.txt").read_text()
    run_dirs = list((out / "harness").iterdir())
    assert len(run_dirs) == 1
    instance_dir = run_dirs[0] / "openai__gpt-4o" / "django__django-12345"
    assert {"report.json", "test_output.txt", "run_instance.log", "eval.sh", "patch.diff"} <= {
        p.name for p in instance_dir.iterdir()}
    assert "utils_tests.test_validators" in (instance_dir / "eval.sh").read_text()
    assert engine.created[0]["image"] == "swebench/sweb.eval.x86_64.django_1776_django-12345:latest"
    assert engine.created[0]["name"] == f"sweb.eval.django__django-12345.{run_dirs[0].name}"
    assert engine.removed_images == ["swebench/sweb.eval.x86_64.django_1776_django-12345:latest"]  # rm_image


def test_the_real_run_instance_unresolved_and_not_applying(tmp_path):
    failing = real(tmp_path, FakeEngine(eval_output=django_log("ok", "FAIL"))).evaluate(
        Issue.from_row(ROW), PATCH, tmp_path / "a")
    assert failing.status == Status.FAIL and failing.reason == f"1 PASS_TO_PASS test(s) now fail ({P2P})"
    engine = FakeEngine(applies=False)
    broken = real(tmp_path, engine).evaluate(Issue.from_row(ROW), PATCH, tmp_path / "b")
    assert broken.status == Status.FAIL
    assert broken.reason == "the patch does not apply: error: patch failed: django/core/validators.py:1"
    assert [c.split()[0] for c in engine.execs if c.startswith(("git apply", "patch"))] == ["git", "git", "patch"]


def test_the_real_run_instance_times_out(tmp_path):
    engine = FakeEngine(eval_output=django_log("ok", "ok"), eval_seconds=2)
    result = real(tmp_path, engine, timeout_s=1).evaluate(Issue.from_row(ROW), PATCH, tmp_path / "o")
    assert result.status == Status.ERROR and result.reason == "the tests timed out after 1 s"
    assert "kill -TERM 4242" in engine.execs
