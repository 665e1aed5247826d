"""`search` and `similar` as a user meets them: filters alone, queries refused before the model
loads, any readable photo as the example, and odd arguments refused in one line."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import skimage
from cli_support import run, run_json

from photoclip.cli import main
from photoclip.core.encoder.clip import ClipEncoder

SKIMAGE_DATA = Path(skimage.__file__).parent / "data"
# name -> file time (no EXIF dates in these: the file's date counts), oldest first
PHOTOS = {"astronaut.png": "2019-03-01", "rocket.jpg": "2019-07-01", "coffee.png": "2020-05-01",
          "chelsea.png": "2021-01-01"}


def _epoch(day: str) -> int:
    return int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp())


@pytest.fixture
def album(capsys, tmp_path, tiny_clip_dir) -> Path:
    root = tmp_path / "Pictures"
    root.mkdir()
    for name, day in PHOTOS.items():
        shutil.copy(SKIMAGE_DATA / name, root / name)
        os.utime(root / name, (_epoch(day), _epoch(day)))
    assert run_json(capsys, "add", str(root), "--model", str(tiny_clip_dir))["indexed"] == 4
    return root


@pytest.fixture
def model_loads(monkeypatch) -> list[str]:
    """Every load of a model from here on (a search that must not load one fails loudly)."""
    loads: list[str] = []

    def load(self):
        loads.append(self.model_id)
        raise RuntimeError("the model was loaded")

    monkeypatch.setattr(ClipEncoder, "load", load)
    return loads


def _paths(results: list[dict]) -> list[str]:
    return [Path(r["path"]).name for r in results]


def test_filters_alone_list_photos_newest_first_without_the_model(capsys, album, model_loads):
    data = run_json(capsys, "search", "type:png")
    assert _paths(data["results"]) == ["chelsea.png", "coffee.png", "astronaut.png"]
    assert all(r["score"] is None for r in data["results"])  # listed by date, not scored
    assert _paths(run_json(capsys, "search", "date:2019")["results"]) == [
        "rocket.jpg", "astronaut.png"]
    assert _paths(run_json(capsys, "search", "date:2019..2020 type:png",
                           "--top", "1")["results"]) == ["coffee.png"]
    folder = run_json(capsys, "search", f"folder:{album}", "--top", "2")["results"]
    assert _paths(folder) == ["chelsea.png", "coffee.png"]

    code, out, err = run(capsys, "search", "type:png")
    assert code == 0, err
    assert out.splitlines() == [str(album / n) for n in ("chelsea.png", "coffee.png",
                                                         "astronaut.png")]
    assert model_loads == []


def test_a_tag_alone_lists_the_tagged_photos(capsys, album, model_loads):
    for name in ("astronaut.png", "coffee.png"):
        code, _, err = run(capsys, "tags", "set", str(album / name), "holiday")
        assert code == 0, err
    model_loads.clear()  # tags set may load it; search must not
    data = run_json(capsys, "search", "tag:holiday")
    assert _paths(data["results"]) == ["coffee.png", "astronaut.png"]
    assert [r["score"] for r in data["results"]] == [1.0, 1.0]  # the user's own tags
    assert _paths(run_json(capsys, "search", "tag:holiday", "--top", "1")["results"]) == [
        "coffee.png"]
    code, out, _ = run(capsys, "search", "tag:holiday date:2019")
    assert code == 0
    assert out.strip() == f"1.000  {album / 'astronaut.png'}"
    assert model_loads == []


@pytest.mark.parametrize(("query", "says"), [
    ("type:xyz cat", "Unknown type:xyz"),
    ("cat date:2023-13", "Bad date"),
    ("cat tag:volcano", "No label 'volcano'"),
    ("similar:~/no-such-photo.jpg cat", "file not found: ~/no-such-photo.jpg"),
    ("-people", "Nothing to search for"),
])
def test_a_bad_query_exits_2_before_the_model_loads(capsys, album, model_loads, query, says):
    code, out, err = run(capsys, "search", query)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert says in err
    assert model_loads == []


def test_undecodable_bytes_in_the_query_are_a_usage_error(tmp_path):
    env = {**os.environ, "PHOTOCLIP_LIBRARY": str(tmp_path / "lib"), "LC_ALL": "C.UTF-8"}
    proc = subprocess.run([sys.executable, "-m", "photoclip", "search", b"\xff\xfe"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1
    assert "unexpected error" not in proc.stderr
    assert "\\xff\\xfe" in proc.stderr


@pytest.mark.parametrize("value", ["nan", "1e309", "inf", "-inf", "-1"])
def test_cutoff_must_be_a_finite_number_from_0(capsys, value):
    with pytest.raises(SystemExit) as exit_:
        main(["search", "cat", "--cutoff", value])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "--cutoff" in err
    assert "Traceback" not in err


def test_similar_and_the_similar_term_take_any_readable_photo(capsys, album, tmp_path):
    outside = tmp_path / "elsewhere" / "horse.png"
    outside.parent.mkdir()
    shutil.copy(SKIMAGE_DATA / "horse.png", outside)
    by_command = run_json(capsys, "similar", str(outside), "--top", "3")["results"]
    assert len(by_command) == 3
    by_term = run_json(capsys, "search", f"similar:{outside}", "--top", "3",
                       "--cutoff", "0")["results"]
    assert by_term == by_command

    inside = album / "coffee.png"
    by_command = run_json(capsys, "similar", str(inside), "--top", "4")["results"]
    assert _paths(by_command)[0] == "coffee.png"
    assert run_json(capsys, "search", f"similar:{inside}", "--top", "4",
                    "--cutoff", "0")["results"] == by_command


def test_a_library_photo_is_found_by_its_stored_embedding(capsys, album):
    """Gone from disk but still in the library (not re-indexed yet): its embedding serves."""
    photo = album / "rocket.jpg"
    photo.unlink()
    results = run_json(capsys, "similar", str(photo), "--top", "1")["results"]
    assert results[0]["path"] == str(photo)
    assert results[0]["score"] == pytest.approx(1.0, abs=1e-3)


def test_a_missing_photo_says_file_not_found(capsys, album, tmp_path, model_loads):
    missing = tmp_path / "nope.jpg"
    code, out, err = run(capsys, "similar", str(missing))
    assert code == 1
    assert out == ""
    assert f"file not found: {missing}" in err
    code, _, err = run(capsys, "search", f"similar:{missing}")
    assert code == 2
    assert f"file not found: {missing}" in err
    assert model_loads == []



def test_filter_options_alone_are_a_query_too(capsys, album, model_loads):
    """`photoclip search --folder F` with no query text lists what the filter matches."""
    data = run_json(capsys, "search", "--folder", str(album), "--top", "2")
    assert _paths(data["results"]) == ["chelsea.png", "coffee.png"]
    assert model_loads == []
    with pytest.raises(SystemExit) as exit_:
        main(["search"])
    assert exit_.value.code == 2
    assert "search needs a QUERY" in capsys.readouterr().err


def _plant_text(path: Path, text: str) -> None:
    """What the recogniser would have stored for one photo (no OCR model in this test)."""
    from photoclip.core.library import Library
    from photoclip.core.ocr import Line, TextStore

    with Library() as lib:
        photo = lib.catalog.find_photo(str(path))
        TextStore(lib.catalog).put(photo.hash, "text",
                                   [Line(text, 0.9, ((0, 0), (9, 0), (9, 9), (0, 9)))])


def test_search_text_lists_only_photos_whose_words_hold_the_phrase(capsys, album):
    _plant_text(album / "coffee.png", "RE16 TGK  Kaffee 2,40")
    _plant_text(album / "rocket.jpg", "LAUNCH PAD 39A")
    names = [os.path.basename(h["path"])
             for h in run_json(capsys, "search", "--text", "re16")["results"]]
    assert names == ["coffee.png"]  # a sub-string, whatever the case
    # The same as text:"..." in the query, and combined with a CLIP term or a filter.
    same = run_json(capsys, "search", 'text:"pad 39"')["results"]
    assert [os.path.basename(h["path"]) for h in same] == ["rocket.jpg"]
    both = run_json(capsys, "search", "rocket", "--text", "launchpad", "--cutoff", "0")
    assert [os.path.basename(h["path"]) for h in both["results"]] == ["rocket.jpg"]
    assert run_json(capsys, "search", "--text", "nowhere")["results"] == []
    code, _, err = run(capsys, "search", "--text", "  ")
    assert code == 2
    assert "--text needs the words" in err
