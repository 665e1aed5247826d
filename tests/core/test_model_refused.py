"""A model folder whose weights file is a malicious pickle is refused, in our own words: torch's
advice to load it again with `weights_only=False` (that is, to run the code) never reaches the
user."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from photoclip.core.encoder import ClipEncoder
from photoclip.core.errors import ModelLoadError


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_that_runs_code_is_refused_without_torchs_advice(
        tiny_clip_dir: Path, tmp_path: Path) -> None:
    import torch

    folder = tmp_path / "evil-model"
    shutil.copytree(tiny_clip_dir, folder)
    (folder / "model.safetensors").unlink()
    marker = tmp_path / "pwned"
    torch.save({"weights": _Evil(marker)}, folder / "pytorch_model.bin")

    with pytest.raises(ModelLoadError) as info:
        ClipEncoder(str(folder), device="cpu").load()

    message = str(info.value)
    assert not marker.exists(), "the file's code ran"
    assert "weights_only" not in message
    assert "False" not in message
    assert "will likely succeed" not in message
    assert "refused" in message
    assert "safetensors" in message
    assert "\n" not in message
