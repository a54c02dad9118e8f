"""The memory operation log: appended durably, read back whole (a torn last line dropped), and honoured by the memory
and by retrieval."""

import json
import threading

import pytest

from awm.memory import ops
from awm.memory.retrieval import BM25Retriever, retrieve
from awm.memory.store import WorkflowMemory

CACHE = {"name": "Refresh an entry on every cache operation",
         "description": "an LRU cache evicts an entry that was just read or updated: recency is not refreshed.",
         "steps": ["Find where get and put touch the order — `grep -n 'def get\\|def put' {module-path}`",
                   "Move the key to the end on every access — `str_replace {module-path}: {old} -> {new}`"]}
VERSIONS = {"name": "Compare version parts as numbers",
            "description": "version strings sort wrong: 1.10.0 comes before 1.9.0, or a release candidate after the "
                           "release.",
            "steps": ["Find the sort key of versions — `grep -n 'def {key-function}' {module-path}`",
                      "Compare each part as an integer — `str_replace {module-path}: {old-key} -> {new-key}`"]}
ISSUE = "LRUCache evicts an entry that was just read: the cache behaves like a FIFO queue."


def test_append_and_read_round_trip(tmp_path):
    first = ops.append(tmp_path, "disable", "wf-a", note="misleads the agent on parser issues")
    ops.append(tmp_path, "pin", "pf-b")
    assert set(first) == {"time", "action", "id", "note"} and first["action"] == "disable"
    assert ops.read(tmp_path) == [first, {**ops.read(tmp_path)[1], "action": "pin", "id": "pf-b", "note": ""}]
    lines = (tmp_path / ops.OPS_FILE).read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] == ["wf-a", "pf-b"]
    assert ops.read(tmp_path / "no-such-run") == []


def test_a_torn_last_line_is_dropped_on_read_and_cut_off_on_append(tmp_path):
    ops.append(tmp_path, "disable", "wf-a")
    with open(tmp_path / ops.OPS_FILE, "a") as f:
        f.write('{"time": "2024-01-01T00:00:00", "action": "pin", "id": "wf-')  # a kill mid-append
    assert [op["id"] for op in ops.read(tmp_path)] == ["wf-a"]
    ops.append(tmp_path, "enable", "wf-a")
    assert [(op["action"], op["id"]) for op in ops.read(tmp_path)] == [("disable", "wf-a"), ("enable", "wf-a")]
    assert all(json.loads(line) for line in (tmp_path / ops.OPS_FILE).read_text().splitlines())


def test_bad_operations_are_refused_and_foreign_lines_skipped(tmp_path):
    with pytest.raises(ValueError, match="disable, enable, pin, unpin"):
        ops.append(tmp_path, "delete", "wf-a")
    with pytest.raises(ValueError, match="id"):
        ops.append(tmp_path, "pin", "")
    with open(tmp_path / ops.OPS_FILE, "w") as f:
        f.write(json.dumps({"action": "rename", "id": "wf-a"}) + "\n" + json.dumps({"action": "pin"}) + "\n")
    ops.append(tmp_path, "pin", "wf-a")
    assert [(op["action"], op["id"]) for op in ops.read(tmp_path)] == [("pin", "wf-a")]


def test_concurrent_appends_all_land_whole(tmp_path):
    def worker(n):
        for i in range(25):
            ops.append(tmp_path, "pin" if i % 2 else "unpin", f"wf-{n}-{i}")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(ops.read(tmp_path)) == 150


def test_apply_ops_replays_the_log_and_retrieval_honours_it(tmp_path):
    run = tmp_path / "run"
    mem = WorkflowMemory(10, run / "memory.json")
    mem.add_round(1, [CACHE, VERSIONS], ["i-1", "i-2"])
    cache_id, versions_id = mem.ids()

    def chosen():
        sel = retrieve(mem, ISSUE, "i-9", BM25Retriever(), budget_tokens=1500, min_score=0.05, top_k=5,
                       count=lambda text: len(text.split()))
        return sel.ids

    assert chosen() == [cache_id]  # the version workflow is unrelated to the issue
    ops.append(run, "disable", cache_id)
    ops.append(run, "pin", versions_id)
    ops.append(run, "pin", "wf-not-in-memory")  # ignored
    assert mem.apply_ops(ops.read(run)) == 2
    assert chosen() == [versions_id]  # disabled never injected; pinned injected whatever its score
    saved = WorkflowMemory.load(10, run / "memory.json")
    assert [(w.disabled, w.pinned) for w in saved.workflows] == [(True, False), (False, True)]
    assert mem.apply_ops(ops.read(run)) == 0  # replaying the same log changes nothing

    ops.append(run, "enable", cache_id)
    ops.append(run, "unpin", versions_id)
    mem.apply_ops(ops.read(run))
    assert chosen() == [cache_id]
    assert [(w.disabled, w.pinned) for w in mem.workflows] == [(False, False), (False, False)]
