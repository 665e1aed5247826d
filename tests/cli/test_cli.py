"""The command line as a user and a script see it: JSON shapes, exit codes, messages."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import skimage
from cli_support import run, run_json

SKIMAGE_DATA = Path(skimage.__file__).parent / "data"
PHOTOS = ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png",
          "retina.jpg", "camera.png"]


@pytest.fixture
def album(tmp_path) -> Path:
    """Real photos in nested folders, plus two files no decoder can read."""
    root = tmp_path / "Pictures"
    (root / "2021" / "summer").mkdir(parents=True)
    (root / ".hidden").mkdir()
    for n, name in enumerate(PHOTOS):
        dest = root / ("2021/summer" if n % 2 else "") / name
        shutil.copy(SKIMAGE_DATA / name, dest)
    (root / "broken.jpg").write_bytes((SKIMAGE_DATA / "rocket.jpg").read_bytes()[:3000])
    (root / "empty.png").write_bytes(b"")
    (root / "notes.txt").write_text("not a photo")
    shutil.copy(SKIMAGE_DATA / "coffee.png", root / ".hidden" / "secret.png")
    return root




@pytest.fixture
def indexed(capsys, album, tiny_clip_dir) -> Path:
    data = run_json(capsys, "add", str(album), "--model", str(tiny_clip_dir))
    assert data["indexed"] == len(PHOTOS)
    return album


def test_add_indexes_photos_and_records_failures(capsys, album, tiny_clip_dir):
    data = run_json(capsys, "--model", str(tiny_clip_dir), "add", str(album))
    assert data["roots"] == [str(album.resolve())]
    assert data["indexed"] == len(PHOTOS)
    assert data["failed"] == 2  # the truncated jpg and the empty png; hidden + .txt ignored

    status = run_json(capsys, "status")
    assert status["roots"] == [str(album.resolve())]
    assert status["photos"] == len(PHOTOS)
    assert status["failed"] == 2
    assert status["model"] == str(tiny_clip_dir)  # the library remembers its model
    assert status["device"] == "cpu"

    code, out, _ = run(capsys, "status")
    assert code == 0
    assert "broken.jpg" in out
    assert "empty" in out


def test_search_json_shape_and_order(capsys, indexed):
    data = run_json(capsys, "search", "a cat", "--top", "3")
    assert list(data) == ["results"]
    results = data["results"]
    assert len(results) == 3
    assert all(set(r) == {"path", "score"} for r in results)
    scores = [r["score"] for r in results]
    assert scores == sorted(scores, reverse=True)
    assert all(Path(r["path"]).is_file() for r in results)
    # global options may stand before the command too, with the same answer
    assert run_json(capsys, "--json", "search", "a cat", "--top", "3") == data


def test_similar_finds_the_photo_itself_first(capsys, indexed):
    photo = indexed / "2021" / "summer" / "chelsea.png"
    results = run_json(capsys, "similar", str(photo), "--top", "4")["results"]
    assert results[0]["path"] == str(photo.resolve())
    assert results[0]["score"] == pytest.approx(1.0, abs=1e-3)
    assert len(results) == 4
    assert all(r["score"] < results[0]["score"] for r in results[1:])


def test_search_filters_by_folder(capsys, indexed):
    sub = indexed / "2021"
    results = run_json(capsys, "search", "photo", "--folder", str(sub), "--top", "50")["results"]
    assert results
    assert all(r["path"].startswith(str(sub.resolve()) + os.sep) for r in results)
    assert len(results) == len(list(sub.rglob("*.*")))


def test_second_index_reembeds_nothing(capsys, indexed):
    data = run_json(capsys, "index")
    assert data["indexed"] == 0
    assert data["unchanged"] == len(PHOTOS) + 2  # the two failed files are not retried
    assert data["removed"] == 0


def test_index_follows_renames_edits_and_deletions(capsys, indexed):
    before = {r["path"] for r in run_json(capsys, "search", "x", "--top", "50")["results"]}
    (indexed / "coffee.png").rename(indexed / "2021" / "morning-coffee.png")  # a move
    (indexed / "astronaut.png").unlink()  # a deletion
    shutil.copy(SKIMAGE_DATA / "horse.png", indexed / "horse.png")  # a new photo
    data = run_json(capsys, "index")
    assert (data["moved"], data["removed"], data["indexed"]) == (1, 1, 1)
    after = {r["path"] for r in run_json(capsys, "search", "x", "--top", "50")["results"]}
    assert after == (before - {str(indexed / "coffee.png"), str(indexed / "astronaut.png")}) | {
        str(indexed / "2021" / "morning-coffee.png"), str(indexed / "horse.png")}
    moved = run_json(capsys, "similar", str(indexed / "2021" / "morning-coffee.png"))
    assert moved["results"][0]["path"] == str(indexed / "2021" / "morning-coffee.png")


def test_remove_forgets_the_folder_but_not_the_files(capsys, indexed):
    code, _, err = run(capsys, "remove", str(indexed))
    assert code == 0, err
    assert run_json(capsys, "status")["photos"] == 0
    assert run_json(capsys, "search", "cat")["results"] == []
    assert (indexed / "astronaut.png").exists()


def test_deleted_vector_file_is_rebuilt_from_the_catalog(capsys, indexed):
    lib = Path(os.environ["PHOTOCLIP_LIBRARY"])
    for f in lib.glob("vectors.hnsw*"):
        f.unlink()
    photo = indexed / "astronaut.png"
    results = run_json(capsys, "similar", str(photo), "--top", "50")["results"]
    assert results[0]["path"] == str(photo)
    assert len(results) == len(PHOTOS)
    assert (lib / "vectors.hnsw").exists()


def test_errors_are_one_line_with_exit_codes(capsys, tmp_path, tiny_clip_dir):
    code, out, err = run(capsys, "add", str(tmp_path / "nope"), "--model", str(tiny_clip_dir))
    assert code == 1
    assert out == ""
    assert err.count("\n") == 1
    assert "is not a folder" in err

    code, _, err = run(capsys, "similar", str(tmp_path / "x.jpg"), "--model", str(tiny_clip_dir))
    assert code == 1
    assert "not in the library" in err

    code, _, err = run(capsys, "search", "-people", "--model", str(tiny_clip_dir))
    assert code == 2
    assert "Nothing to search for" in err

    code, _, err = run(capsys, "search", "cat", "--after", "last tuesday",
                       "--model", str(tiny_clip_dir))
    assert code == 2
    assert "YYYY-MM-DD" in err

    code, _, err = run(capsys, "index", "--model", str(tiny_clip_dir))
    assert code == 1
    assert "photoclip add FOLDER" in err


def test_missing_model_folder_names_the_fix(capsys, album, tmp_path):
    code, _, err = run(capsys, "add", str(album), "--model", str(tmp_path / "no-model"))
    assert code == 1
    assert err.count("\n") == 1
    assert "no-model" in err


def test_usage_errors_exit_2_without_traceback(tmp_path):
    env = {**os.environ, "PHOTOCLIP_LIBRARY": str(tmp_path / "lib")}
    for argv in (["frobnicate"], ["search"], ["search", "cat", "--top", "0"],
                 ["search", "cat", "--tpo", "3"]):
        proc = subprocess.run([sys.executable, "-m", "photoclip", *argv], env=env,
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2, argv
        assert "Traceback" not in proc.stderr
        assert proc.stdout == ""


def test_offline_hub_model_fails_in_one_line(tmp_path, album):
    env = {**os.environ, "PHOTOCLIP_LIBRARY": str(tmp_path / "lib"), "HF_HUB_OFFLINE": "1",
           "HF_HOME": str(tmp_path / "hf")}
    proc = subprocess.run(
        [sys.executable, "-m", "photoclip", "add", str(album), "--model",
         "openai/clip-vit-base-patch32"],
        env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert "--model PATH" in last


def test_unquoted_minus_term_is_part_of_the_query(capsys, indexed):
    quoted = run_json(capsys, "search", "photo -cat", "--top", "5")
    unquoted = run_json(capsys, "search", "photo", "-cat", "--top", "5")
    assert unquoted == quoted
    plain = run_json(capsys, "search", "photo", "--top", "5")
    assert [r["score"] for r in plain["results"]] != [r["score"] for r in quoted["results"]]


def test_similar_accepts_a_path_through_a_symlinked_folder(capsys, indexed, tmp_path):
    link = tmp_path / "link-to-pictures"
    link.symlink_to(indexed, target_is_directory=True)
    results = run_json(capsys, "similar", str(link / "coffee.png"), "--top", "1")["results"]
    assert results[0]["path"] == str(indexed / "coffee.png")
