"""Fixtures for the installer tests: a copy of the project to build from, and its wheel.

Builds run on a copy, never in the checkout: setuptools writes build/ and *.egg-info where it
builds, and other work (or a parallel test run) may be using the checkout at the same time.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from installer_support import ROOT, run


@pytest.fixture(scope="session")
def source_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What a clean checkout needs to build and install photoclip."""
    dest = tmp_path_factory.mktemp("source") / "photoclip-src"
    dest.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy2(ROOT / name, dest / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "build", "dist", "*.egg-info")
    for name in ("photoclip", "resources", "installer"):
        shutil.copytree(ROOT / name, dest / name, ignore=ignore)
    return dest


@pytest.fixture(scope="session")
def built_wheel(source_tree: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """photoclip's wheel, built as `pip wheel` does (with this environment's setuptools)."""
    out = tmp_path_factory.mktemp("wheel")
    run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         "-w", out, source_tree])
    (wheel,) = out.glob("photoclip-*.whl")
    return wheel
