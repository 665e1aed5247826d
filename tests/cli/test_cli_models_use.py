"""`models use` and `models list` as a user reads them: after a switch the tags and their
explanations come from the same model, and the list says what is in use in words."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import skimage
from cli_support import run, run_json

from photoclip.core.library import Library

SKIMAGE_DATA = Path(skimage.__file__).parent / "data"
PHOTOS = ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png"]
LABELS = ["cat", "dog", "rabbit"]


@pytest.fixture
def other_weights(tmp_path, tiny_clip_dir) -> Path:
    """Another tiny CLIP: the same shape and vocabulary, other random weights (so it tags
    some photos differently)."""
    import torch
    from transformers import CLIPModel

    folder = Path(shutil.copytree(tiny_clip_dir, tmp_path / "other-clip"))
    config = CLIPModel.from_pretrained(str(tiny_clip_dir)).config
    torch.manual_seed(1)
    CLIPModel(config).eval().save_pretrained(str(folder))
    return folder


@pytest.fixture
def tagged(capsys, tmp_path, tiny_clip_dir) -> Path:
    """Five photos, indexed and tagged with a single-label set (every photo gets its best)."""
    root = tmp_path / "Pictures"
    root.mkdir()
    for name in PHOTOS:
        shutil.copy(SKIMAGE_DATA / name, root / name)
    assert run_json(capsys, "add", str(root), "--model", str(tiny_clip_dir))["indexed"] == 5
    run_json(capsys, "labels", "add", "pets", "--labels", ",".join(LABELS), "--floor", "-1",
             "--threshold", "0")
    assert run_json(capsys, "tag")["tagged"] == len(PHOTOS)
    return root


def _labels(capsys, photo: Path) -> set[str]:
    return {t["label"] for t in run_json(capsys, "tags", str(photo))["tags"]}


def _why(capsys, photo: Path, label: str) -> dict:
    return run_json(capsys, "tags", str(photo), "--why", f"pets|{label}")["why"]


def test_after_models_use_tags_and_their_explanations_agree(capsys, tagged, tiny_clip_dir,
                                                            other_weights):
    before = {p: _labels(capsys, tagged / p) for p in PHOTOS}
    code, out, err = run(capsys, "models", "use", str(other_weights))
    assert code == 0, err
    assert f"now using {other_weights}" in out
    assert "re-tagging with the new model: pets" in err
    after = {p: _labels(capsys, tagged / p) for p in PHOTOS}
    assert after != before  # the new model sees some photos differently...
    for name in PHOTOS:  # ...and every explanation says what the tags say
        for label in LABELS:
            why = _why(capsys, tagged / name, label)
            assert why["model"] == str(other_weights)
            assert why["tags_from"] == []
            assert why["passes"] == (label in after[name]), (name, label)
    code, out, _ = run(capsys, "tags", str(tagged / PHOTOS[0]), "--why", "pets|cat")
    assert code == 0
    assert "note:" not in out


def test_models_use_json_reports_the_retag(capsys, tagged, other_weights):
    used = run_json(capsys, "models", "use", str(other_weights))
    assert used["switched"]
    assert used["retagged"]["sets"] == ["pets"]
    assert used["retagged"]["photos"] == len(PHOTOS)


def test_no_retag_keeps_the_old_tags_and_says_so_until_tag_runs(capsys, tagged, tiny_clip_dir,
                                                                 other_weights):
    before = {p: _labels(capsys, tagged / p) for p in PHOTOS}
    code, out, err = run(capsys, "models", "use", str(other_weights), "--no-retag")
    assert code == 0, err
    assert "re-tagging" not in err
    assert (f"tags are still from the previous model ({tiny_clip_dir}) until you run "
            "`photoclip tag`") in out
    assert {p: _labels(capsys, tagged / p) for p in PHOTOS} == before
    photo = tagged / PHOTOS[0]
    assert _why(capsys, photo, "cat")["tags_from"] == [str(tiny_clip_dir)]
    code, out, _ = run(capsys, "tags", str(photo), "--why", "pets|cat")
    assert code == 0
    assert f"the tags of 'pets' are still from {tiny_clip_dir}" in out
    assert "`photoclip tag --set pets`" in out

    run_json(capsys, "tag")
    assert _why(capsys, photo, "cat")["tags_from"] == []


def test_models_list_says_in_use_in_the_row_not_in_a_bare_legend(capsys, tagged, tiny_clip_dir,
                                                                 other_weights):
    code, out, _ = run(capsys, "models", "list")
    assert code == 0
    lines = out.splitlines()
    assert all(line.strip() not in ("* in use", "*") for line in lines)
    (row,) = [line for line in lines if line.startswith(str(tiny_clip_dir))]
    assert row.split()[-2:] == ["in", "use"]

    # A switch that stopped halfway: the list says which, and how to finish it.
    with Library() as lib:
        job = lib.switch_model(str(other_weights))
        next(job)
        job.close()
    code, out, _ = run(capsys, "models", "list")
    assert code == 0
    assert "switching to" in out
    assert "did not finish" in out
    assert f"photoclip models use {other_weights}" in out
    assert not any(line.startswith(("*", "~")) for line in out.splitlines())
