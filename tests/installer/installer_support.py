"""Helpers for the installer tests (imported by name: pytest puts this folder on sys.path)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def require_tool(name: str, debian_package: str) -> str:
    """The tool's path; CI (which installs it in .ci/run) fails without it, a laptop skips."""
    found = shutil.which(name)
    if found:
        return found
    message = f"{name} is not installed (Debian: apt-get install {debian_package})"
    if os.environ.get("CI") == "true":
        pytest.fail(message + "; .ci/run should have installed it")
    pytest.skip(message)


def run(
    cmd: Sequence[str | Path],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """Run a command that must succeed; a failure shows what it printed."""
    args = [str(c) for c in cmd]
    proc = subprocess.run(args, capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=timeout, check=False)
    assert proc.returncode == 0, f"{args} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc
