"""The swebench-modal grading backend, up to the Modal boundary: swebench 4.1.0's own `run_instance_modal` (its
body, `.local()`) runs against a fake Modal: a fake app (which, like Modal's, cannot be run twice at once), a
function whose `.remote` sends the arguments and the result through Modal's own serialization and hands exceptions
back as Modal's client does, and a fake sandbox that plays the harness's commands and returns a recorded test log.
What is not run: Modal's servers, the image build from the harness's scripts, a real sandbox."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from awm.errors import UserError
from awm.grading import modal as modal_backend
from awm.grading.backends import make_evaluator
from awm.grading.modal import ModalApi, ModalEvaluator
from awm.records import Issue, Status
from awm.repos import RepoCache
from awm.spec import EvaluationSpec
from test_harness import F2P, P2P, PATCH, ROW, offline_requirements  # noqa: F401 - the fixture is autouse

modal = pytest.importorskip("modal")
IID = ROW["instance_id"]
ENTRYPOINT = ("python", "-m", "run_evaluation_modal_entrypoint")

# What eval.sh prints in the instance's sandbox for this instance (Django 3.0's runtests.py), as the Modal path
# returns it: stdout, then stderr (`set -x` traces and Django's test runner write to stderr).
RECORDED_STDOUT = """\
On branch main
nothing to commit, working tree clean
commit d26b2424437dabeeca94d7900b37d2df4410da0c
Author: Tim Graham <timograham@gmail.com>
Date:   Wed Mar 20 03:46:18 2019 +0000

    Refs #30264 -- Removed unused RegexValidator code.
Obtaining file:///testbed
Requirement already satisfied: pytz in /opt/miniconda3/envs/testbed/lib/python3.6/site-packages (2024.1)
Requirement already satisfied: sqlparse in /opt/miniconda3/envs/testbed/lib/python3.6/site-packages (0.4.4)
Installing collected packages: Django
  Running setup.py develop for Django
Successfully installed Django-3.0.dev20190320034618
Updated 1 path from 5d3c4d1e27
Testing against Django installed in '/testbed/django'
Importing application utils_tests
Skipping setup of unused database(s): default, other.
System check identified no issues (0 silenced).
Updated 1 path from 5d3c4d1e27
"""
RECORDED_STDERR = """\
+ source /opt/miniconda3/bin/activate
++ _CONDA_ROOT=/opt/miniconda3
+ conda activate testbed
+ cd /testbed
+ sed -i '/en_US.UTF-8/s/^# //g' /etc/locale.gen
+ locale-gen en_US.UTF-8
Generating locales (this might take a while)...
  en_US.UTF-8... done
Generation complete.
+ export LANG=en_US.UTF-8
+ git status
+ git show
+ git -c core.fileMode=false diff d26b2424437dabeeca94d7900b37d2df4410da0c
+ python -m pip install -e .
+ git checkout d26b2424437dabeeca94d7900b37d2df4410da0c tests/utils_tests/test_validators.py
+ git apply -v -
Checking patch tests/utils_tests/test_validators.py...
Applied patch tests/utils_tests/test_validators.py cleanly.
+ : '>>>>> Start Test Output'
+ ./tests/runtests.py --verbosity 2 --settings=test_sqlite --parallel 1 utils_tests.test_validators
{f2p_line}
{p2p_line}

----------------------------------------------------------------------
Ran 2 tests in 0.004s

{summary}
+ : '>>>>> End Test Output'
+ git checkout d26b2424437dabeeca94d7900b37d2df4410da0c tests/utils_tests/test_validators.py
"""


def recorded_stderr(f2p: str = "ok", p2p: str = "ok") -> str:
    failed = [status for status in (f2p, p2p) if status != "ok"]
    return RECORDED_STDERR.format(f2p_line=f"{F2P} ... {f2p}", p2p_line=f"{P2P} ... {p2p}",
                                  summary=f"FAILED (failures={len(failed)})" if failed else "OK")


def partial_stderr() -> str:
    """The log of tests the sandbox's end cut short: the start marker and one test, no end marker."""
    return recorded_stderr().split(P2P)[0]


GIT_APPLY_FAILED = "Checking patch django/core/validators.py...\nerror: patch failed: django/core/validators.py:1\n"
PATCH_FAILED = ("patching file django/core/validators.py\nHunk #1 FAILED at 1.\n"
                "1 out of 1 hunk FAILED -- saving rejects to file django/core/validators.py.rej\n")


