"""--model, PHOTOCLIP_MODEL and --device are for one run: they never switch a library."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from album_support import colour_albums
from cli_support import run, run_json

import photoclip.bench


@pytest.fixture
def photos(tmp_path) -> Path:
    """A few colour photos in one folder."""
    return colour_albums(tmp_path / "photos", per_album=2)


@pytest.fixture
def library(capsys, photos, tiny_clip_dir) -> Path:
    """The test's library, indexed with the tiny CLIP (a new library takes --model)."""
    assert run_json(capsys, "add", str(photos), "--model", str(tiny_clip_dir))["indexed"] == 6
    return Path(os.environ["PHOTOCLIP_LIBRARY"])


@pytest.fixture
def other_model(tmp_path, tiny_clip_dir) -> Path:
    """Another model folder (the same weights under another name: another model id)."""
    return Path(shutil.copytree(tiny_clip_dir, tmp_path / "other-clip"))


def _settings(library: Path) -> dict:
    return json.loads((library / "settings.json").read_text())


def _says_which_model_and_how_to_switch(code: int, out: str, err: str, library_model: Path,
                                        asked: Path) -> None:
    assert code == 1
    assert out == ""  # never an empty result
    assert err.count("\n") == 1
    assert str(library_model) in err
    assert f"photoclip models use {asked}" in err


@pytest.mark.parametrize("argv", [
    ["search", "red"],
    ["index"],
    ["tag"],
    ["duplicates"],
    ["tags", "PHOTO"],
    ["similar", "PHOTO"],
])
def test_a_command_needing_the_librarys_vectors_refuses_another_model(
        capsys, library, photos, tiny_clip_dir, other_model, argv):
    argv = [str(photos / "red" / "0.jpg") if a == "PHOTO" else a for a in argv]
    before = _settings(library)
    code, out, err = run(capsys, *argv, "--model", str(other_model))
    _says_which_model_and_how_to_switch(code, out, err, tiny_clip_dir, other_model)
    assert _settings(library) == before
    status = run_json(capsys, "status")
    assert status["model"] == str(tiny_clip_dir)
    assert len(run_json(capsys, "search", "red", "--cutoff", "0")["results"]) == 6


def test_add_with_another_model_adds_no_folder(capsys, library, photos, tmp_path,
                                               tiny_clip_dir, other_model):
    more = colour_albums(tmp_path / "more", per_album=1)
    code, out, err = run(capsys, "add", str(more), "--model", str(other_model))
    _says_which_model_and_how_to_switch(code, out, err, tiny_clip_dir, other_model)
    assert run_json(capsys, "status")["roots"] == [str(photos.resolve())]


def test_the_model_variable_does_not_undo_models_use(capsys, library, monkeypatch,
                                                     tiny_clip_dir, other_model):
    assert run_json(capsys, "models", "use", str(other_model))["switched"]
    monkeypatch.setenv("PHOTOCLIP_MODEL", str(tiny_clip_dir))  # e.g. left in a shell profile
    assert run_json(capsys, "status")["model"] == str(other_model)
    code, out, err = run(capsys, "search", "red")
    _says_which_model_and_how_to_switch(code, out, err, other_model, tiny_clip_dir)
    monkeypatch.delenv("PHOTOCLIP_MODEL")
    assert run_json(capsys, "status")["model"] == str(other_model)
    assert len(run_json(capsys, "search", "red", "--cutoff", "0")["results"]) == 6


def test_eval_measures_the_one_off_model_and_leaves_the_library_alone(
        capsys, library, tmp_path, tiny_clip_dir, other_model):
    albums = colour_albums(tmp_path / "albums", per_album=4)
    data = run_json(capsys, "eval", "--albums", str(albums), "--model", str(other_model))
    assert data["model"] == str(other_model)
    assert data["images"] == 12
    assert run_json(capsys, "status")["model"] == str(tiny_clip_dir)
    assert run_json(capsys, "eval", "--albums", str(albums))["model"] == str(tiny_clip_dir)


def test_a_one_off_device_is_not_saved(capsys, library):
    before = _settings(library)
    assert before["device"] == "auto"
    run(capsys, "search", "red", "--device", "cuda")  # fails on a machine without CUDA
    assert _settings(library) == before
    assert len(run_json(capsys, "search", "red", "--cutoff", "0")["results"]) == 6
    assert run_json(capsys, "status", "--device", "cpu")["device"] == "cpu"
    assert _settings(library)["device"] == "auto"


class _FakeBench:
    """Records what `photoclip bench` would measure, without measuring."""

    def __init__(self, model: str, device: str = "auto", **_: object) -> None:
        self.result = {"model": model, "device": device}

    def run(self):
        return iter(())


def test_bench_resolves_the_model_like_every_command(capsys, library, monkeypatch,
                                                     tiny_clip_dir, other_model):
    monkeypatch.setattr(photoclip.bench, "Bench", _FakeBench)
    assert run_json(capsys, "bench")["model"] == str(tiny_clip_dir)  # the library's
    monkeypatch.setenv("PHOTOCLIP_MODEL", str(other_model))
    assert run_json(capsys, "bench")["model"] == str(other_model)
    assert run_json(capsys, "bench", "--model", str(tiny_clip_dir))["model"] == \
        str(tiny_clip_dir)
    assert run_json(capsys, "bench", "--device", "cpu")["device"] == "cpu"
