"""Library, the one door of the CLI and the GUI: which model and device a run uses, and the
jobs it puts together (models, trainer, evaluation, label sets)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from album_support import colour_albums

from photoclip.config import DEFAULT_MODEL, Settings
from photoclip.core.errors import PhotoclipError
from photoclip.core.library import Library


@pytest.fixture
def other_model(tmp_path, tiny_clip_dir) -> Path:
    return Path(shutil.copytree(tiny_clip_dir, tmp_path / "other-clip"))


def _saved(root: Path) -> dict:
    return json.loads((root / "settings.json").read_text())


def test_a_new_library_takes_the_model_it_is_opened_with(tmp_path, tiny_clip_dir):
    with Library(tmp_path / "lib", model=str(tiny_clip_dir), device="cpu") as lib:
        assert lib.settings.model == str(tiny_clip_dir)
        assert lib.model == str(tiny_clip_dir)
        assert not lib.one_off_model
    saved = _saved(tmp_path / "lib")
    assert saved["model"] == str(tiny_clip_dir)
    assert saved["device"] == "auto"  # a one-off device, even for a new library


def test_a_new_library_stores_a_relative_model_folder_by_its_absolute_path(
        tmp_path, tiny_clip_dir, monkeypatch):
    monkeypatch.chdir(tiny_clip_dir.parent)
    with Library(tmp_path / "lib", model=f"./{tiny_clip_dir.name}") as lib:
        assert lib.settings.model == str(tiny_clip_dir)


@pytest.mark.parametrize("via", ["argument", "environment"])
def test_another_model_is_for_one_run_only(tmp_path, tiny_clip_dir, other_model, monkeypatch,
                                           via):
    Library(tmp_path / "lib", model=str(tiny_clip_dir)).close()
    before = _saved(tmp_path / "lib")
    if via == "environment":
        monkeypatch.setenv("PHOTOCLIP_MODEL", str(other_model))
        lib = Library(tmp_path / "lib", device="cpu")
    else:
        lib = Library(tmp_path / "lib", model=str(other_model), device="cpu")
    with lib:
        assert lib.model == str(other_model)
        assert lib.device == "cpu"
        assert lib.one_off_model
        assert lib.settings.model == str(tiny_clip_dir)
        assert lib.status()["model"] == str(tiny_clip_dir)
        for needs_vectors in (lambda: lib.encoder, lib.searcher, lib.indexer, lib.tagger,
                              lib.duplicates, lambda: lib.vectors):
            with pytest.raises(PhotoclipError) as exc:
                needs_vectors()
            message = str(exc.value)
            assert "\n" not in message
            assert str(tiny_clip_dir) in message
            assert f"photoclip models use {other_model}" in message
        # what does not need the library's vectors works
        assert lib.label_sets.label_sets() == []
        assert [m.name for m in lib.models()] == [str(tiny_clip_dir)]
    assert _saved(tmp_path / "lib") == before


def test_the_same_model_by_another_spelling_is_no_other_model(tmp_path, tiny_clip_dir,
                                                              monkeypatch):
    Library(tmp_path / "lib", model=str(tiny_clip_dir)).close()
    monkeypatch.chdir(tiny_clip_dir)
    with Library(tmp_path / "lib", model=".") as lib:
        assert not lib.one_off_model
        lib.require_own_model()


def test_a_given_encoder_is_the_librarys_model(tmp_path, tiny_encoder, monkeypatch):
    Library(tmp_path / "lib").close()  # a library of the default model...
    monkeypatch.setenv("PHOTOCLIP_MODEL", "someone/elses-model")
    with Library(tmp_path / "lib", encoder=tiny_encoder) as lib:  # ...given an encoder outright
        assert not lib.one_off_model
        assert lib.encoder is tiny_encoder


def test_a_one_off_device_is_not_saved(tmp_path):
    Library(tmp_path / "lib").close()
    with Library(tmp_path / "lib", device="cuda") as lib:
        assert lib.device == "cuda"
        assert lib.settings.device == "auto"
    assert _saved(tmp_path / "lib")["device"] == "auto"
    with Library(tmp_path / "lib") as lib:
        assert lib.device == "auto"


def test_settings_chosen_in_the_window_replace_the_one_off_choice(tmp_path, tiny_clip_dir,
                                                                  other_model):
    Library(tmp_path / "lib", model=str(tiny_clip_dir)).close()
    with Library(tmp_path / "lib", model=str(other_model), device="cuda") as lib:
        new = Settings(**{**lib.settings.__dict__, "device": "cpu"})
        lib.apply_settings(new)
        assert lib.device == "cpu"
        assert lib.one_off_model  # the model was not changed there
        lib.apply_settings(Settings(**{**new.__dict__, "model": str(other_model)}))
        assert not lib.one_off_model
        assert lib.model == str(other_model)


def test_run_resolution_without_opening_the_library(tmp_path, tiny_clip_dir, monkeypatch):
    run = Library.resolve_run(tmp_path / "nowhere")
    assert (run.model, run.device, run.new) == (DEFAULT_MODEL, "auto", True)
    assert not (tmp_path / "nowhere").exists()
    Library(tmp_path / "lib", model=str(tiny_clip_dir)).close()
    assert Library.resolve_run(tmp_path / "lib").model == str(tiny_clip_dir)
    monkeypatch.setenv("PHOTOCLIP_MODEL", "org/model")
    run = Library.resolve_run(tmp_path / "lib", device="cpu")
    assert (run.model, run.device, run.new) == ("org/model", "cpu", False)
    assert run.settings.model == str(tiny_clip_dir)


def test_the_trainer_starts_from_this_runs_model(tmp_path, tiny_clip_dir, other_model):
    albums = colour_albums(tmp_path / "albums", per_album=2)
    Library(tmp_path / "lib", model=str(tiny_clip_dir)).close()
    with Library(tmp_path / "lib") as lib:
        trainer = lib.trainer(lib.read_albums(albums), name="colours", epochs=3)
        assert trainer.base == str(tiny_clip_dir)
        assert trainer.config.epochs == 3
        assert trainer.checkpoints == lib.paths.checkpoints
    with Library(tmp_path / "lib", model=str(other_model), device="cpu") as lib:
        trainer = lib.trainer(lib.read_albums(albums))
        assert trainer.base == str(other_model)
        assert trainer.requested_device == "cpu"
        assert trainer.name == "albums"


def test_evaluate_uses_this_runs_model(tmp_path, tiny_clip_dir, other_model):
    albums = colour_albums(tmp_path / "albums", per_album=2)
    Library(tmp_path / "lib", model=str(tiny_clip_dir)).close()
    with Library(tmp_path / "lib") as lib:
        assert lib.evaluate(lib.read_albums(albums)).model is lib.encoder
    with Library(tmp_path / "lib", model=str(other_model)) as lib:
        assert lib.evaluate(lib.read_albums(albums)).model.model_id == str(other_model)


def test_models_lists_the_librarys_base_model_first_and_marks_it(tmp_path, tiny_clip_dir):
    with Library(tmp_path / "lib", model=str(tiny_clip_dir)) as lib:
        (only,) = lib.models()
        assert (only.name, only.kind, only.source) == (str(tiny_clip_dir), "base",
                                                       str(tiny_clip_dir))
        assert only.in_use
        assert not only.pending
        assert only.as_dict()["in_use"] is True
        assert lib.find_model("nothing") is None


def test_label_sets_define_enable_describe(tmp_path):
    with Library(tmp_path / "lib") as lib:
        sets = lib.label_sets
        saved, created = sets.define("pets", labels="cat, dog", threshold=0.4)
        assert created
        assert [lb.name for lb in saved.labels] == ["cat", "dog"]
        saved, created = sets.define("pets", labels="cat,dog,rabbit")
        assert not created
        assert saved.threshold == 0.4
        shown = sets.describe("pets")
        assert shown["installed"]
        assert [x["name"] for x in shown["labels"]] == [
            "cat", "dog", "rabbit"]
        builtin = sets.available()[0]
        assert not sets.describe(builtin)["installed"]
        found, added = sets.enable(builtin)
        assert added
        assert found.enabled
        assert builtin not in sets.available()
        sets.disable("pets")
        assert sets.label_set("pets").enabled is False
        with pytest.raises(PhotoclipError, match="labels list"):
            sets.describe("no-such-set")