# ---------------------------------------------------------------------- the fake Modal


@dataclass
class Outcome:
    """How an instance's sandbox behaves."""

    applies: str = "git"  # git | patch (git apply fails, GNU patch works) | none
    f2p: str = "ok"
    p2p: str = "ok"
    hangs: str = ""  # the tests outlast the sandbox: "raises" (later calls raise SandboxTimeoutError) | "silent"
    create_error: Exception | None = None  # every Sandbox.create raises it
    fail_at: str = ""  # a command (fragment) whose exec raises `fail_error`
    fail_error: Exception | None = None
    barrier: threading.Barrier | None = None  # the tests wait for the other instances' tests


class FakeStream:
    def __init__(self, text: str):
        self.lines = text.splitlines(keepends=True)

    def __aiter__(self):
        return self._lines()

    async def _lines(self):
        for line in self.lines:
            yield line


class FakeProcess:
    """modal.container_process.ContainerProcess as run_instance_modal uses it."""

    def __init__(self, stdout: str = "", stderr: str = "", code: int = 0):
        self.stdout, self.stderr, self._code = FakeStream(stdout), FakeStream(stderr), code
        self.returncode: int | None = None

    def wait(self) -> int:
        self.returncode = self._code
        return self._code


class FakeFile:
    def __init__(self, sandbox: FakeSandbox, path: str):
        self.sandbox, self.path = sandbox, path

    def write(self, text: str) -> None:
        self.sandbox.files[self.path] = text


class FakeImage:
    """What ModalSandboxRuntime.get_instance_image makes: an image built from the harness's two scripts."""

    def __init__(self, test_spec, files: tuple = ()):
        self.test_spec, self.files = test_spec, files
        self.env_script, self.repo_script = test_spec.setup_env_script, test_spec.install_repo_script

    def add_local_file(self, local, remote, copy=False):
        return FakeImage(self.test_spec, (*self.files, remote))


class FakeSandbox:
    """A sandbox from the instance's image, playing the harness's commands; it dies at the end of its lifetime."""

    def __init__(self, image: FakeImage, timeout: int, cpu: int, outcome: Outcome):
        self.image, self.timeout, self.cpu, self.outcome = image, timeout, cpu, outcome
        self.instance_id = image.test_spec.instance_id
        self.created = time.monotonic()
        self.files: dict[str, str] = {}
        self.commands: list[str] = []
        self.ended = ""

    def open(self, path: str, mode: str = "r") -> FakeFile:
        assert mode == "w"
        return FakeFile(self, path)

    def exec(self, *args: str) -> FakeProcess:
        assert args[:3] == ENTRYPOINT, args
        command, o = args[3], self.outcome
        self.commands.append(command)
        if self.ended == "raises":
            raise modal.exception.SandboxTimeoutError()
        if self.ended == "silent":
            return FakeProcess(code=-1)
        if o.fail_at and o.fail_at in command:
            raise o.fail_error
        if "git apply -v /tmp/patch.diff" in command:
            return FakeProcess("django/core/validators.py\n", code=0) if o.applies == "git" else \
                FakeProcess(stderr=GIT_APPLY_FAILED, code=1)
        if "patch --batch --fuzz=5 -p1 -i /tmp/patch.diff" in command:
            return FakeProcess("patching file django/core/validators.py\n") if o.applies == "patch" else \
                FakeProcess(PATCH_FAILED, code=1)
        if command == "cd /testbed && git diff":
            return FakeProcess(self.files.get("/tmp/patch.diff", ""))
        if command.endswith("/bin/bash /root/eval.sh"):
            if o.barrier is not None:
                o.barrier.wait(timeout=30)
            if o.hangs:
                time.sleep(max(0.0, self.created + self.timeout - time.monotonic()))
                self.ended = o.hangs
                return FakeProcess(RECORDED_STDOUT, partial_stderr(), code=137)
            return FakeProcess(RECORDED_STDOUT, recorded_stderr(o.f2p, o.p2p))
        raise AssertionError(f"unexpected command {command!r}")

    def terminate(self) -> None:
        self.ended = "terminated"


