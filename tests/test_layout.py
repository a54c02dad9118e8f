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
    mods = _modules_after("import awm.run.loop, awm.run.store, awm.spec, awm.run.events")
    assert not {m for m in mods if m.split(".")[0] in ("textual", "awm_tui")}


def test_help_does_not_import_the_agent_stack():
    mods = _modules_after("import sys; sys.argv=['awm-tui','--help']\nfrom awm_tui.commands import cli\n"
                          "try:\n    cli.main()\nexcept SystemExit:\n    pass")
    heavy = {m.split(".")[0] for m in mods} & {"openhands", "litellm", "datasets", "swebench", "textual"}
    assert heavy == set()


def test_the_app_imports_no_agent_stack_and_no_statistics():
    """What the first frame needs (the app and its screens): the agent stack is started by the engine's worker, the
    statistics (numpy, scipy, statsmodels, matplotlib) only for a comparison."""
    mods = _modules_after("import awm_tui.app, awm_tui.screens.run, awm_tui.screens.picker")
    heavy = {m.split(".")[0] for m in mods} & {"openhands", "litellm", "datasets", "swebench", "numpy", "scipy",
                                                 "statsmodels", "matplotlib"}
    assert heavy == set()


def _imports(path: Path) -> set[str]:
    """Every awm/awm_tui module a file imports, at the top or inside functions (TYPE_CHECKING blocks excluded)."""
    import ast

    tree = ast.parse(path.read_text())
    module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
    found: set[str] = set()

    def visit(node):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = module.split(".")[: -node.level] if not path.name == "__init__.py" else module.split(".")
                base = ".".join(parent + ([base] if base else []))
            for alias in node.names:
                found.add(f"{base}.{alias.name}")  # `from pkg import module` imports the module
                found.add(base)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return {m for m in found if m.split(".")[0] in ("awm", "awm_tui")}


def _graph() -> dict[str, set[str]]:
    files = {".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): p
             for top in ("awm", "awm_tui") for p in (ROOT / top).rglob("*.py")}
    return {m: {i for i in _imports(p) if i in files and i != m} for m, p in files.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return out


def test_no_import_cycles_between_modules():
    graph = _graph()
    assert len(graph) > 40 and graph["awm.run.loop"]  # the scan sees the tree
    # The package itself re-exports the API lazily (awm/__init__.py imports awm.api only when asked).
    graph["awm"] = set()
    assert _cycles(graph) == []


def test_no_import_cycles_between_the_engines_packages():
    """`ls awm/` is the architecture: run -> agent, grading, memory, model, demo; none of them reaches back."""
    packages: dict[str, set[str]] = {}
    for module, targets in _graph().items():
        if not module.startswith("awm.") or module == "awm":
            continue
        source = ".".join(module.split(".")[:2])
        packages.setdefault(source, set()).update(".".join(t.split(".")[:2]) for t in targets if t != "awm")
    for source in packages:
        packages[source].discard(source)
    assert _cycles(packages) == []
    assert packages["awm.demo"] <= {"awm.atomic"}  # the demo stands alone; the core asks it, never the reverse
    # run sits above the parts; experiment (comparisons, experiments, export) and the API sit above run
    above = ("awm.run", "awm.api", "awm.experiment")
    assert "awm.run" not in set().union(*(v for k, v in packages.items() if k not in above))
    assert "awm.experiment" not in set().union(*(v for k, v in packages.items() if k not in ("awm.experiment",)))


def test_the_python_api_is_lazy():
    mods = _modules_after("import awm")
    assert "awm.api" not in mods and "awm.run.loop" not in mods


def test_the_app_never_imports_the_commands():
    """awm_tui/commands/ (the command line) sits above the app: the app, its screens and widgets never reach back."""
    graph = _graph()
    assert any(m.startswith("awm_tui.commands.") for m in graph)  # the scan sees the package
    reaching = {m: sorted(t for t in targets if t.startswith("awm_tui.commands"))
                for m, targets in graph.items() if m.startswith("awm_tui") and not m.startswith("awm_tui.commands")}
    assert {m: t for m, t in reaching.items() if t} == {}
