"""photoclip's own small convolutional model (`photoclip/small-conv`, core/encoder/builtin.py):
built on this machine with no download, it indexes, searches, tags and trains from scratch like
any other model, and the trained model loads back."""

from __future__ import annotations

from pathlib import Path

import pytest
from album_generators import make_albums
from cli_support import run_json

from photoclip.core.encoder import builtin

SMALL = builtin.SMALL_CONV


@pytest.fixture(autouse=True)
def built_here(tmp_path_factory, monkeypatch) -> Path:
    folder = tmp_path_factory.getbasetemp() / "built-models"
    monkeypatch.setenv(builtin.ENV_CACHE, str(folder))
    return folder


def test_it_is_built_without_download_and_always_the_same(tmp_path, built_here):
    from safetensors.numpy import load_file

    first = builtin.ensure_built(SMALL)
    assert first.parent == built_here
    assert builtin.ensure_built(SMALL) == first  # built once
    again = builtin.build_small_conv(tmp_path / "again")
    a, b = load_file(first / "model.safetensors"), load_file(again / "model.safetensors")
    assert a.keys() == b.keys()
    assert all((a[k] == b[k]).all() for k in a)  # a fixed seed: one id, one set of weights


def test_catalogue_offers_it_for_training_from_scratch(capsys):
    data = run_json(capsys, "models", "catalog")
    (entry,) = [m for m in data["models"] if m["id"] == SMALL]
    assert entry["family"] == "vision-text-dual-encoder"
    assert entry["download_mb"] == 0


def test_indexes_searches_tags_and_trains_end_to_end(capsys, tmp_path):
    photos = make_albums(tmp_path / "Pictures", "gradient", 4,
                         labels=("red circle", "blue square", "green triangle"))
    added = run_json(capsys, "add", str(photos), "--model", SMALL)
    assert added["indexed"] == 12

    found = run_json(capsys, "search", "red circle")
    assert len(found["results"]) > 0
    assert all(Path(r["path"]).is_file() for r in found["results"])

    run_json(capsys, "labels", "add", "shapes", "--labels", "red circle, blue square",
             "--floor", "-1", "--threshold", "0")
    tagged = run_json(capsys, "tag")
    assert tagged["tagged"] == 12

    trained = run_json(capsys, "train", "--albums", str(photos), "--from-scratch",
                       "--epochs", "2", "--batch-size", "6", "--name", "tiny-conv")
    assert trained["steps"] > 0
    assert Path(trained["path"]).is_dir()
    used = run_json(capsys, "models", "use", "tiny-conv", "--no-retag")
    assert used["switched"]
    found = run_json(capsys, "search", "blue square")
    assert len(found["results"]) > 0


def test_a_folder_built_with_another_shape_is_not_taken(monkeypatch, built_here):
    first = builtin.ensure_built(SMALL)
    other = builtin.ConvSpec(image_size=64, pool="avg")  # an earlier version's shape
    monkeypatch.setitem(builtin.BUILT, SMALL, other)
    second = builtin.ensure_built(SMALL)
    assert second != first
    assert second.parent == built_here
    from transformers import AutoConfig

    builtin.conv_tower.register()
    assert AutoConfig.from_pretrained(second).vision_config.image_size == 64
    assert AutoConfig.from_pretrained(first).vision_config.image_size == 128


def test_its_max_pool_survives_save_and_load(tmp_path):
    """The product's loader (loading.from_pretrained) reads back the global max pool, after a
    save as training makes: a tower that silently fell back to the average would answer
    differently from the one that was trained."""
    import torch

    from photoclip.core.encoder.loading import from_pretrained

    model, _, _ = from_pretrained(str(builtin.ensure_built(SMALL)), SMALL)
    assert model.vision_model.config.pool == "max"
    model.save_pretrained(tmp_path / "again")
    again, _, _ = from_pretrained(str(tmp_path / "again"), "again")
    pixels = torch.zeros(1, 3, 128, 128)
    pixels[0, :, 10:20, 100:110] = 3.0  # one small bright object near a corner
    out = again.vision_model.eval()(pixel_values=pixels)
    assert again.vision_model.config.pool == "max"
    assert torch.allclose(out.pooler_output, out.last_hidden_state.amax(dim=(2, 3)))
    assert not torch.allclose(out.pooler_output, out.last_hidden_state.mean(dim=(2, 3)))