class FakeApp:
    """modal.App.run as Modal runs it: an ephemeral app that cannot be started again while it runs."""

    def __init__(self, start_error: Exception | None = None):
        self.running = False
        self.starts = self.stops = 0
        self.start_error = start_error

    @contextmanager
    def run(self):
        if self.start_error is not None:
            error, self.start_error = self.start_error, None
            raise error
        if self.running:
            raise modal.exception.InvalidError("App is already running and can't be started again.")
        self.running, self.starts = True, self.starts + 1
        try:
            yield self
        finally:
            self.running, self.stops = False, self.stops + 1


class FakeFunction:
    """run_instance_modal.remote minus the cloud: the arguments and the result cross Modal's own serialization, the
    real function's body runs here (`.local()`) in a fake container, and what it raises comes back through Modal's
    own client code (`_process_result`): swebench's EvaluationError cannot be rebuilt here, so it arrives as
    ExecutionError with the remote traceback, as it would from Modal."""

    def __init__(self, app: FakeApp):
        self.app = app
        self.calls: list[tuple] = []
        self.raise_first: Exception | None = None

    def remote(self, test_spec, pred, run_id, timeout):
        from modal._serialization import deserialize, pickle_exception, serialize
        from modal._utils.function_utils import _process_result
        from modal_proto import api_pb2
        from swebench.harness.modal_eval.run_evaluation_modal import run_instance_modal

        if not self.app.running:
            raise modal.exception.ExecutionError("the function's app is not running")
        self.calls.append((test_spec.instance_id, pred, run_id, timeout))
        if self.raise_first is not None:
            error, self.raise_first = self.raise_first, None
            raise error
        args = deserialize(serialize((test_spec, pred, run_id, timeout)), None)
        try:
            result = run_instance_modal.local(*args)
        except Exception as exc:  # noqa: BLE001 - as the container reports it
            failure = api_pb2.GenericResult(status=api_pb2.GenericResult.GENERIC_STATUS_FAILURE, exception=repr(exc),
                                            traceback=traceback.format_exc(), data=pickle_exception(exc))
            asyncio.run(_process_result(failure, api_pb2.DATA_FORMAT_PICKLE, None, None))
            raise AssertionError("Modal's client did not raise") from None
        finally:
            _container_exits(test_spec.instance_id)
        return deserialize(serialize(result), None)


def _container_exits(instance_id: str) -> None:
    """swebench's per-instance logger keeps its handlers (one writes to sys.stdout): closed as the container would."""
    logger = logging.getLogger(f"{instance_id}.run_instance.log")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()


class FakeClient:
    def __init__(self, error: Exception | None = None, hangs: bool = False):
        self.error, self.hangs, self.hellos = error, hangs, 0
        self.answer = threading.Event()  # what a hanging Modal waits for

    def hello(self):
        self.hellos += 1
        if self.hangs:
            self.answer.wait(10)
        if self.error is not None:
            raise self.error


@dataclass
class FakeModal:
    app: FakeApp
    function: FakeFunction
    client: FakeClient
    container: Path
    default: Outcome = field(default_factory=Outcome)
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    sandboxes: list[FakeSandbox] = field(default_factory=list)
    attempts: int = 0

    def api(self) -> ModalApi:
        return ModalApi(app=self.app, function=self.function, client=self.client)

    def create(self, image: FakeImage, timeout: int | None = None, cpu: int = 0) -> FakeSandbox:
        self.attempts += 1
        outcome = self.outcomes.get(image.test_spec.instance_id, self.default)
        if outcome.create_error is not None:
            raise outcome.create_error
        sandbox = FakeSandbox(image, timeout, cpu, outcome)
        self.sandboxes.append(sandbox)
        return sandbox


@pytest.fixture
def fake_modal(tmp_path, monkeypatch) -> FakeModal:
    import tenacity
    from swebench.harness.modal_eval import run_evaluation_modal as modal_eval

    app = FakeApp()
    fake = FakeModal(app=app, function=FakeFunction(app), client=FakeClient(), container=tmp_path / "container")
    monkeypatch.setattr(modal.Sandbox, "create", staticmethod(fake.create))
    monkeypatch.setattr(modal_eval.ModalSandboxRuntime, "get_instance_image", staticmethod(FakeImage))
    # The container's working directory, where the function writes its cwd-relative log folder.
    monkeypatch.setattr(modal_eval, "RUN_EVALUATION_LOG_DIR", fake.container / "logs" / "run_evaluation")
    # The harness retries a failing Sandbox.create 7 times, 4-10 s apart: not in tests.
    monkeypatch.setattr(modal_eval.ModalSandboxRuntime._get_sandbox.retry, "wait", tenacity.wait_none())
    return fake


