"""`photoclip eval --set NAME --save-threshold [COVERAGE]`: the threshold the trade-off picks is
saved to the set, said with its held-out figures, and tagging then uses it."""

from __future__ import annotations

from pathlib import Path

import pytest
from album_support import COLOURS, colour_albums
from cli_support import run, run_json


@pytest.fixture
def decided(capsys, tmp_path, tiny_clip_dir) -> tuple[Path, list[Path]]:
    """A library of 3 colour albums x 8 photos, a set 'colours' whose floor lets every photo
    through (the tiny random CLIP's cosines are anywhere), 7 photos of each decided by hand;
    returns (the albums, the undecided photos)."""
    albums = colour_albums(tmp_path / "albums")
    run_json(capsys, "add", str(albums), "--model", str(tiny_clip_dir))
    run_json(capsys, "labels", "add", "colours", "--labels", "red,green,blue", "--floor", "-1")
    undecided = []
    for name in COLOURS:
        photos = sorted((albums / name).glob("*.jpg"))
        for photo in photos[:7]:
            run_json(capsys, "tags", "set", str(photo), f"colours|{name}")
        undecided += photos[7:]
    return albums, undecided


def test_eval_saves_the_threshold_and_tagging_uses_it(capsys, decided):
    _, undecided = decided
    data = run_json(capsys, "eval", "--set", "colours", "--save-threshold", "0.6")
    st = data["set_tradeoff"]
    assert st["saved"]
    assert st["set_name"] == "colours"
    assert st["photos"] == 21
    assert st["measured_on"] == 10
    assert st["coverage_asked"] == 0.6
    assert data["tag_threshold"] == st["threshold"]  # the one measured on the held-out half
    shown = run_json(capsys, "labels", "show", "colours")
    assert shown["threshold"] == st["to_save"]  # chosen the same way on every decided photo

    run_json(capsys, "tag", "--set", "colours")
    for photo in undecided:
        for label in COLOURS:
            why = run_json(capsys, "tags", str(photo), "--why", f"colours|{label}")["why"]
            assert why["threshold_source"] == "set"
            assert why["threshold"] == pytest.approx(st["to_save"], abs=1e-6)
        tags = {t["label"] for t in run_json(capsys, "tags", str(photo))["tags"]}
        best = max(COLOURS, key=lambda lb: run_json(
            capsys, "tags", str(photo), "--why", f"colours|{lb}")["why"]["score"])
        score = run_json(capsys, "tags", str(photo), "--why", f"colours|{best}")["why"]["score"]
        assert tags == ({best} if score >= st["to_save"] - 1e-6 else set())

    code, out, err = run(capsys, "eval", "--set", "colours", "--save-threshold")
    assert code == 0, err
    assert "saved threshold" in out
    assert "for 80% coverage" in out
    assert "held-out half" in out
    assert "best guess" in out


def test_too_few_decisions_are_refused_clearly(capsys, tmp_path, tiny_clip_dir):
    albums = colour_albums(tmp_path / "albums")
    run_json(capsys, "add", str(albums), "--model", str(tiny_clip_dir))
    run_json(capsys, "labels", "add", "colours", "--labels", "red,green,blue")
    for name in COLOURS:
        for photo in sorted((albums / name).glob("*.jpg"))[:3]:
            run_json(capsys, "tags", "set", str(photo), f"colours|{name}")
    code, out, err = run(capsys, "eval", "--set", "colours", "--save-threshold")
    assert code == 1
    assert out == ""
    assert "has 9 photos" in err
    assert "at least 20" in err
    assert run_json(capsys, "labels", "show", "colours")["threshold"] is None
    code, _, err = run(capsys, "eval", "--albums", str(albums), "--save-threshold")
    assert code == 1
    assert "--set NAME" in err
    # Without --save-threshold the evaluation still runs and says why there is no threshold.
    code, out, err = run(capsys, "eval", "--set", "colours")
    assert code == 0, err
    assert "no threshold chosen" in out
