"""The engine stands without the UI, and the start-up path stays light."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_engine_never_imports_the_ui():
    offenders = [
        str(p.relative_to(ROOT))
        for p in (ROOT / "awm").rglob("*.py")
        for line in p.read_text().splitlines()
        if line.strip().startswith(("import textual", "from textual", "import awm_tui", "from awm_tui"))
    ]
    assert offenders == []


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys\nprint('\\n'.join(sys.modules))"],
                         capture_output=True, text=True, check=True, cwd=ROOT).stdout
    return set(out.split())


def test_engine_modules_import_without_textual():
    mods = _modules_after("import awm.loop, awm.runstore, awm.spec, awm.events")
    assert not {m for m in mods if m.split(".")[0] in ("textual", "awm_tui")}


def test_help_does_not_import_the_agent_stack():
    mods = _modules_after("import sys; sys.argv=['awm-tui','--help']\nfrom awm_tui import cli\n"
                          "try:\n    cli.main()\nexcept SystemExit:\n    pass")
    heavy = {m.split(".")[0] for m in mods} & {"openhands", "litellm", "datasets", "swebench", "textual"}
    assert heavy == set()