def evaluator(tmp_path: Path, fake: FakeModal, timeout_s: float = 1800) -> ModalEvaluator:
    return ModalEvaluator(tmp_path / "run", "my run #1", timeout_s, "openai/gpt-4o", api=fake.api())


def issue(**changes) -> Issue:
    return Issue.from_row({**ROW, **changes})


# ---------------------------------------------------------------------- verdicts


def test_a_resolving_patch_passes_with_the_harness_files_in_the_run_folder(tmp_path, fake_modal,
                                                                           offline_requirements):
    out = tmp_path / "run" / "eval" / IID
    result = evaluator(tmp_path, fake_modal).evaluate(issue(), PATCH, out)
    assert result.status == Status.PASS and result.reason == "", result.reason
    report = json.loads((out / "report.json").read_text())[IID]
    assert report["resolved"] is True and report["patch_successfully_applied"] is True
    assert report["tests_status"]["FAIL_TO_PASS"]["success"] == [F2P]
    assert report["tests_status"]["PASS_TO_PASS"]["success"] == [P2P]
    saved = (out / "test_output.txt").read_text()
    assert saved.startswith("On branch main") and ">>>>> End Test Output" in saved  # stdout, then stderr
    assert (out / "patch.diff").read_text() == PATCH
    # The function's own files, saved as run_instances_modal saves them, under a fresh harness run id.
    (run_id,) = [p.name for p in (out / "harness").iterdir()]
    assert run_id.startswith("awm-my-run-1-")
    harness = out / "harness" / run_id / "openai__gpt-4o" / IID
    assert {p.name for p in harness.iterdir()} == {"run_instance.log", "test_output.txt", "patch.diff", "report.json"}
    remote = fake_modal.container / "logs" / "run_evaluation" / run_id / "openai__gpt-4o" / IID
    assert (harness / "run_instance.log").read_text() == (remote / "run_instance.log").read_text()
    assert ">>>>> Applied Patch" in (harness / "run_instance.log").read_text()
    assert json.loads((harness / "report.json").read_text())[IID]["resolved"] is True
    # What the call and the sandbox got.
    ((instance_id, pred, called_run_id, timeout),) = fake_modal.function.calls
    assert (instance_id, called_run_id, timeout) == (IID, run_id, 1800)
    assert pred == {"instance_id": IID, "model_name_or_path": "openai/gpt-4o", "model_patch": PATCH}
    (sandbox,) = fake_modal.sandboxes
    assert sandbox.timeout == 1800 and sandbox.cpu == 4
    assert "/root/run_evaluation_modal_entrypoint.py" in sandbox.image.files
    assert "sqlparse" in sandbox.image.env_script  # built from the real requirements (no pulled image)
    assert offline_requirements == [("django/django", ROW["environment_setup_commit"])]
    assert "git reset --hard d26b2424437dabeeca94d7900b37d2df4410da0c" in sandbox.image.repo_script
    assert sandbox.files["/tmp/patch.diff"] == PATCH
    assert "./tests/runtests.py --verbosity 2 --settings=test_sqlite --parallel 1 utils_tests.test_validators" \
        in sandbox.files["/root/eval.sh"]
    assert [c.split(" && ")[1].split()[0] for c in sandbox.commands] == ["git", "git", "python3", "git"]
    assert (fake_modal.app.starts, fake_modal.app.stops, fake_modal.app.running) == (1, 1, False)


def test_unresolved_names_the_failing_tests(tmp_path, fake_modal):
    fake_modal.outcomes = {IID: Outcome(f2p="FAIL")}
    result = evaluator(tmp_path, fake_modal).evaluate(issue(), PATCH, tmp_path / "a")
    assert result.status == Status.FAIL and result.reason == f"1 FAIL_TO_PASS test(s) still fail ({F2P})"
    fake_modal.outcomes = {IID: Outcome(p2p="ERROR")}
    broke = evaluator(tmp_path, fake_modal).evaluate(issue(), PATCH, tmp_path / "b")
    assert broke.status == Status.FAIL and broke.reason == f"1 PASS_TO_PASS test(s) now fail ({P2P})"
    assert json.loads((tmp_path / "b" / "report.json").read_text())[IID]["resolved"] is False


