"""`photoclip watch` as a new user tries it: running in one terminal while they copy a folder
of photos in, rename it and delete some; `status` and `search` follow, tags survive the rename."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import skimage

from photoclip.cli import main

SKIMAGE_DATA = Path(skimage.__file__).parent / "data"
PHOTOS = ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png"]


def wait_until(pred, timeout: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class Watch:
    """`photoclip watch` in its own process, its stdout and stderr read line by line."""

    def __init__(self, *argv: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "photoclip", "watch", *argv],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        self.out: list[str] = []
        self.err: list[str] = []
        self._readers = [
            threading.Thread(target=self._read, args=(self.proc.stdout, self.out), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stderr, self.err), daemon=True),
        ]
        for t in self._readers:
            t.start()

    @staticmethod
    def _read(stream, into: list[str]) -> None:
        for line in stream:
            into.append(line.rstrip("\n"))

    def total(self, what: str) -> int:
        """Sum of "N <what>" over every batch line: one copy may arrive in several batches
        when the machine is busy, so the count, not the batching, is what a test can expect."""
        return sum(int(m) for line in list(self.err)
                   for m in re.findall(rf"(\d+) {what}\b", line))

    def saw(self, text: str, lines: list[str] | None = None) -> bool:
        return any(text in line for line in (self.err if lines is None else lines))

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGINT)  # Ctrl-C
        code = self.proc.wait(timeout=60)
        for t in self._readers:
            t.join(timeout=10)
        self.proc.stdout.close()
        self.proc.stderr.close()
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
        for stream in (self.proc.stdout, self.proc.stderr):
            if not stream.closed:
                stream.close()


def cli_json(capsys, *argv: str) -> dict:
    code = main([*argv, "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


def top_similar(capsys, path: Path) -> str | None:
    """The best match for a photo, or None while the library does not know the path yet."""
    code = main(["similar", str(path), "--top", "1", "--json"])
    out, _ = capsys.readouterr()
    return json.loads(out)["results"][0]["path"] if code == 0 else None


def user_tag(path: Path, label: str) -> None:
    """A user tag written straight into the catalog (the v3 tables)."""
    db = Path(os.environ["PHOTOCLIP_LIBRARY"]) / "catalog.sqlite3"
    with sqlite3.connect(db) as c:
        c.execute("INSERT INTO label_sets(name) VALUES ('mine')")
        c.execute("INSERT INTO labels(set_id, name) VALUES (1, ?)", (label,))
        c.execute("INSERT INTO tags(photo_id, label_id, source, accepted) "
                  "SELECT id, 1, 'user', 1 FROM photos WHERE path = ?", (str(path),))
    c.close()


def user_tags(path: Path) -> set[str]:
    db = Path(os.environ["PHOTOCLIP_LIBRARY"]) / "catalog.sqlite3"
    with sqlite3.connect(db) as c:
        found = c.execute("SELECT l.name FROM tags t JOIN labels l ON l.id = t.label_id "
                          "JOIN photos p ON p.id = t.photo_id WHERE p.path = ?",
                          (str(path),)).fetchall()
    c.close()
    return {name for (name,) in found}


@pytest.fixture
def library(capsys, tmp_path, tiny_clip_dir) -> Path:
    pictures = (tmp_path / "Pictures").resolve()
    pictures.mkdir()
    shutil.copy(SKIMAGE_DATA / "camera.png", pictures / "camera.png")
    assert cli_json(capsys, "add", str(pictures), "--model", str(tiny_clip_dir))["indexed"] == 1
    assert (Path(os.environ["PHOTOCLIP_LIBRARY"]) / "catalog.sqlite3").exists()
    return pictures


@pytest.mark.slow
def test_watch_follows_a_copied_renamed_and_pruned_folder(capsys, library, tmp_path):
    watch = Watch()
    try:
        wait_until(lambda: watch.saw("watching 1 folder"), 60, "watch to start")
        assert watch.saw("Ctrl-C to stop")

        trip = tmp_path / "camera-card"  # the user copies a folder of photos in
        trip.mkdir()
        for name in PHOTOS:
            shutil.copy(SKIMAGE_DATA / name, trip / name)
        shutil.copytree(trip, library / "Trip")
        wait_until(lambda: cli_json(capsys, "status")["photos"] == 6, 30, "the copy to be seen")
        wait_until(lambda: watch.total("indexed") >= 5, 30, "the batch lines")
        assert watch.total("indexed") == 5  # the copy's photos, in one batch or several

        user_tag(library / "Trip" / "chelsea.png", "cat")
        (library / "Trip").rename(library / "Italy 2024")  # renames it
        renamed = library / "Italy 2024" / "chelsea.png"
        wait_until(lambda: top_similar(capsys, renamed) == str(renamed), 30,
                   "search to find the renamed photo")
        assert user_tags(renamed) == {"cat"}
        wait_until(lambda: watch.total("moved") >= 5, 30, "the move lines")
        assert watch.total("moved") == 5
        assert watch.total("indexed") == 5  # moved, not re-embedded

        for name in ("coffee.png", "rocket.jpg"):  # deletes some
            (library / "Italy 2024" / name).unlink()
        wait_until(lambda: cli_json(capsys, "status")["photos"] == 4, 30, "deletions to show")
        paths = {r["path"] for r in cli_json(capsys, "search", "a photo", "--top", "10")
                 ["results"]}
        assert paths == {str(library / "camera.png"),
                         *(str(library / "Italy 2024" / n) for n in
                           ("astronaut.png", "chelsea.png", "motorcycle_left.png"))}

        assert watch.stop() == 0
        assert watch.saw("stopped watching")
    finally:
        watch.kill()


@pytest.mark.slow
def test_watch_json_prints_one_object_per_batch(capsys, library):
    watch = Watch("--json")
    try:
        wait_until(lambda: watch.out, 60, "the first line")
        first = json.loads(watch.out[0])
        assert first["event"] == "watching"
        assert first["roots"] == [str(library)]
        shutil.copy(SKIMAGE_DATA / "coffee.png", library / "coffee.png")
        wait_until(lambda: any(json.loads(line).get("indexed") == 1 for line in watch.out),
                   30, "a batch line")
        assert watch.stop() == 0
        for line in watch.out:
            json.loads(line)  # stdout holds JSON and nothing else
        assert not watch.saw("stopped watching")
    finally:
        watch.kill()


def test_watch_without_folders_says_what_to_do(capsys):
    code = main(["watch"])
    _, err = capsys.readouterr()
    assert code == 1
    assert "photoclip add FOLDER" in err
