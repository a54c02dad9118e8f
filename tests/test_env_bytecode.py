"""Local grading environments are compiled as the harness's pip-built ones are: a dependency with an invalid escape
sequence imports cleanly under `-W error` (a project whose pytest config turns warnings into errors), where an
environment installed the uv way, without compiling, fails at that import with a SyntaxError."""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from awm.grading import envs
from awm.grading.recipes import Recipe

pytestmark = pytest.mark.slow  # builds two virtual environments with uv

BAD = 'PATTERN = "\\d+"  # an invalid escape sequence: a SyntaxWarning when compiled\n'


def wheel(folder: Path) -> Path:
    """A wheel of one module with an invalid escape sequence, made by hand (no build backend needed)."""
    files = {"escapey.py": BAD.encode(),
             "escapey-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: escapey\nVersion: 1.0\n",
             "escapey-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                                            b"Tag: py3-none-any\n"}
    record = "".join(f"{name},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},"
                     f"{len(data)}\n" for name, data in files.items()) + "escapey-1.0.dist-info/RECORD,,\n"
    path = folder / "escapey-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
        zf.writestr("escapey-1.0.dist-info/RECORD", record)
    return path


def strict_import(python: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(python), "-W", "error", "-c", "import escapey"], capture_output=True, text=True)


def test_local_environments_are_compiled_as_pip_compiles(tmp_path, monkeypatch):
    monkeypatch.setenv("AWM_TUI_HOME", str(tmp_path / "home"))
    whl = wheel(tmp_path)
    python = f"{sys.version_info[0]}.{sys.version_info[1]}"
    recipe = Recipe(repo="acme/strict", version="1", python=python, pip_packages=(str(whl),), source="spec")
    env = envs.ensure(recipe, lambda: "")
    compiled = strict_import(env.python)
    assert compiled.returncode == 0, compiled.stderr
    # the same wheel installed without compiling (uv's default): the strict import fails, as it did before
    plain = tmp_path / "plain"
    subprocess.run([envs.uv(), "venv", "--quiet", "--python", sys.executable, str(plain)], check=True,
                   capture_output=True)
    subprocess.run([envs.uv(), "pip", "install", "--quiet", "--python", str(plain / "bin" / "python"), str(whl)],
                   check=True, capture_output=True)
    failed = strict_import(plain / "bin" / "python")
    assert failed.returncode != 0 and "SyntaxError" in failed.stderr and "invalid escape sequence" in failed.stderr