def test_a_patch_that_does_not_apply_fails_and_gnu_patch_is_the_fallback(tmp_path, fake_modal):
    fake_modal.outcomes = {IID: Outcome(applies="none")}
    result = evaluator(tmp_path, fake_modal).evaluate(issue(), PATCH, tmp_path / "a")
    assert result.status == Status.FAIL
    assert result.reason == ("the patch does not apply: patching file django/core/validators.py; Hunk #1 FAILED at "
                             "1.; 1 out of 1 hunk FAILED -- saving rejects to file django/core/validators.py.rej")
    report = json.loads((tmp_path / "a" / "report.json").read_text())[IID]
    assert report["resolved"] is False and report["patch_successfully_applied"] is False
    assert [c.split(" && ")[1].split()[0] for c in fake_modal.sandboxes[0].commands] == ["git", "patch"]
    fake_modal.outcomes = {IID: Outcome(applies="patch")}
    fallback = evaluator(tmp_path, fake_modal).evaluate(issue(), PATCH, tmp_path / "b")
    assert fallback.status == Status.PASS, fallback.reason


def test_a_sandbox_that_cannot_be_created_is_an_error_with_its_cause(tmp_path, fake_modal):
    failure = modal.exception.ImageBuildError(  # Modal's own words (modal/_image.py)
        "Image build for im-F4k3 failed.\nView the build logs:\n  modal image logs im-F4k3", "im-F4k3")
    fake_modal.outcomes = {IID: Outcome(create_error=failure)}
    out = tmp_path / "o"
    result = evaluator(tmp_path, fake_modal).evaluate(issue(), PATCH, out)
    assert result.status == Status.ERROR
    assert result.reason == ("the Modal sandbox could not be started: ImageBuildError: Image build for im-F4k3 "
                             "failed. View the build logs: modal image logs im-F4k3")
    assert fake_modal.attempts == 7  # the harness's own retries
    (error_file,) = (out / "harness").rglob("modal_error.txt")
    text = error_file.read_text()
    assert "Here is the remote traceback" in text and "Error creating sandbox" in text  # as Modal hands it over
    assert json.loads((out / "report.json").read_text())[IID]["resolved"] is False


def test_a_sandbox_that_fails_during_grading_is_an_error(tmp_path, fake_modal):
    fake_modal.outcomes = {IID: Outcome(fail_at="git apply", fail_error=modal.exception.SandboxTerminatedError(
        "Sandbox sb-123 was terminated"))}
    result = evaluator(tmp_path, fake_modal).evaluate(issue(), PATCH, tmp_path / "o")
    assert result.status == Status.ERROR
    assert result.reason == "the harness did not finish: Sandbox sb-123 was terminated"


def test_tests_that_outlast_the_sandbox_are_a_timeout_error(tmp_path, fake_modal):
    """The sandbox lives `timeout` seconds. When its end stops the tests, later calls into it raise
    SandboxTimeoutError (swebench turns it into 'Test timed out'), or may just return nothing: both are timeouts."""
    fake_modal.outcomes = {IID: Outcome(hangs="raises")}
    raised = evaluator(tmp_path, fake_modal, timeout_s=1).evaluate(issue(), PATCH, tmp_path / "a")
    assert raised.status == Status.ERROR and raised.reason == "the tests timed out after 1 s"
    fake_modal.outcomes = {IID: Outcome(hangs="silent")}
    silent = evaluator(tmp_path, fake_modal, timeout_s=2).evaluate(issue(), PATCH, tmp_path / "b")
    assert silent.status == Status.ERROR
    assert silent.reason == "the tests timed out after 2 s (the Modal sandbox ended before they did)"
    assert silent.test_s >= 1.8
    saved = (tmp_path / "b" / "test_output.txt").read_text()
    assert ">>>>> Start Test Output" in saved and ">>>>> End Test Output" not in saved


