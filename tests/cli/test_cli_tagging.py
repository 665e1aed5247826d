"""Auto-tagging from the command line, as a new user meets it: add a folder, add a label set,
tag, look at a photo's tags, correct one, write XMP sidecars."""

from __future__ import annotations

import hashlib
import inspect
import shutil
from pathlib import Path

import exiv2
import pytest
import skimage
from cli_support import run, run_json

from photoclip.cli import main
from photoclip.core.indexing import Indexer
from photoclip.core.tagging.xmp import read_keywords

SKIMAGE_DATA = Path(skimage.__file__).parent / "data"
PHOTOS = ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png"]
INDEXER_REPORTS_MOVES = "on_moved" in inspect.signature(Indexer).parameters




@pytest.fixture
def indexed(capsys, tmp_path, tiny_clip_dir) -> Path:
    root = tmp_path / "Pictures"
    root.mkdir()
    for name in PHOTOS:
        shutil.copy(SKIMAGE_DATA / name, root / name)
    data = run_json(capsys, "add", str(root), "--model", str(tiny_clip_dir))
    assert data["indexed"] == len(PHOTOS)
    return root


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_new_user_tags_corrects_and_exports(capsys, indexed):
    originals = {p: sha256(p) for p in indexed.iterdir()}
    # The tiny model is random: a floor of -1 and threshold 0 make every photo get its best pet.
    added = run_json(capsys, "labels", "add", "pets", "--labels", "cat, dog,rabbit",
                     "--floor", "-1", "--threshold", "0")
    assert added == {"set": "pets", "created": True, "enabled": True,
                     "labels": ["cat", "dog", "rabbit"]}

    tagged = run_json(capsys, "tag")
    assert tagged["tagged"] == len(PHOTOS)
    assert tagged["tags"] == len(PHOTOS)  # one per photo: a single-label set

    photo = indexed / "chelsea.png"
    shown = run_json(capsys, "tags", str(photo))
    assert shown["path"] == str(photo.resolve())
    (tag,) = shown["tags"]
    assert {"label", "set", "score", "source"} <= set(tag)
    assert tag["set"] == "pets"
    assert tag["source"] == "auto"
    assert 0.0 < tag["score"] <= 1.0
    why = tag["why"]
    assert why["threshold"] == 0.0
    assert why["threshold_source"] == "set"
    assert len(why["templates"]) >= 8  # the built-in ensemble
    assert all(t["prompt"] == t["template"].replace("{}", tag["label"])
               for t in why["templates"])
    wrong = tag["label"]

    # Correct it: not that label; add one by hand.
    code, out, err = run(capsys, "tags", "unset", str(photo), wrong)
    assert code == 0, err
    assert "rejected" in out
    run_json(capsys, "tags", "set", str(photo), "grandma")
    again = run_json(capsys, "tag")
    assert again["tagged"] == len(PHOTOS)
    shown = run_json(capsys, "tags", str(photo))
    tags = {(t["set"], t["label"], t["source"]) for t in shown["tags"]}
    assert ("my tags", "grandma", "user") in tags
    (next_best,) = [t for t in shown["tags"] if t["set"] == "pets"]
    assert next_best["label"] != wrong  # "not a cat" gave the next label its chance
    assert shown["rejected"] == [{"label": wrong, "set": "pets"}]

    written = run_json(capsys, "xmp")
    assert written["written"] == len(PHOTOS)
    assert written["failed"] == 0
    side = indexed / "chelsea.png.xmp"
    image = exiv2.ImageFactory.open(str(side))
    image.readMetadata()
    meta = {d.key(): d.toString() for d in image.xmpData()}
    assert set(meta["Xmp.dc.subject"].split(", ")) == {next_best["label"], "grandma"}
    assert meta["Xmp.lr.hierarchicalSubject"] == f"my tags|grandma, pets|{next_best['label']}"
    assert {p: sha256(p) for p in originals} == originals  # originals untouched

    found = run_json(capsys, "search", "a photo", "--tag", "grandma")
    assert [r["path"] for r in found["results"]] == [str(photo.resolve())]


def test_why_explains_any_label_and_text_output_reads_well(capsys, indexed):
    run_json(capsys, "labels", "add", "pets", "--labels", "cat,dog")
    photo = str(indexed / "coffee.png")
    data = run_json(capsys, "tags", photo, "--why", "dog")
    assert data["why"]["label"] == "dog"
    assert {"similarity", "score", "threshold", "floor", "passes", "templates"} <= set(
        data["why"])
    code, out, _ = run(capsys, "tags", photo, "--why", "pets|dog")
    assert code == 0
    assert "why pets|dog: score" in out
    assert "a photo of a dog." in out


