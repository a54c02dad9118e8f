"""The journal's rules: only a torn LAST line is dropped quietly; a damaged line with records after it refuses the
resume, names the file and the line, and changes nothing."""

import json

import pytest

from awm import atomic
from awm.errors import UserError
from awm.records import Experience, Status
from awm.run.store import RunStore


def rec(n: int) -> dict:
    return Experience(instance_id=f"i-{n}", problem_statement="p", status=Status.FAIL).to_dict()


def journal(tmp_path, lines: list[str]) -> RunStore:
    store = RunStore(tmp_path)
    store.journal.write_text("".join(lines))
    return store


def good(n: int) -> str:
    return json.dumps(rec(n)) + "\n"


def test_torn_last_line_without_newline_is_dropped_and_cut_off(tmp_path):
    store = journal(tmp_path, [good(1), good(2), '{"instance_id": "i-3", "sta'])
    assert [e.instance_id for e in store.finished()] == ["i-1", "i-2"]
    assert store.journal.read_text() == good(1) + good(2)


def test_unparsable_last_line_with_newline_is_dropped_too(tmp_path):
    store = journal(tmp_path, [good(1), "garbage\n"])
    assert [e.instance_id for e in store.finished()] == ["i-1"]
    assert store.journal.read_text() == good(1)


def test_a_complete_last_record_without_newline_is_dropped_as_torn(tmp_path):
    store = journal(tmp_path, [good(1), good(2).rstrip("\n")])
    assert [e.instance_id for e in store.finished()] == ["i-1"]


def test_reading_without_repair_leaves_the_torn_line(tmp_path):
    store = journal(tmp_path, [good(1), "{torn"])
    assert [e.instance_id for e in store.finished(repair=False)] == ["i-1"]
    assert store.journal.read_text().endswith("{torn")


def test_trailing_blank_lines_do_not_hide_a_torn_line(tmp_path):
    store = journal(tmp_path, [good(1), "{torn\n", "\n", "\n"])
    assert [e.instance_id for e in store.finished()] == ["i-1"]


def test_blank_lines_between_records_are_skipped(tmp_path):
    store = journal(tmp_path, [good(1), "\n", good(2)])
    assert [e.instance_id for e in store.finished()] == ["i-1", "i-2"]


@pytest.mark.parametrize("bad, problem", [
    ('{"instance_id": "i-3", "sta\n', "not JSON"),
    ("[1, 2]\n", "not a JSON object"),
    ('{"problem_statement": "p", "status": "FAIL"}\n', "instance_id"),
    ('{"instance_id": "i-3", "problem_statement": "p", "status": "MAYBE"}\n', "not a finished issue"),
])
def test_a_damaged_middle_line_refuses_and_keeps_every_record(tmp_path, bad, problem):
    lines = [good(1), good(2), bad] + [good(n) for n in range(4, 13)]
    store = journal(tmp_path, lines)
    before = store.journal.read_bytes()
    for repair in (True, False):
        with pytest.raises(UserError) as err:
            store.finished(repair=repair)
        message = str(err.value)
        assert str(store.journal) in message and "line 3" in message and problem in message
        assert "delete it" in message and "nothing was changed" in message
        assert "\n" not in message
        assert store.journal.read_bytes() == before  # the 9 good records after it are kept


def test_read_lines_raises_damaged_line_with_its_number(tmp_path):
    path = tmp_path / "j.jsonl"
    path.write_text(good(1) + "oops\n" + good(3))
    with pytest.raises(atomic.DamagedLine) as err:
        list(atomic.read_lines(path, repair=True))
    assert err.value.line == 2 and err.value.path == path
    assert path.read_text() == good(1) + "oops\n" + good(3)


def test_read_numbered_gives_line_numbers_in_the_file(tmp_path):
    path = tmp_path / "j.jsonl"
    path.write_text(good(1) + "\n" + good(2))
    assert [(n, r["instance_id"]) for n, r in atomic.read_numbered(path)] == [(1, "i-1"), (3, "i-2")]


def test_appends_after_a_repaired_torn_line_start_on_a_clean_line(tmp_path):
    store = journal(tmp_path, [good(1), '{"instance_id": "i-2", "tr'])
    store.finished()
    store.commit(Experience(instance_id="i-3", problem_statement="p", status=Status.PASS))
    assert [e.instance_id for e in store.finished()] == ["i-1", "i-3"]


def test_a_missing_journal_is_no_records(tmp_path):
    assert RunStore(tmp_path).finished() == []