def test_modals_own_failures_are_errors_and_leave_no_app_running(tmp_path, fake_modal):
    fake_modal.function.raise_first = modal.exception.FunctionTimeoutError("Function timed out after 7200 s")
    timed_out = evaluator(tmp_path, fake_modal).evaluate(issue(), PATCH, tmp_path / "a")
    assert timed_out.status == Status.ERROR
    assert timed_out.reason.startswith("the harness's Modal function timed out (FunctionTimeoutError: Function "
                                       "timed out after 7200 s)")
    fake_modal.app.start_error = modal.exception.ConnectionError("Could not connect to the Modal server.")
    unreachable = evaluator(tmp_path, fake_modal).evaluate(issue(), PATCH, tmp_path / "b")
    assert unreachable.status == Status.ERROR
    assert unreachable.reason == "grading on Modal failed: ConnectionError: Could not connect to the Modal server."
    assert not fake_modal.app.running
    again = evaluator(tmp_path, fake_modal).evaluate(issue(), PATCH, tmp_path / "c")
    assert again.status == Status.PASS, again.reason


def test_an_empty_patch_or_an_unknown_instance_never_reaches_modal(tmp_path, fake_modal, monkeypatch):
    empty = evaluator(tmp_path, fake_modal).evaluate(issue(), "  \n", tmp_path / "a")
    assert empty.status == Status.FAIL and empty.reason == "the agent produced no patch"
    unknown = evaluator(tmp_path, fake_modal).evaluate(issue(version="0.1"), PATCH, tmp_path / "b")
    assert unknown.status == Status.ERROR and "could not prepare" in unknown.reason

    from swebench.harness.test_spec import python as py_spec

    def down(repo, commit):
        raise requests.ConnectionError("raw.githubusercontent.com unreachable")

    monkeypatch.setattr(py_spec, "get_requirements_by_commit", down)
    offline = evaluator(tmp_path, fake_modal).evaluate(issue(), PATCH, tmp_path / "c")
    assert offline.status == Status.ERROR and "ConnectionError" in offline.reason  # the image needs them
    assert fake_modal.function.calls == [] and fake_modal.app.starts == 0


# ---------------------------------------------------------------------- several at once


