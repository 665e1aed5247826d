"""A full disk, a read-only library, a library on a network file system.

Where this machine lets the test mount a small tmpfs (root in a container that allows it), the
disk is really full or really read-only; the same behaviour is also checked everywhere with the
fault simulated (SQLite's max_page_count, a patched fsync, the read-only detection forced).
"""

from __future__ import annotations

import errno
import json
import logging
import os
import sqlite3
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from photoclip.cli import main
from photoclip.config import Settings
from photoclip.core import storage
from photoclip.core.catalog import Catalog, database
from photoclip.core.errors import DiskFullError, PhotoclipError, ReadOnlyLibraryError
from photoclip.core.library import Library
from photoclip.core.storage import (
    fstype_from_mountinfo,
    is_network_filesystem,
    parse_mountinfo,
    remove_stale_temps,
)
from photoclip.core.tagging import LabelSetSpec, LabelSpec, SidecarWriter, TagStore
from photoclip.core.tagging.xmp import read_keywords
from photoclip.core.types import PhotoRecord
from photoclip.core.vectors import VectorIndex

FULL = "the disk holding the library"
FULL_TAIL = "is full: free space or move the library with --library"


def temps(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if ".tmp" in p.name]


def unit(rng: np.random.Generator, n: int, dim: int = 8) -> np.ndarray:
    v = rng.normal(size=(n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("photoclip: error:")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


# -- which file system ------------------------------------------------------------------------

MOUNTINFO = r"""22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw
40 27 259:3 / /home rw,relatime shared:2 - btrfs /dev/nvme0n1p3 rw,subvol=/home
51 40 0:45 / /home/ann/nas rw,relatime shared:30 - nfs4 server:/export rw,vers=4.2
52 51 8:17 / /home/ann/nas/local rw - xfs /dev/sdb1 rw
60 27 0:50 / /media/My\040Photos rw,nosuid,nodev,relatime shared:40 - fuse.sshfs ann@h:/p rw
61 27 0:51 / /mnt/share rw master:7 propagate_from:2 - cifs //nas/share rw
62 27 8:33 / /mnt/over rw - ext4 /dev/sdc1 rw
63 27 0:53 / /mnt/over rw - nfs nas:/x rw
64 27 0:54 / /mnt/broken line without a separator
"""


@pytest.mark.parametrize(("path", "fstype"), [
    ("/", "ext4"),
    ("/var/lib/photoclip", "ext4"),
    ("/home/ann/Pictures", "btrfs"),
    ("/home/ann/nas", "nfs4"),
    ("/home/ann/nas/photoclip", "nfs4"),
    ("/home/ann/nas/local/photoclip", "xfs"),  # a local disk mounted inside the share
    ("/home/ann/nasty/photoclip", "btrfs"),  # a prefix of a mount point is not inside it
    ("/media/My Photos/library", "fuse.sshfs"),  # \040 is a space
    ("/mnt/share/x", "cifs"),
    ("/mnt/over/x", "nfs"),  # mounted over an earlier mount: the last one is what is seen
])
def test_the_file_system_of_a_path_is_read_from_mountinfo(path: str, fstype: str) -> None:
    assert fstype_from_mountinfo(path, MOUNTINFO) == fstype


def test_mountinfo_lines_without_a_separator_are_skipped() -> None:
    points = [p for p, _ in parse_mountinfo(MOUNTINFO)]
    assert "/mnt/broken" not in points
    assert "/media/My Photos" in points


@pytest.mark.parametrize(("fstype", "network"), [
    ("nfs", True), ("nfs4", True), ("cifs", True), ("smb3", True), ("smbfs", True),
    ("fuse.sshfs", True), ("fuse.rclone", True), ("fuse", True), ("9p", True),
    ("remote", True), ("smbfs (remote)", True),
    ("ext4", False), ("btrfs", False), ("xfs", False), ("tmpfs", False), ("apfs", False),
    ("zfs", False), ("overlay", False), ("ntfs3", False),
])
def test_network_and_fuse_file_systems_are_recognised(fstype: str, network: bool) -> None:
    assert is_network_filesystem(fstype) is network


def test_this_machines_file_system_can_be_told(tmp_path: Path) -> None:
    if not Path("/proc/self/mountinfo").exists():
        pytest.skip("no /proc/self/mountinfo (not Linux)")
    assert storage.filesystem_type(tmp_path)


def test_a_catalog_on_a_network_file_system_does_not_use_wal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "catalog.sqlite3"
    with Catalog(db) as cat:  # made on a local disk: WAL
        assert cat.journal_mode == "wal"
        cat.add_root("/photos")
    monkeypatch.setattr(database, "network_filesystem", lambda path: "nfs4")
    with caplog.at_level(logging.INFO, logger="photoclip.core.catalog.database"), \
            Catalog(db) as cat:  # the same library, now reached over NFS
        assert cat.journal_mode == "delete"
        assert cat._conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        cat.add_root("/more")
        assert not Path(f"{db}-wal").exists()
        assert [r.path for r in cat.roots()] == ["/more", "/photos"]
    assert any("nfs4" in r.message and "journal_mode=DELETE" in r.message
               for r in caplog.records)


# -- full disk, simulated ---------------------------------------------------------------------


def _cap_growth(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every catalog opened from now on cannot grow by a page: a full disk, as SQLite sees it."""
    connect = database.Database._connect

    def capped(self: Catalog) -> sqlite3.Connection:
        conn = connect(self)
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {max(pages, 1)}")
        return conn

    monkeypatch.setattr(database.Database, "_connect", capped)


def test_a_full_disk_refuses_the_write_keeps_the_catalog_whole_and_readable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "catalog.sqlite3"
    with Catalog(db) as cat:
        root = cat.add_root("/photos")
        cat.upsert_photo(PhotoRecord(root.id, "/photos/a.jpg", 1, 1, "a"))
    _cap_growth(monkeypatch)
    with Catalog(db) as cat:
        def one_big_batch() -> None:  # needs more room than there is
            with cat.transaction():
                for i in range(500):
                    cat.upsert_photo(PhotoRecord(root.id, f"/photos/{i:04d}{'x' * 200}.jpg",
                                                 i, i, f"h{i}"))

        with pytest.raises(DiskFullError) as err:
            one_big_batch()
        assert FULL in str(err.value)
        assert FULL_TAIL in str(err.value)
        assert cat.count_photos() == 1  # none of the batch, all of before
        assert cat.photo_by_path("/photos/a.jpg") is not None
        with pytest.raises(DiskFullError):  # and again, as long as the disk is full
            cat.put_embeddings("m", [1], np.ones((1, 512), dtype=np.float32))
        assert cat._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    monkeypatch.undo()
    with Catalog(db) as cat:  # space freed: writes work again
        cat.upsert_photo(PhotoRecord(root.id, "/photos/b.jpg", 1, 1, "b"))
        assert cat.count_photos() == 2


def test_the_cli_says_the_disk_is_full_in_one_line_and_still_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    lib = ["--library", str(tmp_path / "lib")]
    assert main([*lib, "labels", "add", "pets", "--labels", "cat,dog"]) == 0
    capsys.readouterr()
    _cap_growth(monkeypatch)
    many = ",".join(f"label number {i} {'y' * 60}" for i in range(300))
    assert main([*lib, "labels", "add", "more", "--labels", many]) == 1
    line = one_error_line(capsys.readouterr().err)
    assert FULL in line
    assert FULL_TAIL in line
    assert main([*lib, "labels", "list", "--json"]) == 0
    assert [s["name"] for s in json.loads(capsys.readouterr().out)["sets"]] == ["pets"]


def test_a_vector_save_on_a_full_disk_leaves_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(0)
    path = tmp_path / "vectors.hnsw"
    index = VectorIndex(path, 8, "m")
    index.add(np.arange(50), unit(rng, 50))
    index.save()
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    index.add(np.arange(50, 80), unit(rng, 30))

    # hnswlib writes with an unchecked stream: on a full disk its file just comes out short.
    class ShortWrite:
        def __init__(self, real: Any) -> None:
            self.real = real

        def __getattr__(self, name: str) -> Any:
            return getattr(self.real, name)

        def save_index(self, name: str) -> None:
            self.real.save_index(name)
            os.truncate(name, os.path.getsize(name) // 2)

    real = index._index
    index._index = ShortWrite(real)
    with pytest.raises(DiskFullError):
        index.save()
    index._index = real
    monkeypatch.setattr("photoclip.core.vectors.free_bytes", lambda path: 1000)
    with pytest.raises(DiskFullError):  # not even started: there is not the room
        index.save()
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    assert index.dirty
    assert len(index) == 80
    monkeypatch.undo()
    index.save()
    assert len(VectorIndex(path, 8, "m")) == 80


def _no_room(*_: object) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


def test_sidecars_on_a_full_disk_stop_the_job_with_none_half_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    with Catalog(tmp_path / "catalog.sqlite3") as cat:
        root = cat.add_root(str(photos))
        store = TagStore(cat)
        ls, _ = store.save_set(LabelSetSpec("pets", [LabelSpec("cat")]))
        for i in range(3):
            pid = cat.upsert_photo(PhotoRecord(root.id, str(photos / f"{i}.jpg"), 1, 1, f"h{i}"))
            store.set_user_tag(pid, ls.labels[0].id)
        (photos / "0.jpg.xmp").write_bytes(b"<x:xmpmeta xmlns:x='adobe:ns:meta/'/>")
        before = (photos / "0.jpg.xmp").read_bytes()
        monkeypatch.setattr(os, "fsync", _no_room)
        writer = SidecarWriter(cat)
        with pytest.raises(PhotoclipError, match=f"the disk holding {photos} is full"):
            list(writer.run())
        monkeypatch.undo()
        assert (photos / "0.jpg.xmp").read_bytes() == before
        assert sorted(p.name for p in photos.iterdir()) == ["0.jpg.xmp"]  # no temp, no half
        list(writer.run())
        assert read_keywords(photos / "2.jpg.xmp")[0] == ["cat"]


def test_settings_on_a_full_disk_keep_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "lib" / "settings.json"
    Settings(batch_size=4).save(path)
    monkeypatch.setattr(os, "fsync", _no_room)
    with pytest.raises(OSError, match="No space"):
        Settings(batch_size=8).save(path)
    assert Settings.load(path).batch_size == 4
    assert sorted(p.name for p in path.parent.iterdir()) == ["settings.json"]
    # Through the CLI (`xmp --style` saves the settings): one line naming the fix.
    assert main(["--library", str(path.parent), "xmp", "--style", "photo.xmp"]) == 1
    line = one_error_line(capsys.readouterr().err)
    assert FULL in line
    assert FULL_TAIL in line


def test_temp_files_of_a_killed_writer_are_recognised(tmp_path: Path) -> None:
    dead = _finished_pid()
    (tmp_path / f".a.jpg.xmp.{dead}.k3j4h5g6.tmp").write_bytes(b"<x")
    (tmp_path / f".b.jpg.xmp.{os.getpid()}.abcdefgh.tmp").write_bytes(b"<x")  # in flight
    (tmp_path / ".notes.txt").write_bytes(b"the user's")
    removed = remove_stale_temps(tmp_path, lambda target: target.endswith(".xmp"))
    assert [p.name for p in removed] == [f".a.jpg.xmp.{dead}.k3j4h5g6.tmp"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        f".b.jpg.xmp.{os.getpid()}.abcdefgh.tmp", ".notes.txt"]


def _finished_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


# -- read-only, simulated ---------------------------------------------------------------------


def test_a_read_only_catalog_opens_for_reading_and_refuses_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "catalog.sqlite3"
    with Catalog(db, backup_dir=tmp_path / "backups") as cat:
        cat.add_root("/photos")
    before = db.read_bytes()
    monkeypatch.setattr(database, "_writable", lambda path: False)  # root ignores chmod
    with caplog.at_level(logging.WARNING), Catalog(db, backup_dir=tmp_path / "b") as cat:
        assert cat.read_only
        assert [r.path for r in cat.roots()] == ["/photos"]
        with pytest.raises(ReadOnlyLibraryError, match="read-only"):
            cat.add_root("/more")
        assert "read-only" in cat.notices[0]
    assert any("read-only" in r.message for r in caplog.records)
    assert db.read_bytes() == before
    assert not (tmp_path / "b").exists()  # no backup attempted


# -- a real small disk, where this machine allows mounting one --------------------------------


def _mount(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mount", *args], capture_output=True, text=True, timeout=30)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MB tmpfs, unmounted after the test; skipped where mounting is not allowed."""
    point = tmp_path / f"disk-{uuid.uuid4().hex[:6]}"
    point.mkdir()
    try:
        done = _mount(["-t", "tmpfs", "-o", "size=4m", "tmpfs", str(point)])
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"cannot run mount here: {exc}")
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}); the simulated "
                    "tests cover the same behaviour")
    try:
        yield point
    finally:
        subprocess.run(["umount", "-l", str(point)], capture_output=True, timeout=30)