def test_label_set_commands(capsys, indexed, tmp_path):
    listed = run_json(capsys, "labels", "list")
    assert listed == {"sets": [], "available": ["animals", "documents", "events", "scenes"]}
    shown = run_json(capsys, "labels", "show", "scenes")  # a built-in set, before adding it
    assert shown["installed"] is False
    assert "beach" in [x["name"] for x in shown["labels"]]

    enabled = run_json(capsys, "labels", "enable", "scenes")
    assert enabled == {"set": "scenes", "enabled": True, "added": True}
    shown = run_json(capsys, "labels", "show", "scenes")
    assert shown["installed"]
    assert shown["enabled"]
    assert shown["labels"][0]["threshold_source"] == "default"

    exported = tmp_path / "scenes.yaml"
    run_json(capsys, "labels", "export", "scenes", str(exported))
    text = exported.read_text().replace("- beach\n", "- volcano\n")
    exported.write_text(text.replace("name: scenes", "name: scenes\nthreshold: 0.7"))
    imported = run_json(capsys, "labels", "import", str(exported))
    assert imported["created"] is False
    assert "volcano" in imported["labels"]
    assert "beach" not in imported["labels"]
    assert run_json(capsys, "labels", "show", "scenes")["threshold"] == 0.7

    run_json(capsys, "labels", "disable", "scenes")
    code, _, err = run(capsys, "tag")
    assert code == 1
    assert "No label set is enabled" in err
    assert err.count("\n") == 1  # one line, no traceback

    removed = run_json(capsys, "labels", "remove", "scenes")
    assert removed["removed"] == "scenes"
    assert "scenes" in run_json(capsys, "labels", "list")["available"]


def test_label_set_mistakes_are_one_line_errors(capsys, indexed, tmp_path):
    templates = tmp_path / "templates.txt"
    templates.write_text("a photo of my pet\n")
    code, _, err = run(capsys, "labels", "add", "pets", "--labels", "cat",
                       "--templates", str(templates))
    assert code == 1
    assert "no {} where the label goes" in err
    code, _, err = run(capsys, "labels", "show", "nope")
    assert code == 1
    assert "No label set named 'nope'" in err
    code, _, err = run(capsys, "tags", str(indexed / "coffee.png"), "--why", "unicorn")
    assert code == 1
    assert "No label 'unicorn'" in err
    code, _, err = run(capsys, "search", "cup", "--tag", "unicorn")
    assert code == 2
    assert "No label 'unicorn'" in err


@pytest.mark.parametrize("argv", [
    ["labels"],                                   # no action
    ["labels", "add", "pets"],                    # neither --labels nor --file
    ["labels", "add", "pets", "--labels", "a", "--threshold", "2"],
    ["tags"],
    ["tags", "set", "photo.jpg"],                 # a label is missing
    ["tags", "a.jpg", "b.jpg"],
    ["xmp", "--style", "sidecar"],
])
def test_usage_errors_exit_2(capsys, argv):
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own usage errors
        code = exc.code
    assert code == 2
    _, err = capsys.readouterr()
    assert "Traceback" not in err


def test_xmp_sync_on_keeps_sidecars_in_step_without_running_xmp_again(capsys, indexed):
    photo = indexed / "chelsea.png"
    side = indexed / "chelsea.png.xmp"
    assert run_json(capsys, "xmp", "--sync", "on")["sync"] is True
    run_json(capsys, "tags", "set", str(photo), "grandma")
    assert "grandma" in read_keywords(side)[0]  # no second `photoclip xmp` needed
    run_json(capsys, "tags", "unset", str(photo), "grandma")
    assert "grandma" not in read_keywords(side)[0]

    assert run_json(capsys, "xmp", "--sync", "off") == {"sync": False, "style": "photo.jpg.xmp"}
    run_json(capsys, "tags", "set", str(photo), "cake")
    assert "cake" not in read_keywords(side)[0]  # off: only `photoclip xmp` writes them
    code, _, err = run(capsys, "xmp", "--sync", "on")
    assert code == 0, err
    assert "sidecars now follow tag changes" in err
    assert "cake" in read_keywords(side)[0]  # turning it on writes them all at once


@pytest.mark.skipif(not INDEXER_REPORTS_MOVES, reason="needs the indexer's on_moved hook")
def test_a_photo_renamed_between_runs_takes_its_sidecar_along(capsys, indexed):
    photo = indexed / "chelsea.png"
    run_json(capsys, "tags", "set", str(photo), "grandma")
    run_json(capsys, "xmp")  # the setting is off: sidecars were written by hand, once
    photo.rename(indexed / "kitty.png")
    assert run_json(capsys, "index")["moved"] == 1
    assert not (indexed / "chelsea.png.xmp").exists()  # nothing of photoclip's left behind
    assert "grandma" in read_keywords(indexed / "kitty.png.xmp")[0]
