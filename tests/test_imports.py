"""The layering, checked by import-linter's contracts in pyproject.toml ([tool.importlinter]).

Each contract is its own test, so one that is known broken can be marked without hiding the
others. `make lint` runs the same contracts with `lint-imports`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _lint_imports(contract: str) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).parent / "lint-imports"
    found = str(exe) if exe.exists() else shutil.which("lint-imports")
    if found is None:
        pytest.fail("lint-imports is not installed: run `make test`, which installs the test "
                    "extras (import-linter)")
    # The checkout's photoclip, whatever this environment has installed.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
    return subprocess.run([found, "--no-cache", "--no-logo", "--contract", contract],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_core_imports_neither_the_front_ends_nor_qt():
    proc = _lint_imports("core-is-headless")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_gui_and_cli_reach_core_only_through_library_types_and_errors():
    proc = _lint_imports("one-door")
    assert proc.returncode == 0, proc.stdout + proc.stderr