def _fill(disk: Path) -> Path:
    """Write a file until the disk says no."""
    filler = disk / "filler"

    def write_forever() -> None:
        with open(filler, "wb") as f:
            while True:
                f.write(b"\0" * 65536)
                f.flush()

    with pytest.raises(OSError, match="No space left"):
        write_forever()
    return filler


def test_a_really_full_disk(small_disk: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lib = small_disk / "lib"
    args = ["--library", str(lib)]
    assert main([*args, "labels", "add", "pets", "--labels", "cat,dog"]) == 0
    rng = np.random.default_rng(0)
    vecs = VectorIndex(lib / "vectors.hnsw", 8, "m")
    vecs.add(np.arange(10), unit(rng, 10))
    vecs.save()
    capsys.readouterr()
    with Catalog(lib / "catalog.sqlite3") as open_before:  # running when the disk fills
        filler = _fill(small_disk)
        with pytest.raises(DiskFullError):
            TagStore(open_before).save_set(LabelSetSpec("birds", [LabelSpec("owl")]))
        assert [s.name for s in TagStore(open_before).label_sets()] == ["pets"]
        vecs.add(np.arange(10, 2000), unit(rng, 1990))
        with pytest.raises(DiskFullError):
            vecs.save()
        # Another process while this one runs: it opens, reads, and is refused the write.
        assert main([*args, "labels", "add", "birds", "--labels", "owl"]) == 1
        line = one_error_line(capsys.readouterr().err)
        assert FULL in line
        assert FULL_TAIL in line

    # A library closed cleanly (no -wal, no -shm), then the disk fills: at the next start SQLite
    # cannot even make WAL's shared-memory file, so the catalog opens read-only, says why once,
    # and refuses writes with the same message.
    filler.unlink()
    with Catalog(lib / "catalog.sqlite3"):
        pass
    assert sorted(p.name for p in lib.glob("catalog*")) == ["catalog.sqlite3"]
    filler = _fill(small_disk)
    assert main([*args, "labels", "list", "--json"]) == 0
    out, err = capsys.readouterr()
    assert [s["name"] for s in json.loads(out)["sets"]] == ["pets"]
    assert err.count("photoclip: note:") == 1
    assert "is full" in err
    assert main([*args, "labels", "add", "birds", "--labels", "owl"]) == 1
    line = one_error_line(capsys.readouterr().err)
    assert FULL in line
    assert FULL_TAIL in line
    assert temps(small_disk) == []
    assert len(VectorIndex(lib / "vectors.hnsw", 8, "m")) == 10  # the old file, whole

    filler.unlink()  # space freed: everything works again
    assert main([*args, "labels", "add", "birds", "--labels", "owl"]) == 0
    conn = sqlite3.connect(lib / "catalog.sqlite3")
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


def _photos(folder: Path, n: int) -> None:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(
            folder / f"p{i}.jpg")


@pytest.mark.slow
def test_a_really_read_only_library_searches_and_refuses_changes(
    small_disk: Path, tmp_path: Path, tiny_encoder, capsys: pytest.CaptureFixture[str]
) -> None:
    lib, photos = small_disk / "lib", tmp_path / "photos"
    _photos(photos, 5)
    with Library(lib, encoder=tiny_encoder) as library:
        library.add_roots([str(photos)])
        list(library.indexer().run())
    done = _mount(["-o", "remount,ro", str(small_disk)])
    if done.returncode != 0:
        pytest.skip(f"cannot remount read-only here: {done.stderr.strip()}")

    with Library(lib, encoder=tiny_encoder) as library:
        assert library.catalog.read_only
        assert any("read-only" in n for n in library.notices)
        hits = library.searcher().search("a photo", top=10, cutoff=None)
        assert len(hits) == 5
        with pytest.raises(ReadOnlyLibraryError):
            library.add_roots([str(tmp_path)])
        with pytest.raises(ReadOnlyLibraryError):
            list(library.indexer().run())
    assert main(["--library", str(lib), "labels", "add", "x", "--labels", "a"]) == 1
    line = one_error_line(capsys.readouterr().err)
    assert "read-only" in line
    assert main(["--library", str(lib), "status", "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["photos"] == 5
    assert err.count("photoclip: note:") == 1
    assert "read-only" in err
