"""A kill between saving a trained model and registering it (issue 17 item 6): the model
folder's photoclip.json is the source of truth, and the registry lists a finished folder that
has no row on its next read; the row and the folder are published together."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from photoclip.config import LibraryPaths
from photoclip.core.catalog import Catalog
from photoclip.core.evaluation import METADATA_FILE
from photoclip.core.training import registry, trainer
from photoclip.core.training.checkpoint import SAVING_PREFIX

BASE = "openai/clip-vit-base-patch32"


def _model_folder(folder: Path, name: str | None = None) -> Path:
    """What the save step leaves: a folder with weights and photoclip.json."""
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(b"weights")
    meta = {"name": name or folder.name, "base": BASE, "metrics": {"wise_alpha": 0.5}}
    (folder / METADATA_FILE).write_text(json.dumps(meta), "utf-8")
    return folder


def _library(tmp_path: Path) -> LibraryPaths:
    return LibraryPaths(tmp_path / "lib").ensure()


def test_an_orphan_model_folder_is_listed_on_the_next_registry_read(tmp_path):
    paths = _library(tmp_path)
    _model_folder(paths.checkpoints / "garden")
    with Catalog(paths.catalog, backup_dir=paths.backups) as cat:
        entry = registry.find(cat, "garden")
        assert entry is not None
        assert (entry.kind, entry.base, entry.path) == (
            "finetuned", BASE, str(paths.checkpoints / "garden"))
        assert entry.metrics == {"wise_alpha": 0.5}
        assert [e.name for e in registry.list_models(cat)] == ["garden"]
        assert registry.by_source(cat, str(paths.checkpoints / "garden")) == entry
    with Catalog(paths.catalog, backup_dir=paths.backups) as cat:  # it stays listed, once
        assert [e.name for e in registry.list_models(cat)] == ["garden"]


def test_unfinished_or_foreign_folders_are_not_listed(tmp_path):
    paths = _library(tmp_path)
    _model_folder(paths.checkpoints / f"{SAVING_PREFIX}half")  # a save cut short
    _model_folder(paths.checkpoints / ".partial-run")
    (paths.checkpoints / "no-metadata").mkdir()
    _model_folder(paths.checkpoints / "renamed", name="other")
    bad = paths.checkpoints / "broken"
    bad.mkdir()
    (bad / METADATA_FILE).write_text("{not json", "utf-8")
    with Catalog(paths.catalog, backup_dir=paths.backups) as cat:
        assert registry.list_models(cat) == []
        assert registry.find(cat, "half") is None
        assert registry.find(cat, f"{SAVING_PREFIX}half") is None


def test_recover_lists_orphans_of_any_checkpoints_folder(tmp_path):
    ckpt = tmp_path / "ckpt"
    _model_folder(ckpt / "a")
    with Catalog(tmp_path / "c.sqlite3") as cat:
        registry.register(cat, "b", base=BASE, path=str(ckpt / "b"), kind="finetuned")
        _model_folder(ckpt / "b")
        assert registry.recover(cat, ckpt) == ["a"]
        assert registry.recover(cat, ckpt) == []
        assert {e.name for e in registry.list_models(cat)} == {"a", "b"}


def _bare_trainer(paths: LibraryPaths, cat: Catalog, monkeypatch) -> tuple[object, object]:
    """A Trainer at its save step, with the weights writing stubbed out."""
    t = object.__new__(trainer.Trainer)
    t.name, t.base, t.checkpoints, t.catalog = "garden", BASE, paths.checkpoints, cat

    def stage(final, *_args):
        return _model_folder(final.parent / f"{SAVING_PREFIX}{final.name}", final.name)

    monkeypatch.setattr(trainer, "stage_model", stage)
    monkeypatch.setattr(trainer.Trainer, "_metadata", lambda *a: {})
    run = SimpleNamespace(photos=SimpleNamespace(hashes=["h"]), train_idx=[0], select_idx=[],
                          model=None, tokenizer=None, held_out=[],
                          encoder=SimpleNamespace(preprocessing=None))
    result = SimpleNamespace(as_dict=lambda: {"wise_alpha": 0.5},
                             before=SimpleNamespace(zero_shot_accuracy=0.1),
                             after=SimpleNamespace(zero_shot_accuracy=0.2, images=1))
    return t, (run, result)


def test_a_kill_after_the_rename_leaves_a_model_found_on_the_next_start(tmp_path, monkeypatch):
    paths = _library(tmp_path)
    real_publish = trainer.publish_model

    def publish_then_killed(staged, final):
        real_publish(staged, final)
        raise SystemExit(137)  # killed before the registration commits

    with Catalog(paths.catalog, backup_dir=paths.backups) as cat:
        t, (run, result) = _bare_trainer(paths, cat, monkeypatch)
        monkeypatch.setattr(trainer, "publish_model", publish_then_killed)
        with pytest.raises(SystemExit):
            list(t.save(run, result))
        assert cat.query("SELECT count(*) FROM models WHERE name = 'garden'")[0][0] == 0
    assert (paths.checkpoints / "garden" / METADATA_FILE).is_file()
    with Catalog(paths.catalog, backup_dir=paths.backups) as cat:
        entry = registry.find(cat, "garden")
        assert entry is not None
        assert entry.path == str(paths.checkpoints / "garden")


def test_a_failed_rename_registers_nothing(tmp_path, monkeypatch):
    paths = _library(tmp_path)

    def rename_fails(staged, final):
        raise OSError(28, "No space left on device")

    with Catalog(paths.catalog, backup_dir=paths.backups) as cat:
        t, (run, result) = _bare_trainer(paths, cat, monkeypatch)
        monkeypatch.setattr(trainer, "publish_model", rename_fails)
        with pytest.raises(OSError, match="No space"):
            list(t.save(run, result))
        assert registry.find(cat, "garden") is None
        assert not (paths.checkpoints / "garden").exists()


def test_the_save_step_registers_and_publishes(tmp_path, monkeypatch):
    paths = _library(tmp_path)
    with Catalog(paths.catalog, backup_dir=paths.backups) as cat:
        t, (run, result) = _bare_trainer(paths, cat, monkeypatch)
        list(t.save(run, result))
        entry = registry.find(cat, "garden")
        assert entry is not None
        assert entry.metrics == {"wise_alpha": 0.5}
        assert registry.by_source(cat, BASE) is not None  # the base is listed too
    assert (paths.checkpoints / "garden" / METADATA_FILE).is_file()
    assert not (paths.checkpoints / f"{SAVING_PREFIX}garden").exists()
