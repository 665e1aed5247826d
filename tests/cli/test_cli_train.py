"""`train`, `eval` and `models` as a user runs them: JSON shapes, switching models, errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from album_support import COLOURS, colour_albums
from cli_support import run, run_json

from photoclip.cli import main

EVAL_KEYS = {"labels", "images", "zero_shot_accuracy", "zero_shot_accuracy_single_prompt",
             "recall_at_1", "recall_at_5", "modality_gap"}


@pytest.fixture
def albums(tmp_path) -> Path:
    """albums/<colour>/*.jpg, 8 photos each."""
    return colour_albums(tmp_path / "albums")




def test_train_reports_before_and_after_and_use_switches_search(capsys, albums, tiny_clip_dir,
                                                                tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in COLOURS:
        (photos / f"{name}.jpg").write_bytes((albums / name / "0.jpg").read_bytes())
    run_json(capsys, "add", str(photos), "--model", str(tiny_clip_dir))

    data = run_json(capsys, "train", "--albums", str(albums), "--epochs", "2",
                    "--batch-size", "8", "--name", "colours")
    assert data["model"] == "colours"
    assert set(data["before"]) >= EVAL_KEYS
    assert set(data["after"]) >= EVAL_KEYS
    assert data["before"]["labels"] == 3
    # 2 of each album's 8 are held out; with WiSE-FT half of those choose alpha, half measure.
    assert data["after"]["images"] == data["before"]["images"] == 3
    assert data["seconds"] > 0
    assert 0.0 <= data["wise_alpha"] <= 1.0

    listed = run_json(capsys, "models", "list")
    names = {m["name"]: m for m in listed["models"]}
    assert names["colours"]["kind"] == "finetuned"
    assert names["colours"]["metrics"]["after"] == data["after"]
    assert not names["colours"]["in_use"]
    assert listed["current"] == str(tiny_clip_dir)

    used = run_json(capsys, "models", "use", "colours")
    assert used["switched"]
    status = run_json(capsys, "status")
    assert status["model"] == data["path"]
    assert status["pending_model"] is None
    assert run_json(capsys, "models", "list")["models"][-1]["in_use"]
    results = run_json(capsys, "search", "red")["results"]
    assert len(results) == 3  # every photo re-embedded with the new model and searchable

    # Back to the base model by name: it was listed when the first model was trained.
    assert run_json(capsys, "models", "use", str(tiny_clip_dir))["switched"]
    assert run_json(capsys, "status")["model"] == str(tiny_clip_dir)


def test_eval_json_shape(capsys, albums, tiny_clip_dir):
    data = run_json(capsys, "eval", "--albums", str(albums), "--model", str(tiny_clip_dir))
    assert set(data) >= EVAL_KEYS
    assert data["labels"] == 3
    assert data["images"] == 24  # the base model trained on none of them
    assert data["excluded_training_photos"] == 0
    assert 0.0 <= data["zero_shot_accuracy"] <= 1.0
    assert data["prototype_accuracy"] is not None


def test_train_errors_are_one_line(capsys, tmp_path, albums, tiny_clip_dir):
    one = tmp_path / "one"
    (one / "red").mkdir(parents=True)
    (one / "red" / "0.jpg").write_bytes((albums / "red" / "0.jpg").read_bytes())
    code, out, err = run(capsys, "train", "--albums", str(one), "--model", str(tiny_clip_dir))
    assert code == 1
    assert out == ""
    assert err.count("\n") == 1
    assert "at least 2" in err

    with pytest.raises(SystemExit) as usage:  # argparse: exit 2 with the reason
        main(["train", "--albums", str(albums), "--eval-split", "1.5"])
    assert usage.value.code == 2
    assert "between 0 and 1" in capsys.readouterr().err

    code, _, err = run(capsys, "models", "use", "nothing-like-this")
    assert code == 1
    assert "models list" in err


def test_eval_on_a_label_sets_tags_you_set_or_accepted(capsys, albums, tiny_clip_dir):
    run_json(capsys, "add", str(albums), "--model", str(tiny_clip_dir))
    run_json(capsys, "labels", "add", "colours", "--labels", "red,green,blue")
    for name in COLOURS:
        for photo in sorted((albums / name).glob("*.jpg"))[:4]:
            run_json(capsys, "tags", "set", str(photo), f"colours|{name}")
    # "not red": a rejected tag is no example of the label.
    run_json(capsys, "tags", "unset", str(albums / "red" / "0.jpg"), "colours|red")
    data = run_json(capsys, "eval", "--set", "colours")
    assert data["labels"] == 3
    assert data["images"] == 11

    code, _, err = run(capsys, "eval", "--set", "nope")
    assert code == 1
    assert "labels list" in err


def test_a_fine_tune_that_did_not_help_is_not_recommended(capsys, albums, tiny_clip_dir,
                                                          monkeypatch):
    """WiSE-FT chose the original weights: the CLI says so and does not say "use it"."""
    monkeypatch.setattr("photoclip.core.training.steps.choose_alpha",
                        lambda scores, *a, **k: 0.0)
    code, out, err = run(capsys, "train", "--albums", str(albums), "--epochs", "1",
                         "--batch-size", "8", "--name", "same", "--model", str(tiny_clip_dir))
    assert code == 0, err
    assert "did not help" in out
    assert "keep your model" in out
    assert "use it:" not in out
    assert "quick: two shortcuts" in out  # the quick rows are explained under the figures
    data = run_json(capsys, "eval", "--albums", str(albums), "--model", str(tiny_clip_dir))
    assert data["prototype_accuracy"] is not None


def test_a_resumed_run_says_so(capsys):
    from photoclip.cli.model_cmds import announce_resume
    from photoclip.core.types import Progress

    steps = [Progress("load", 1, 1), Progress("train", 12, 0, message="resuming from step 12",
                                             extra={"resumed_from": 12})]
    assert list(announce_resume(iter(steps))) == steps
    assert "resuming the interrupted run from step 12" in capsys.readouterr().err


def test_train_with_no_settings_says_what_it_picked(capsys, albums, tiny_clip_dir):
    code, out, err = run(capsys, "--model", str(tiny_clip_dir), "--device", "cpu", "train",
                         "--albums", str(albums), "--epochs", "2", "--name", "auto")
    assert code == 0, err
    # The batch size and learning rate were not given: the run chose them and says so, on
    # stderr as it starts and in the summary; the epoch count given is kept.
    assert "picked: batch size, learning rate" in err
    assert "settings: 2 epochs" in out
    assert "picked: batch size, learning rate" in out
    assert "kept epoch" in out  # early stopping kept the best epoch on held-out photos
