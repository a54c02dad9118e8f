"""Official grading with the SWE-bench harness (swebench 4.1.0): each patch is run by `run_instance` in a fresh
container from the instance's image, with the harness's own eval script, log parser and report.

Images: for SWE-bench's repositories, the prebuilt ones (`swebench/sweb.eval.x86_64.*`, pulled by the harness). For
the demo's repository nothing can be pulled: its images are built here (awm.images.build: the harness's own
setup scripts on a Debian base, named as the harness names local images), and its entry is added to swebench's
tables (awm.demo.harness_specs) as swebench's own entries are written. The harness's containers get host
networking and awm-tui's labels (awm.images.engine.ContainerDefaults): never Docker's default bridge, and a run
killed mid-grading leaves nothing its resume or the dead process's watchdog does not remove.

Traps of 4.1.0 handled here: `run_instance` returns a cached report.json when (run id, model, instance) already has
one, so every attempt gets a fresh run id; it writes under `RUN_EVALUATION_LOG_DIR`, a path relative to the working
directory, so that constant is pointed into the run folder for the call; it swallows every error (its `finally`
returns), so failures are read back from its run_instance.log; `make_test_spec` fetches the repository's
requirements from GitHub even when the image is pulled, so a failed fetch is retried without them."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import shutil
import time
from collections.abc import Callable
from contextlib import contextmanager, redirect_stdout
from pathlib import Path
from typing import TypedDict
from unittest import mock
from uuid import uuid4

from awm import atomic
from awm.errors import UserError, brief
from awm.grading.base import EvalResult, GradingEvaluator, excerpt, failing_summary
from awm.images import engine
from awm.images.specs import PATCH_LOCK as _PATCH_LOCK  # noqa: F401,E501
from awm.images.specs import build_test_spec, builds_here, instance_image
from awm.records import Issue, Status

log = logging.getLogger("awm.grading.harness")



class _Detail(TypedDict):
    """What every verdict of the harness carries besides its status and reason (EvalResult's fields)."""
    test_output: str
    report: dict
    test_s: float


class HarnessEvaluator(GradingEvaluator):
    name = "swebench-docker"

    def __init__(
        self,
        run_dir: Path,
        run_tag: str,
        timeout_s: float,
        model_name: str,
        namespace: str | None = "swebench",
        keep_images: bool = False,
        min_free_gb: float = 50,
        client=None,
        run_instance: Callable[..., dict] | None = None,
        cache=None,
    ):
        self.run_dir = Path(run_dir)
        self.run_tag = re.sub(r"[^A-Za-z0-9_.-]+", "-", run_tag).strip("-.") or "run"  # part of a container name
        self.timeout_s = timeout_s
        self.model_name = model_name
        self.namespace = namespace
        self.keep_images = keep_images
        self.min_free_gb = min_free_gb
        self._client = client
        self._run_instance = run_instance
        self.cache = cache  # awm.repos.RepoCache: the repositories whose images are built here
        self.notes: list[str] = []
        self.run_key = engine.run_key(self.run_dir)

    @property
    def client(self):
        if self._client is None:
            import docker

            self._client = docker.from_env()
        return self._client

    def warm_up(self) -> None:
        import swebench.harness.run_evaluation  # noqa: F401 - ~10 s to import; not on the first issue's clock

    def check_available(self) -> None:
        try:
            self.client.ping()
        except Exception as exc:  # noqa: BLE001 - any failure here means "no engine"
            self._client = None
            raise UserError(
                f"`swebench-docker` runs the SWE-bench harness in "
                f"Docker, and no Docker engine is reachable ({brief(exc)}). Start Docker (or set DOCKER_HOST "
                "to a running engine) and try again, or set `evaluation.backend: local` (tests run on this machine, "
                "for repositories with a local recipe) or `evaluation.backend: none` (no evaluation).",
                field="evaluation.backend",
            ) from None

    # ------------------------------------------------------------------ evaluation

    def remove_leftovers(self) -> list[str]:
        """The grading containers an earlier process of this run left (a kill -9 mid-grading): removed."""
        return engine.remove_containers(self.client, run=self.run_key, kind="grading")

    def _grade(self, issue: Issue, patch: str, out_dir: Path, report: dict) -> EvalResult:
        built_here = builds_here(issue.repo)
        try:
            test_spec = build_test_spec(issue.to_row(), None if built_here else self.namespace)
        except Exception as exc:  # noqa: BLE001
            return EvalResult(Status.ERROR, reason=f"the harness could not prepare the instance: {brief(exc)}",
                              report=report)
        self._ensure_disk()
        if built_here:
            try:
                instance_image(test_spec, self.cache, self.client)
            except Exception as exc:  # noqa: BLE001 - the issue's ERROR, with the step that failed
                return EvalResult(Status.ERROR, reason=f"building the instance image failed: {brief(exc)}",
                                  report=report)
        run_id = f"awm-{self.run_tag}-{uuid4().hex[:8]}"
        pred = {"instance_id": issue.instance_id, "model_name_or_path": self.model_name, "model_patch": patch}
        harness_dir = out_dir / "harness"
        log_dir = harness_dir / run_id / self.model_name.replace("/", "__") / issue.instance_id
        crashed = ""
        try:
            with harness_paths(harness_dir, self.run_dir / "harness_build"):
                run_instance = self._run_instance or _real_run_instance()
                client = engine.ContainerDefaults(self.client, engine.labels("grading", self.run_key))
                run_instance(test_spec, pred, not self.keep_images, False, client, run_id,
                             max(1, int(self.timeout_s)))
        except Exception as exc:  # noqa: BLE001 - the real one swallows its errors; anything else is a crash too
            crashed = brief(exc)
        return self._verdict(issue, log_dir, out_dir, report, crashed)

    def _verdict(self, issue: Issue, log_dir: Path, out_dir: Path, report: dict, crashed: str) -> EvalResult:
        output = _read(log_dir / "test_output.txt")
        instance_log = _read(log_dir / "run_instance.log")
        if output:
            atomic.write_text(out_dir / "test_output.txt", output)
        test_s = _test_runtime(instance_log)
        found = _read(log_dir / "report.json")
        if found and not crashed:
            report = json.loads(found).get(issue.instance_id, report)
            common = _Detail(test_output=excerpt(output), report=report, test_s=test_s)
            if report.get("resolved"):
                return EvalResult(Status.PASS, **common)
            if not report.get("patch_successfully_applied"):
                return EvalResult(Status.FAIL, reason="the patch did not apply, or the tests did not run (harness "
                                  "report: patch_successfully_applied false)", **common)
            return EvalResult(Status.FAIL, reason=failing_summary(report.get("tests_status", {})), **common)
        common = _Detail(test_output=excerpt(output), report=report, test_s=test_s)
        if crashed:
            return EvalResult(Status.ERROR, reason=f"the harness crashed: {crashed}", **common)
        if ">>>>> Patch Apply Failed" in instance_log:
            why = _lines_after(instance_log, ">>>>> Patch Apply Failed")
            return EvalResult(Status.FAIL, reason=f"the patch does not apply: {why}".rstrip(": "), **common)
        if "Timeout error:" in output or "Test timed out" in instance_log:
            return EvalResult(Status.ERROR, reason=f"the tests timed out after {self.timeout_s:.0f} s", **common)
        return EvalResult(Status.ERROR, reason=f"the harness did not finish: {_last_error(instance_log)}", **common)

    # ------------------------------------------------------------------ disk

    def _ensure_disk(self) -> None:
        free = self._free_gb()
        if free is None or free >= self.min_free_gb:
            return
        try:
            pruned = self.client.images.prune(filters={"dangling": True}) or {}
            reclaimed = (pruned.get("SpaceReclaimed") or 0) / 1e9
            self._note(f"free disk {free:.1f} GB < {self.min_free_gb:g} GB: pruned dangling images, "
                       f"{reclaimed:.1f} GB reclaimed")
        except Exception as exc:  # noqa: BLE001 - pruning is a courtesy, never the evaluation's failure
            self._note(f"free disk {free:.1f} GB < {self.min_free_gb:g} GB: pruning failed ({brief(exc)})")

    def _free_gb(self) -> float | None:
        root = "/"
        try:
            root = self.client.info().get("DockerRootDir") or "/"
        except Exception:  # noqa: BLE001
            pass
        if not os.path.exists(root):  # the engine's disk is elsewhere (a VM, a remote host): / is a guess
            root = "/"
        try:
            return shutil.disk_usage(root).free / 1e9
        except OSError:
            return None

    def _note(self, text: str) -> None:
        self.notes.append(text)
        log.warning(text)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with open(self.run_dir / "harness.log", "a", encoding="utf-8") as f:
            f.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {text}\n")


# ---------------------------------------------------------------------- swebench glue


def _real_run_instance():
    from swebench.harness.run_evaluation import run_instance

    return run_instance


@contextmanager
def harness_paths(log_root: Path, build_root: Path):
    """Point the harness's cwd-relative output folders into the run folder for the duration of one call, and keep
    its prints (it prints its errors, which its run_instance.log also holds) off the progress output."""
    from swebench.harness import docker_build, run_evaluation

    with _PATCH_LOCK, \
            mock.patch.object(run_evaluation, "RUN_EVALUATION_LOG_DIR", log_root), \
            mock.patch.object(run_evaluation, "INSTANCE_IMAGE_BUILD_DIR", build_root), \
            mock.patch.object(docker_build, "INSTANCE_IMAGE_BUILD_DIR", build_root), \
            redirect_stdout(io.StringIO()):
        yield


# ---------------------------------------------------------------------- reading the harness's files


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""


def _test_runtime(instance_log: str) -> float:
    match = re.search(r"Test runtime: ([\d_.]+) seconds", instance_log)
    return float(match.group(1).replace("_", "")) if match else 0.0


_STAMP = re.compile(r"^\d{4}-\d\d-\d\d [\d:,]+ - \w+ - ")  # run_instance.log's record prefix


def _strip_stamp(line: str) -> str:
    return _STAMP.sub("", line).strip()


def _lines_after(text: str, marker: str, count: int = 3) -> str:
    """The lines that follow `marker` in the same log record (the next record starts with a time stamp)."""
    lines = []
    for line in text.split(marker, 1)[1].lstrip(":\n").splitlines():
        if _STAMP.match(line):
            break
        lines += [line.strip()] if line.strip() else []
    return "; ".join(lines[:count])[:300]


def _last_error(instance_log: str) -> str:
    found = re.findall(r"Error in evaluating model for \S+: (.*)", instance_log)
    lines = found or [_strip_stamp(x) for x in instance_log.splitlines() if re.search(r"error|exception", x, re.I)]
    return lines[-1].strip()[:300] if lines else "no report, and no error in its log"
