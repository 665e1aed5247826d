"""Fixtures shared by the GUI page tests."""

from __future__ import annotations

import pytest

from photoclip.core.library import Library


@pytest.fixture
def library(tmp_path, tiny_clip_dir):
    """A library on the tiny test model, closed after the test."""
    lib = Library(tmp_path / "library", model=str(tiny_clip_dir))
    yield lib
    lib.close()