def test_instances_graded_at_once_share_one_app_and_run_in_parallel(tmp_path, fake_modal):
    """Three workers grade three instances at once: their tests only run when all three sandboxes run them at the
    same time (a barrier), so a serialized backend would fail them. One app session serves the three."""
    ids = [f"django__django-1234{n}" for n in range(3)]
    barrier = threading.Barrier(len(ids))
    fake_modal.outcomes = {iid: Outcome(barrier=barrier) for iid in ids}
    ev = evaluator(tmp_path, fake_modal)
    results: dict[str, object] = {}

    def grade(iid: str) -> None:
        results[iid] = ev.evaluate(issue(instance_id=iid), PATCH, tmp_path / "eval" / iid)

    threads = [threading.Thread(target=grade, args=(iid,)) for iid in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert {iid: r.status for iid, r in results.items()} == {iid: Status.PASS for iid in ids}, \
        {iid: r.reason for iid, r in results.items()}
    assert (fake_modal.app.starts, fake_modal.app.stops, fake_modal.app.running) == (1, 1, False)
    assert len({call[2] for call in fake_modal.function.calls}) == 3  # a run id each
    for iid in ids:
        assert json.loads((tmp_path / "eval" / iid / "report.json").read_text())[iid]["resolved"] is True


def test_one_after_the_other_each_call_runs_the_app_again(tmp_path, fake_modal):
    ev = evaluator(tmp_path, fake_modal)
    for n in range(2):
        assert ev.evaluate(issue(), PATCH, tmp_path / f"o{n}").status == Status.PASS
    assert (fake_modal.app.starts, fake_modal.app.stops) == (2, 2)
    assert ev.api.sessions == 2


# ---------------------------------------------------------------------- credentials and preflight


@pytest.fixture
def no_credentials(monkeypatch, tmp_path):
    import modal.config as modal_config

    for name in ("MODAL_TOKEN_ID", "MODAL_TOKEN_SECRET", "MODAL_PROFILE", "MODAL_OAUTH_REFRESH_TOKEN",
                 "MODAL_OAUTH_CLIENT_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(modal_config, "_user_config", {})
    monkeypatch.setattr(modal_config, "_profile", "default")
    monkeypatch.setattr(modal_config, "user_config_path", str(tmp_path / ".modal.toml"))
    return modal_config


def test_no_credentials_is_refused_up_front_in_one_paragraph(tmp_path, fake_modal, no_credentials):
    ev = evaluator(tmp_path, fake_modal)
    with pytest.raises(UserError) as err:
        ev.check_available()
    message = str(err.value.at("specs/x.yaml"))
    assert message.startswith("specs/x.yaml, field `evaluation.backend`: `swebench-modal` grades each patch on Modal")
    assert "MODAL_TOKEN_ID and MODAL_TOKEN_SECRET" in message and "~/.modal.toml" in message
    assert "`modal token new`" in message
    assert "evaluation.backend: swebench-docker" in message and "evaluation.backend: local" in message
    assert "\n" not in message
    assert fake_modal.client.hellos == 0  # refused before any network


def test_credentials_from_the_environment_or_the_toml_file_are_checked_with_modal(tmp_path, fake_modal,
                                                                                  no_credentials, monkeypatch):
    ev = evaluator(tmp_path, fake_modal)
    monkeypatch.setattr(no_credentials, "_user_config", {"work": {"token_id": "ak-1", "token_secret": "as-1"}})
    monkeypatch.setattr(no_credentials, "_profile", "work")
    assert ev.api.credentials() == f"{tmp_path / '.modal.toml'} (profile work)"
    ev.check_available()
    assert fake_modal.client.hellos == 1
    monkeypatch.setenv("MODAL_TOKEN_ID", "ak-2")
    monkeypatch.setenv("MODAL_TOKEN_SECRET", "as-2")
    assert ev.api.credentials() == "MODAL_TOKEN_ID and MODAL_TOKEN_SECRET"

    fake_modal.client.error = modal.exception.AuthError("Token ID is malformed")
    with pytest.raises(UserError) as refused:
        ev.check_available()
    assert refused.value.field == "evaluation.backend"
    assert "Modal refused the credentials from MODAL_TOKEN_ID and MODAL_TOKEN_SECRET (AuthError: Token ID is " \
           "malformed)" in refused.value.text
    fake_modal.client.error = OSError("Network is unreachable")
    with pytest.raises(UserError) as unreachable:
        ev.check_available()
    assert "Modal cannot be reached" in unreachable.value.text and "Network is unreachable" in unreachable.value.text
    fake_modal.client.error, fake_modal.client.hangs = None, True
    monkeypatch.setattr(modal_backend, "VERIFY_TIMEOUT_S", 0.2)
    with pytest.raises(UserError) as silent:
        ev.check_available()
    assert "Modal cannot be reached" in silent.value.text
    assert "(TimeoutError: no answer from Modal within 0.2 s)" in silent.value.text
    fake_modal.client.answer.set()  # the check's thread ends


def test_make_evaluator_builds_the_modal_backend_and_refuses_it_without_credentials(tmp_path, fake_modal,
                                                                                  no_credentials, monkeypatch):
    spec = EvaluationSpec(backend="swebench-modal", timeout_minutes=12)
    kw = dict(run_dir=tmp_path / "run", run_tag="t", model_name="m")
    with pytest.raises(UserError) as err:
        make_evaluator(spec, RepoCache(tmp_path), tmp_path, **kw)  # the real ModalApi, reading Modal's settings
    assert err.value.field == "evaluation.backend" and "no Modal credentials" in err.value.text
    monkeypatch.setenv("MODAL_TOKEN_ID", "ak-1")
    monkeypatch.setenv("MODAL_TOKEN_SECRET", "as-1")
    monkeypatch.setattr(modal_backend, "shared_api", fake_modal.api)
    made = make_evaluator(spec, RepoCache(tmp_path), tmp_path, **kw)
    assert isinstance(made, ModalEvaluator) and made.name == "swebench-modal"
    assert made.timeout_s == 720 and made.model_name == "m" and fake_modal.client.hellos == 1
    assert made.evaluate(issue(), PATCH, tmp_path / "o").status == Status.PASS


def test_check_available_here_where_there_are_no_credentials(tmp_path):
    api = ModalApi()
    if api.credentials() is not None:
        pytest.skip("Modal credentials are set here")
    with pytest.raises(UserError) as err:
        ModalEvaluator(tmp_path, "r", 60, "m", api=api).check_available()
    assert "no Modal credentials are set here" in str(err.value)


def test_the_evaluators_without_their_own_api_share_one():
    assert ModalEvaluator(Path("."), "a", 1, "m").api is ModalEvaluator(Path("."), "b", 1, "m").api


def test_warm_up_imports_the_harness_modal_path(tmp_path, fake_modal):
    import sys

    evaluator(tmp_path, fake_modal).warm_up()
    assert "swebench.harness.modal_eval.run_evaluation_modal" in sys.modules
