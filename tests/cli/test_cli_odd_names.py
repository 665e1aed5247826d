"""`status` with odd files on disk: special files the scan passed over are counted by reason,
and a file name with a newline or an escape sequence prints as one escaped line."""

from __future__ import annotations

import os
import shutil
from collections import Counter
from pathlib import Path

import pytest
import skimage
from cli_support import run, run_json

from photoclip.cli import output
from photoclip.core.indexing.report import describe_skipped, record_skipped
from photoclip.core.indexing.scan import walk_images
from photoclip.core.library import Library

DATA = Path(skimage.__file__).parent / "data"
POSIX = os.name == "posix"


def _special_files(root: Path) -> None:
    os.mkfifo(root / "pipe.jpg")
    os.mkfifo(root / "pipe2.png")
    (root / "null.jpg").symlink_to("/dev/null")  # a symlink to a device
    (root / "loop.jpg").symlink_to("loop.jpg")  # a link to itself: ELOOP


@pytest.mark.skipif(not POSIX, reason="FIFOs and /dev/null are POSIX")
def test_the_walk_counts_what_it_passes_over_by_reason(tmp_path: Path) -> None:
    _special_files(tmp_path)
    (tmp_path / "gone.jpg").symlink_to(tmp_path / "nowhere.jpg")
    (tmp_path / "notes.fifo").mkdir()  # not named like a photo: not counted
    shutil.copy(DATA / "rocket.jpg", tmp_path / "ok.jpg")
    skipped: Counter[str] = Counter()
    found = [p for p, _, _ in walk_images(str(tmp_path), (), skipped)]
    assert found == [str(tmp_path / "ok.jpg")]
    assert skipped == {"FIFO": 2, "device": 1, "link loop": 1, "broken link": 1}
    assert describe_skipped(skipped) == ("3 special files (FIFO, device), 1 broken link, "
                                         "1 link loop")


@pytest.mark.skipif(not POSIX, reason="FIFOs and /dev/null are POSIX")
def test_status_says_what_the_scan_skipped(tmp_path: Path, capsys, tiny_clip_dir) -> None:
    root = tmp_path / "photos"
    root.mkdir()
    shutil.copy(DATA / "rocket.jpg", root / "ok.jpg")
    _special_files(root)
    data = run_json(capsys, "add", str(root), "--model", str(tiny_clip_dir))
    assert data["indexed"] == 1

    status = run_json(capsys, "status")
    assert status["skipped"] == {"FIFO": 2, "device": 1, "link loop": 1}
    assert status["failed"] == 0
    assert status["failures"] == []  # passed over, not failed

    code, out, _ = run(capsys, "status")
    assert code == 0
    assert "skipped: 3 special files (FIFO, device), 1 link loop" in out

    # Gone from disk: the next scan says so.
    for name in ("pipe.jpg", "pipe2.png", "null.jpg"):
        (root / name).unlink()
    run_json(capsys, "index")
    assert run_json(capsys, "status")["skipped"] == {"link loop": 1}


def test_status_of_a_removed_folder_forgets_its_skipped_files(tmp_path: Path, capsys) -> None:
    root = tmp_path / "photos"
    root.mkdir()
    lib = Library(None)
    (added,) = lib.add_roots([str(root)])
    record_skipped(lib.catalog, added.id, {"FIFO": 2})
    lib.close()
    assert run_json(capsys, "status")["skipped"] == {"FIFO": 2}
    run_json(capsys, "remove", str(root))
    assert run_json(capsys, "status")["skipped"] == {}


@pytest.mark.skipif(not POSIX, reason="a newline in a file name is POSIX")
def test_a_newline_in_a_failed_files_name_prints_as_one_line(tmp_path: Path, capsys,
                                                             tiny_clip_dir) -> None:
    root = tmp_path / "photos"
    root.mkdir()
    (root / "two\nlines.jpg").write_bytes(b"")
    (root / "esc\x1b[2Jape.png").write_bytes(b"")
    run_json(capsys, "add", str(root), "--model", str(tiny_clip_dir))
    code, out, _ = run(capsys, "status")
    assert code == 0
    assert any(line.strip() == f"{root}/two\\x0alines.jpg" for line in out.splitlines())
    assert "\x1b" not in out
    assert "esc\\x1b[2Jape.png" in out
    assert not any(line.startswith("lines.jpg") for line in out.splitlines())
    # JSON keeps the real name
    status = run_json(capsys, "status")
    assert str(root / "two\nlines.jpg") in status["failures"][0]["examples"]


def test_printable_escapes_controls_and_keeps_the_rest() -> None:
    assert output.printable("a\nb\x07c\x1b[0m\x9b") == "a\\x0ab\\x07c\\x1b[0m\\x9b"
    assert output.printable("caf\u00e9 \U0001f431") == "caf\u00e9 \U0001f431"
    assert output.printable("bad\udcff") == "bad\\udcff"


@pytest.mark.skipif(not POSIX, reason="a newline in a file name is POSIX")
def test_a_newline_in_a_file_name_keeps_a_search_result_on_one_line(
        tmp_path: Path, capsys, tiny_clip_dir) -> None:
    root = tmp_path / "photos"
    root.mkdir()
    shutil.copy(DATA / "rocket.jpg", root / "two\nlines.jpg")
    shutil.copy(DATA / "coffee.png", root / "plain.png")
    lib = str(tmp_path / "lib")
    assert run_json(capsys, "--library", lib, "add", str(root), "--model",
                    str(tiny_clip_dir))["indexed"] == 2
    for query in ("type:jpg", "rocket"):  # filters alone (bare paths), and scored results
        code, out, err = run(capsys, "--library", lib, "search", query, "--top", "2")
        assert code == 0, err
        lines = out.splitlines()
        assert any("two\\x0alines.jpg" in line for line in lines), lines
        assert not any(line == "lines.jpg" or line.endswith("/two") for line in lines)
