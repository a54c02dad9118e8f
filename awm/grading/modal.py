"""Official grading on Modal (modal.com) with the SWE-bench harness's own Modal path (swebench 4.1.0,
swebench.harness.modal_eval): each patch is graded by `run_instance_modal`, a Modal function that builds the
instance's image from the harness's own scripts (setup_env.sh, setup_repo.sh), starts a sandbox from it, applies
the patch, runs eval.sh and grades the log with the harness's `get_eval_report`. What it returns (test output,
report, its run_instance.log) is saved in the issue's eval folder as the harness's `run_instances_modal` saves it,
and read into the same verdicts as the Docker backend's. Each call runs in a container of its own on Modal, so a
run's workers grade at once, on as many machines.

Traps of 4.1.0 and of Modal handled here:
- an app cannot be run twice at once (`App.run()`: "App is already running"), and swebench's function belongs to
  one app: the evaluations in flight share one app session, started by the first and stopped by the last;
- what the function raises (a sandbox that could not be created, a sandbox past its timeout) is swebench's
  `EvaluationError`, which Modal cannot rebuild on this side: it arrives as `ExecutionError` carrying the remote
  traceback, whose text is read for the cause;
- a sandbox that reaches its timeout may cut the tests short without any error: a test log without the harness's
  end marker after (nearly) the whole timeout is a timeout, not a failed patch;
- the image is built from the environment script, so `make_test_spec` must fetch the repository's requirements
  (no namespace, no fallback without them, unlike the Docker backend's pulled images);
- the function never terminates its sandbox: it ends at its timeout at the latest."""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import traceback
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, TypedDict
from uuid import uuid4

from awm import atomic
from awm.errors import UserError, brief
from awm.grading.base import END, EvalResult, GradingEvaluator, excerpt, failing_summary
from awm.grading.harness import _last_error, _lines_after, _test_runtime, build_test_spec
from awm.records import Issue, Status

log = logging.getLogger("awm.grading.modal")

APPLY_FAILED = ">>>>> Patch Apply Failed"
APPLIED = ">>>>> Applied Patch"
VERIFY_TIMEOUT_S = 30
# A test log without the end marker after this share of the sandbox's lifetime was cut short by its end.
CUT_SHORT_SHARE = 0.9
_EXCEPTION_LINE = re.compile(r"^(?:[A-Za-z_]\w*\.)*([A-Za-z_]\w*(?:Error|Exception|Failure)): (.*)$", re.M)
_NOT_CAUSES = {"RetryError", "EvaluationError", "ExecutionError"}


class _Detail(TypedDict):
    """What every verdict from Modal carries besides its status, reason and report (EvalResult's fields)."""
    test_output: str
    test_s: float


class ModalApi:
    """The slice of Modal this backend uses: where the credentials come from, a check that Modal accepts them, and
    one call of the harness's Modal function inside a running app. `app`, `function` and `client` default to
    swebench's app, its `run_instance_modal` and `modal.Client.from_env()`; tests pass fakes.

    Thread-safe: the calls in flight share one app session (`App.run()` cannot be entered twice), started by the
    first call and stopped when the last one returns."""

    def __init__(self, app: Any = None, function: Any = None, client: Any = None):
        self._app, self._function, self._client = app, function, client
        self._lock = threading.Lock()
        self._users = 0
        self._session: ExitStack | None = None
        self.sessions = 0  # app sessions started (for tests and notes)

    def _harness(self) -> tuple[Any, Any]:
        if self._app is None or self._function is None:
            from swebench.harness.modal_eval import run_evaluation_modal as modal_eval

            self._app = self._app or modal_eval.app
            self._function = self._function or modal_eval.run_instance_modal
        return self._app, self._function

    def credentials(self) -> str | None:
        """Where Modal's credentials come from, as Modal itself reads them (MODAL_TOKEN_ID and MODAL_TOKEN_SECRET,
        else the active profile of ~/.modal.toml or $MODAL_CONFIG_PATH); None when there are none."""
        import modal.config as modal_config

        get = modal_config.config.get
        if os.environ.get("MODAL_TOKEN_ID") and os.environ.get("MODAL_TOKEN_SECRET"):
            return "MODAL_TOKEN_ID and MODAL_TOKEN_SECRET"
        profile = getattr(modal_config, "_profile", "default")
        if get("token_id") and get("token_secret"):
            return f"{modal_config.user_config_path} (profile {profile})"
        if get("oauth_refresh_token") and get("oauth_client_id"):
            return f"Modal's OAuth settings (profile {profile})"
        return None

    def verify(self, timeout_s: float | None = None) -> None:
        """Modal answers and accepts the credentials (its ClientHello), or this raises what Modal raised; a Modal
        that does not answer within `timeout_s` (VERIFY_TIMEOUT_S) is a TimeoutError."""
        timeout_s = VERIFY_TIMEOUT_S if timeout_s is None else timeout_s
        outcome: list[BaseException | None] = []

        def hello() -> None:
            try:
                client = self._client
                if client is None:
                    import modal

                    client = modal.Client.from_env()
                client.hello()
                outcome.append(None)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                outcome.append(exc)

        thread = threading.Thread(target=hello, name="modal-verify", daemon=True)
        thread.start()
        thread.join(timeout_s)
        if not outcome:
            raise TimeoutError(f"no answer from Modal within {timeout_s:g} s")
        if outcome[0] is not None:
            raise outcome[0]

    def run_instance(self, test_spec, pred: dict, run_id: str, timeout: int):
        """swebench's `run_instance_modal` for one prediction, on Modal: its TestOutput, or what it raised."""
        _, function = self._harness()
        with self._running():
            return function.remote(test_spec, pred, run_id, timeout)

    @contextmanager
    def _running(self) -> Iterator[None]:
        app, _ = self._harness()
        with self._lock:
            if self._users == 0:
                session = ExitStack()
                session.enter_context(app.run())  # may raise: nothing is counted then
                self._session = session
                self.sessions += 1
            self._users += 1
        try:
            yield
        finally:
            with self._lock:
                self._users -= 1
                if self._users == 0 and self._session is not None:
                    session, self._session = self._session, None
                    try:
                        session.close()
                    except Exception as exc:  # noqa: BLE001 - the verdicts are in; a failed stop is a note
                        log.warning("stopping the Modal app failed: %s", brief(exc))


