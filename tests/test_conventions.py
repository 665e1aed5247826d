"""The shared conventions, checked: lint clean, core typed and free of Qt and print()."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _tool(name: str) -> str:
    exe = Path(sys.executable).parent / name
    found = str(exe) if exe.exists() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: run `make test`, which installs the test extras")
    return found


def test_ruff_is_clean():
    proc = subprocess.run([_tool("ruff"), "check", "photoclip", "tests"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.slow
def test_the_package_is_mypy_clean():
    proc = subprocess.run([_tool("mypy"), "photoclip"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_core_has_no_qt_and_no_print():
    for path in (ROOT / "photoclip" / "core").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"^\s*(from|import)\s+PySide6", text, re.M), path
        assert not re.search(r"^\s*print\(", text, re.M), path
