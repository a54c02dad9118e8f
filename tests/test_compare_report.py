"""`awm-tui compare`'s report and command line: the files written (report.md, a self-contained report.html, the PNG
figures, comparison.json), the printed summary, the refusals as one-paragraph messages, and the HTML rendered by
real headless Chromium. One report is written for the module (drawing the figures takes a couple of seconds)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from awm.experiment.compare import compare, load_arm
from awm.experiment.report import write_report
from awm_tui.commands.cli import main
from compare_fixtures import provenance, write_run
from conftest import ROOT

IDS = [f"repo__repo-{k}" for k in range(1, 25)]


def arm_runs(root: Path, name: str, outcomes: str, memory: bool) -> Path:
    statuses = {i: {"P": "PASS", "F": "FAIL", "E": "ERROR"}[c] for i, c in zip(IDS, outcomes)}
    if not memory:
        return write_run(root / name, statuses)
    given = {i: (["wf-fix-a", "pf-avoid-b"] if k % 2 else ["wf-fix-a"]) for k, i in enumerate(IDS) if k >= 4}
    rounds = {i: 1 if k < 12 else 2 for k, i in enumerate(IDS) if k >= 4}
    return write_run(root / name, statuses, workflows=given, memory_rounds=rounds, induction_cost=0.4,
                     entries={"wf-fix-a": "Fix | A", "pf-avoid-b": "Avoid <B>"})


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("runs")
    return (arm_runs(root, "base", "PFFPFFEFPFFPFFFPFFPFFFPF", memory=False),
            arm_runs(root, "memory", "PFPPFPPFPPFPPFPPPFPPPFPP", memory=True))


@pytest.fixture(scope="module")
def report(runs, tmp_path_factory):
    """One comparison and its report, written through the Python API `awm-tui experiment` uses: (output folder,
    the paths write_report returned, the summary). Drawn once for the module: the figures take a second or two."""
    out = tmp_path_factory.mktemp("report") / "out"
    comparison = compare([load_arm("memory-off", runs[0]), load_arm("memory-on", runs[1])], bootstrap=1000)
    paths = write_report(comparison, out)
    return out, paths, comparison.summary()


def test_the_summary_names_rates_difference_and_report(report):
    out, paths, summary = report
    lines = summary.splitlines()
    assert lines[0] == "compare: 2 arms (one run each), 24 instances paired; reference: memory-off"
    assert lines[1].lstrip().startswith("memory-off") and "[" in lines[1]
    assert "vs memory-off: +" in lines[2] and "McNemar p " in lines[2]
    assert lines[-1].startswith(f"report: {out / 'report.html'}")
    assert len(lines) <= 6
    assert (paths["md"], paths["html"], paths["json"]) == tuple(str(out / name) for name in
                                                              ("report.md", "report.html", "comparison.json"))
    assert sorted(paths["png"]) == sorted(str(p) for p in out.glob("*.png")) and len(paths["png"]) == 7


def test_the_command_prints_the_summary_and_writes_the_report(runs, tmp_path, capsys, monkeypatch):
    from awm.experiment import report as report_module

    monkeypatch.setattr(report_module, "_figures", lambda comparison, out: [])  # drawing is tested above
    out = tmp_path / "out"
    code = main(["compare", str(runs[0]), str(runs[1]), "--names", "memory-off,memory-on", "--output-dir", str(out),
                 "--bootstrap", "500", "--rolling", "4"])
    printed = capsys.readouterr().out
    assert code == 0
    assert printed.startswith("compare: 2 arms (one run each), 24 instances paired; reference: memory-off\n")
    assert f"report: {out / 'report.html'}" in printed
    assert {p.name for p in out.iterdir()} == {"report.md", "report.html", "comparison.json"}
    settings = json.loads((out / "comparison.json").read_text())["settings"]
    assert (settings["bootstrap"], settings["rolling"]) == (500, 4)


def test_default_names_and_output_folder(runs, tmp_path, capsys, monkeypatch):
    from awm.experiment import report as report_module

    monkeypatch.setattr(report_module, "_figures", lambda comparison, out: [])
    monkeypatch.chdir(tmp_path)
    assert main(["compare", str(runs[0]), str(runs[0]), "--bootstrap", "100"]) == 0
    printed = capsys.readouterr().out
    assert "reference: base\n" in printed and "  base (2)  " in printed and "given more than once" in printed
    assert [p.name[:8] for p in tmp_path.iterdir()] == ["compare-"]


def test_report_files_are_written(report):
    out, _, _ = report
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert pngs == sorted(["rates.png", "differences.png", "learning_cumulative.png", "learning_rolling.png",
                           "memory_tokens.png", "per_issue.png", "workflows.png"])
    assert all((out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for name in pngs)
    md = (out / "report.md").read_text()
    for heading in ("# Comparison: memory-off vs memory-on", "## Resolved rate", "## Difference with the reference",
                    "## Cost, tokens, steps and time per issue", "## Learning curves", "## Memory injected",
                    "## Workflow and pitfall usefulness", "## Per-instance outcomes", "## How this was computed"):
        assert heading in md
    assert "| arm | resolved | errors | rate | 95% CI (Wilson) |" in md
    assert "Fix \\| A" in md  # a | in a cell does not break the table
    assert all(f"]({name})" in md for name in pngs)  # every figure shown, next to report.md
    data = json.loads((out / "comparison.json").read_text())
    assert data["reference"] == "memory-off" and len(data["instances"]) == 24
    assert [r["arm"] for r in data["results"]] == ["memory-off", "memory-on"]
    assert data["differences"][0]["p_value"] > 0 and len(data["differences"][0]["ci"]) == 2
    assert data["curves"][1]["replicates"][0]["rounds"] == [{"round": 1, "kind": "workflow", "position": 5},
                                                            {"round": 2, "kind": "workflow", "position": 13}]
    assert data["curves"][0]["replicates"][0]["rolling"][0] is None  # nan as null: valid JSON
    assert sorted(data["figures"]) == pngs and data["settings"]["bootstrap"] == 1000


def test_html_is_self_contained(report):
    out, _, _ = report
    page = (out / "report.html").read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page)
    assert "http://" not in page and "https://" not in page
    images = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == len(page.split("<img")) - 1 == 7
    assert '<p id="render-check">' in page and "<style>" in page
    assert "<table>" in page and "Avoid &lt;B&gt;" in page  # names escaped
    assert "<details>" in page  # the long per-instance table folds away


def test_refusals_exit_2_with_one_paragraph(tmp_path, capsys):
    ids = list(IDS[:3])
    a = write_run(tmp_path / "a", dict.fromkeys(ids, "PASS"))
    b = write_run(tmp_path / "b", dict.fromkeys(ids, "FAIL"), record=provenance(ids, revised=(ids[1],)))
    z = write_run(tmp_path / "z", {"other-1": "PASS"})
    cases = [
        ([str(a)], "needs at least two"),
        ([str(a), str(tmp_path / "missing")], "no run found at"),
        ([str(a), str(b)], "different dataset rows"),
        ([str(a), str(z)], "no finished instance in common"),
        ([str(a), str(a), "--names", "x"], "--names 'x' gives 1 label for 2 runs"),
        ([str(a), str(a), "--output-dir", str(a / "config.json")], "is a file, not a folder"),
    ]
    for argv, expected in cases:
        assert main(["compare", *argv]) == 2, argv
        captured = capsys.readouterr()
        assert captured.out == ""
        message = captured.err.strip()
        assert message.startswith("awm-tui: ") and expected in message, message
        assert "\n" not in message and "Traceback" not in message


def test_compare_help_is_quick():
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "awm_tui.commands.cli", "compare", "--help"],
                            capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 0 and "awm-tui compare" in result.stdout and "--bootstrap" in result.stdout
    assert not re.search(r"\|\s+(numpy|matplotlib|scipy|statsmodels|litellm)\b", result.stderr)


@pytest.mark.slow  # three Chromium starts: a few seconds
def test_chromium_renders_every_figure(report, tmp_path):
    if not any(shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome")):
        pytest.skip("no Chromium binary (chromium, chromium-browser, google-chrome) on PATH: `apt-get install "
                    "chromium` to run the real-browser check")
    out, _, _ = report
    shot = tmp_path / "page.png"
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "check_report_html.py"), str(out / "report.html"),
                             "--screenshot", str(shot)], capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    assert "all 7 figures rendered" in result.stdout
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # a figure that does not decode is caught
    broken = tmp_path / "broken.html"
    broken.write_text((out / "report.html").read_text().replace("data:image/png;base64,iVBOR",
                                                                "data:image/png;base64,AAAA", 1))
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "check_report_html.py"), str(broken)],
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 1 and "only 6 of 7 figures rendered" in result.stderr