_shared_api: ModalApi | None = None
_shared_lock = threading.Lock()


def shared_api() -> ModalApi:
    """One ModalApi per process for swebench's one app: every evaluator without its own shares its session."""
    global _shared_api
    with _shared_lock:
        if _shared_api is None:
            _shared_api = ModalApi()
        return _shared_api


class ModalEvaluator(GradingEvaluator):
    name = "swebench-modal"

    def __init__(self, run_dir: Path, run_tag: str, timeout_s: float, model_name: str, api: ModalApi | None = None):
        self.run_dir = Path(run_dir)
        self.run_tag = re.sub(r"[^A-Za-z0-9_.-]+", "-", run_tag).strip("-.") or "run"
        self.timeout_s = timeout_s
        self.model_name = model_name
        self.api = api or shared_api()

    def warm_up(self) -> None:
        import swebench.harness.modal_eval.run_evaluation_modal  # noqa: F401 - seconds to import (modal, the app)

    def check_available(self) -> None:
        """Refused now, one paragraph naming the field: no Modal credentials, credentials Modal refuses, or a Modal
        that cannot be reached."""
        alternatives = ("or set `evaluation.backend: swebench-docker` (the harness in a Docker engine here), "
                        "`evaluation.backend: local` (tests on this machine, for repositories with a local recipe) "
                        "or `evaluation.backend: none` (no evaluation).")
        try:
            where = self.api.credentials()
        except Exception as exc:  # noqa: BLE001 - modal refuses a malformed ~/.modal.toml at import
            raise UserError(f"`swebench-modal` grades on Modal, and Modal's settings cannot be read "
                            f"({brief(exc, first_line=False)}). Fix or remove the file (`modal token new` writes a "
                            "new one), "
                            + alternatives, field="evaluation.backend") from None
        if where is None:
            raise UserError(
                "`swebench-modal` grades each patch on Modal (modal.com) with the SWE-bench harness's Modal "
                "functions, and no Modal credentials are set here: neither MODAL_TOKEN_ID and MODAL_TOKEN_SECRET in "
                "the environment nor a token in ~/.modal.toml. Run `modal token new` (or export both variables with "
                "a token from modal.com/settings/tokens) and try again, " + alternatives,
                field="evaluation.backend",
            )
        try:
            self.api.verify()
        except Exception as exc:  # noqa: BLE001 - any failure here means "cannot grade on Modal"
            if type(exc).__name__ == "AuthError":
                why = f"Modal refused the credentials from {where} ({brief(exc, first_line=False)}). Make a new " \
                      "token with `modal token new` and try again, "
            else:
                why = f"Modal cannot be reached with the credentials from {where} " \
                      f"({brief(exc, first_line=False)}). Check the network (and MODAL_SERVER_URL if set) and try " \
                      "again, "
            raise UserError(f"`swebench-modal` grades each patch on Modal: {why}" + alternatives,
                            field="evaluation.backend") from None

    # ------------------------------------------------------------------ evaluation

    def _grade(self, issue: Issue, patch: str, out_dir: Path, report: dict) -> EvalResult:
        try:
            test_spec = build_test_spec(issue.to_row(), None)  # the image is built from its scripts: no namespace
        except Exception as exc:  # noqa: BLE001
            return EvalResult(Status.ERROR, reason=f"the harness could not prepare the instance: {brief(exc)}",
                              report=report)
        run_id = f"awm-{self.run_tag}-{uuid4().hex[:8]}"
        pred = {"instance_id": issue.instance_id, "model_name_or_path": self.model_name, "model_patch": patch}
        log_dir = out_dir / "harness" / run_id / self.model_name.replace("/", "__") / issue.instance_id
        try:
            output = self.api.run_instance(test_spec, pred, run_id, max(1, int(self.timeout_s)))
        except Exception as exc:  # noqa: BLE001 - whatever Modal or the function raised is this instance's ERROR
            return self._raised(exc, log_dir, report)
        self._save(output, log_dir, out_dir)
        return self._verdict(issue, output, report)

    def _save(self, output, log_dir: Path, out_dir: Path) -> None:
        """The files `run_instances_modal` saves locally for each instance, in the issue's folder."""
        log_dir.mkdir(parents=True, exist_ok=True)
        atomic.write_text(log_dir / "run_instance.log", output.run_instance_log or "")
        atomic.write_text(log_dir / "test_output.txt", output.test_output or "")
        atomic.write_text(log_dir / "patch.diff", output.patch_diff or "")
        if output.report_json_str:
            atomic.write_text(log_dir / "report.json", output.report_json_str)
        if output.test_output:
            atomic.write_text(out_dir / "test_output.txt", output.test_output)

    def _verdict(self, issue: Issue, output, report: dict) -> EvalResult:
        test_output, instance_log = output.test_output or "", output.run_instance_log or ""
        common = _Detail(test_output=excerpt(test_output), test_s=_test_runtime(instance_log))
        found = _json(output.report_json_str)
        if found and not output.errored:
            report = found.get(issue.instance_id, report)
            if report.get("resolved"):
                return EvalResult(Status.PASS, report=report, **common)
            if not report.get("patch_successfully_applied"):
                if self._cut_short(test_output, instance_log, common["test_s"]):
                    return EvalResult(Status.ERROR, reason=f"the tests timed out after {self.timeout_s:.0f} s "
                                      "(the Modal sandbox ended before they did)", report=report, **common)
                return EvalResult(Status.FAIL, reason="the patch did not apply, or the tests did not run (harness "
                                  "report: patch_successfully_applied false)", report=report, **common)
            return EvalResult(Status.FAIL, reason=failing_summary(report.get("tests_status", {})), report=report,
                              **common)
        if APPLY_FAILED in instance_log:
            why = _lines_after(instance_log, APPLY_FAILED)
            return EvalResult(Status.FAIL, reason=f"the patch does not apply: {why}".rstrip(": "), report=report,
                              **common)
        return EvalResult(Status.ERROR, reason=f"the harness did not finish: {_last_error(instance_log)}",
                          report=report, **common)

    def _cut_short(self, test_output: str, instance_log: str, test_s: float) -> bool:
        """The tests started (the patch applied) and never reached the end marker, and ran (nearly) for the
        sandbox's whole lifetime: its end stopped them."""
        return (APPLIED in instance_log and END not in test_output
                and test_s >= CUT_SHORT_SHARE * max(1, int(self.timeout_s)))

    def _raised(self, exc: BaseException, log_dir: Path, report: dict) -> EvalResult:
        """What the Modal function raised (as Modal hands it over), or what Modal itself raised, as an ERROR."""
        text = _exception_text(exc)
        log_dir.mkdir(parents=True, exist_ok=True)
        atomic.write_text(log_dir / "modal_error.txt", text)
        kind = type(exc).__name__
        if "Test timed out after" in text or kind == "SandboxTimeoutError":
            reason = f"the tests timed out after {self.timeout_s:.0f} s"
        elif kind == "FunctionTimeoutError":
            reason = (f"the harness's Modal function timed out ({brief(exc, first_line=False)}), "
                      "image build included")
        elif "Error creating sandbox" in text:
            reason = f"the Modal sandbox could not be started: {_root_cause(text)}"
        else:
            reason = f"grading on Modal failed: {_root_cause(text) if kind == 'ExecutionError' else brief(exc)}"
        return EvalResult(Status.ERROR, reason=reason[:500], report=report)


# ---------------------------------------------------------------------- reading what Modal hands back


def _json(text: str) -> dict:
    try:
        found = json.loads(text) if text else {}
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def _exception_text(exc: BaseException) -> str:
    """The exception with its causes, as printed: a transported one carries the remote traceback in its message."""
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


def _root_cause(text: str) -> str:
    """The first exception printed that is not a wrapper (tenacity's RetryError, swebench's EvaluationError,
    Modal's ExecutionError), with its message's further lines: with chained exceptions, the innermost cause comes
    first."""
    matches = list(_EXCEPTION_LINE.finditer(text))
    if not matches:
        return " ".join(text.split())[:300]
    match = next((m for m in matches if m.group(1) not in _NOT_CAUSES), matches[-1])
    message = [match.group(2).strip()]
    for line in text[match.end():].splitlines()[1:4]:
        if not line.strip() or line.startswith(("Traceback", "The above exception", "During handling")):
            break
        message.append(line.strip())
    return f"{match.group(1)}: {' '.join(message)}"[:300]
