"""The images and the harness in a real Docker engine (scripts/docker-up.sh starts one): the instance images are
shaped as the harness's own, rebuilt only when what they are built from changes; the harness grades in them with
the verdicts local grading gives (gold, a patch that fixes nothing, and the scripted model's own fixes, on all 24
demo instances); a grading container a dead process left is removed."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from awm import demo
from awm.demo.minibench import load_instances
from awm.images.specs import build_test_spec
from awm.images import engine
from awm.images.build import BASE_IMAGE, BUILD_DIR, Builder, KEY_LABEL
from awm.records import Issue, Status
from awm.repos import RepoCache
from docker_support import containers, demo_patches, need_docker

pytestmark = pytest.mark.docker

ROWS = {row["instance_id"]: row for row in load_instances()}


@pytest.fixture(scope="module")
def docker_ready(awm_home):
    need_docker()
    return engine.client(timeout=600)


@pytest.fixture(scope="module")
def mirror(docker_ready, awm_home):
    from awm.paths import repo_cache_root

    return RepoCache(repo_cache_root(), {demo.REPO: demo.BUILTIN}).mirror(demo.REPO)


def sh(client, image: str, command: str) -> str:
    out = client.containers.run(image, ["/bin/bash", "-c", command], remove=True, network_mode="none",
                                labels=engine.labels("build"))
    return out.decode("utf-8", errors="replace")


def test_instance_image_is_the_harness_setup_at_the_base_commit(docker_ready, mirror):
    row = ROWS["awm-bench__tallyho-7"]
    spec = build_test_spec(row, None)
    tag = Builder(docker_ready).instance(spec, mirror)
    assert tag == spec.instance_image_key == "sweb.eval.x86_64.awm-bench__tallyho-7:latest"
    assert spec.env_image_key.startswith("sweb.env.py.x86_64.") and spec.base_image_key == BASE_IMAGE
    out = sh(docker_ready, tag, "cd /testbed && git log --format='%H %s' && echo @@@ && git log --all --format=%H "
             "&& echo @@@ && git remote && git tag && git status --porcelain && echo @@@ && "
             f"ls -a /run; ls {BUILD_DIR} 2>&1; echo @@@; env | sort")
    log, everything, meta, listing, environment = out.split("@@@\n")
    assert meta == ""  # no remote, no tag, nothing uncommitted
    lines = log.splitlines()
    # the harness's own setup commit on top of the base commit, and nothing later: not even unreachable objects
    assert lines[0].endswith(" SWE-bench") and lines[1].split()[0] == row["base_commit"]
    base_history = subprocess.run(["git", "rev-list", row["base_commit"]], cwd=mirror, capture_output=True,
                                  text=True, check=True).stdout.split()
    assert set(everything.split()) == {lines[0].split()[0], *base_history}
    later = subprocess.run(["git", "rev-list", "--all", f"^{row['base_commit']}"], cwd=mirror, capture_output=True,
                           text=True, check=True).stdout.split()
    assert later  # the mirror does have the future fixes ...
    count = sh(docker_ready, tag, "cd /testbed && git count-objects -v && for c in " + " ".join(later[:5])
               + "; do git cat-file -e $c 2>/dev/null && echo FOUND $c; done; true")
    assert "FOUND" not in count  # ... the image has none of them
    assert "No such file" in listing  # what the build read was removed before the commit
    assert "PIP_CERT" not in environment and "GIT_CONFIG" not in environment and "ca.crt" not in environment
    config = docker_ready.images.get(tag).attrs["Config"]
    assert config["WorkingDir"] == "/testbed/" and not config.get("Volumes")
    assert not any("PIP" in e or "GIT_CONFIG" in e for e in config["Env"])


def test_the_conda_stand_in_activates_the_environment_as_the_eval_script_does(docker_ready, mirror):
    spec = build_test_spec(ROWS["awm-bench__tallyho-1"], None)
    tag = Builder(docker_ready).instance(spec, mirror)
    out = sh(docker_ready, tag, "exec 2>&1; set -uo pipefail; source /opt/miniconda3/bin/activate; echo base=$CONDA_DEFAULT_ENV; "
             "conda activate testbed; echo env=$CONDA_DEFAULT_ENV prefix=$CONDA_PREFIX; command -v python; "
             "python -c 'import sys; print(sys.version_info[:2])'; python -m pytest --version; "
             "conda deactivate; echo after=$CONDA_DEFAULT_ENV; conda activate nosuch; echo rc=$?; "
             "conda env create -f x.yml; echo rc=$?")
    assert "base=base" in out and "env=testbed prefix=/opt/miniconda3/envs/testbed" in out
    assert "/opt/miniconda3/envs/testbed/bin/python" in out and "(3, 13)" in out
    assert "pytest " in out and "after=base" in out
    assert "EnvironmentNameNotFound" in out and out.count("rc=1") == 2 and "not supported" in out
    # an interactive shell (the agent's terminal) starts in the environment, as the official image's .bashrc says
    interactive = sh(docker_ready, tag, "bash -ic 'echo $CONDA_DEFAULT_ENV; command -v python' 2>/dev/null")
    assert interactive.split()[:2] == ["testbed", "/opt/miniconda3/envs/testbed/bin/python"]


def test_an_image_is_rebuilt_when_what_it_is_built_from_changes_and_only_then(docker_ready, mirror):
    spec = build_test_spec(ROWS["awm-bench__tallyho-2"], None)
    probe = dataclasses.replace(spec, instance_id="awm-bench__tallyho-rebuild-probe")
    tag = probe.instance_image_key
    try:
        builder = Builder(docker_ready)
        builder.instance(probe, mirror)
        first = docker_ready.images.get(tag).id
        again = Builder(docker_ready)
        again.instance(probe, mirror)
        assert again.timings == {} and docker_ready.images.get(tag).id == first  # current: nothing built
        changed = dataclasses.replace(probe, repo_script_list=[*probe.repo_script_list, "echo changed > /changed"])
        third = Builder(docker_ready)
        third.instance(changed, mirror)
        assert set(third.timings) == {"instance"}  # the instance image alone, from the same environment image
        image = docker_ready.images.get(tag)
        assert image.id != first and image.labels[KEY_LABEL] != ""
        assert sh(docker_ready, tag, "cat /changed").strip() == "changed"
    finally:
        try:
            docker_ready.images.remove(tag, force=True)
        except Exception:  # noqa: BLE001
            pass


@pytest.fixture(scope="module")
def graded(docker_ready, mirror, tmp_path_factory):
    """Every demo patch (gold, a no-op, the scripted model's fixes on all 24 instances) graded locally and by the
    harness in Docker."""
    from awm.grading.backends import make_evaluator
    from awm.paths import repo_cache_root
    from awm.spec import EvaluationSpec

    scratch = tmp_path_factory.mktemp("docker-grading")
    patches = demo_patches(mirror, scratch / "patches")
    cache = RepoCache(repo_cache_root(), {demo.REPO: demo.BUILTIN})
    results: dict[str, dict[tuple[str, str], object]] = {}
    seconds: dict[str, float] = {}

    evaluators = {}
    for backend in ("local", "swebench-docker"):  # made and warmed here: imports in two threads at once deadlock
        work = scratch / backend
        work.mkdir()
        # keep_images: each instance is graded several times here; the image is not rebuilt between them
        evaluators[backend] = make_evaluator(EvaluationSpec(backend=backend, timeout_minutes=5, keep_images=True),
                                             cache, work / ".work", run_dir=work, run_tag=f"fidelity-{backend}",
                                             model_name="fidelity")
        evaluators[backend].warm_up()

    def grade_all(backend: str) -> None:
        started = time.monotonic()
        results[backend] = {}
        for iid, label, patch in patches:
            results[backend][(iid, label)] = evaluators[backend].evaluate(Issue.from_row(ROWS[iid]), patch,
                                                                          scratch / backend / label / iid)
        seconds[backend] = time.monotonic() - started

    # both at once: the tests run here in one, in Docker in the other
    with ThreadPoolExecutor(max_workers=2) as pool:
        for done in [pool.submit(grade_all, backend) for backend in ("local", "swebench-docker")]:
            done.result()
    return patches, results, seconds


@pytest.mark.slow  # 60 patches graded twice, in Docker and locally: a whole run's grading (2-4 min), not fast-lane
def test_the_harness_in_docker_and_local_grading_give_the_same_verdicts(graded):
    patches, results, seconds = graded
    assert len(patches) == 24 * 2 + 12
    local, harness = results["local"], results["swebench-docker"]
    for iid, label, _ in patches:
        a, b = local[(iid, label)], harness[(iid, label)]
        assert a.status == b.status, (iid, label, a.reason, b.reason)
        expected = Status.PASS if label == "gold" else Status.FAIL
        assert a.status == expected, (iid, label, a.reason)
        # test by test: the same FAIL_TO_PASS and PASS_TO_PASS outcomes
        assert a.report["tests_status"] == b.report["tests_status"], (iid, label)
    print(f"graded {len(patches)} patches: local {seconds['local']:.0f} s, harness in Docker "
          f"{seconds['swebench-docker']:.0f} s")


def test_a_grading_container_left_by_a_killed_process_is_removed_by_the_run_and_by_the_watchdog(docker_ready,
                                                                                                 tmp_path):
    from awm.grading.harness import HarnessEvaluator

    run_dir = tmp_path / "run"
    harness = HarnessEvaluator(run_dir, "leftover", 60, "m", client=docker_ready)
    left = docker_ready.containers.create(BASE_IMAGE, ["sleep", "600"], network_mode="none",
                                          labels={**engine.labels("grading", harness.run_key),
                                                  engine.OWNER_LABEL: "o-gone"})
    assert harness.remove_leftovers() == [left.name]
    assert not containers(**{engine.RUN_LABEL: harness.run_key})

    # a process that started a container and was killed with SIGKILL: its watchdog removes the container
    code = ("import sys, time\nfrom awm.images import engine\nfrom awm.processes import owner_token\n"
            f"c = engine.client().containers.run({BASE_IMAGE!r}, ['sleep', '600'], detach=True, network_mode='none',"
            " labels=engine.labels('agent'))\nprint(owner_token(), flush=True)\ntime.sleep(600)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        token = proc.stdout.readline().strip()
        assert token and containers(**{engine.OWNER_LABEL: token})
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    deadline = time.monotonic() + 60
    while containers(**{engine.OWNER_LABEL: token}) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not containers(**{engine.OWNER_LABEL: token})


def test_evaluate_command_with_the_docker_backend(docker_ready, tmp_path, capsys):
    from awm_tui.commands import cli

    preds = tmp_path / "preds.jsonl"
    rows = [ROWS["awm-bench__tallyho-3"], ROWS["awm-bench__tallyho-4"]]
    preds.write_text("".join(json.dumps({"instance_id": r["instance_id"], "model_name_or_path": "gold",
                                         "model_patch": r["patch"] if i == 0 else ""}) + "\n"
                             for i, r in enumerate(rows)))
    spec = Path(__file__).resolve().parents[1] / "specs" / "demo.yaml"
    out = tmp_path / "out"
    assert cli.main(["evaluate", str(preds), "--spec", str(spec), "--backend", "swebench-docker",
                     "--output-dir", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "awm-bench__tallyho-3  PASS" in printed and "awm-bench__tallyho-4  FAIL" in printed
    assert "1 resolved of 2 submitted" in printed
    report = json.loads((out / "awm-bench__tallyho-3" / "report.json").read_text()) if (
        out / "awm-bench__tallyho-3" / "report.json").exists() else None
    found = list(out.rglob("report.json"))
    assert found and (report is None or report)
    assert not containers(**{engine.KIND_LABEL: "grading", engine.RUN_LABEL: engine.run_key(out)})
