"""A storm of what photo editors, sync clients and file managers do to a photo tree — atomic
saves through a hidden temp file, downloads through `.part` files, slow writes, a photo moved
over another, two photos swapping names, the trash and back, exports beside the original,
camera imports, touches — over photos the user tagged, put in albums and rated.

A generator of its own, unlike test_watcher_random's Disk and test_watcher_storm's Storm (plain
file operations and folder reshuffles): after quiet the library equals the disk, and no user
decision is lost while a photo with its exact content is still on disk."""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import pytest
from test_watcher_random import _hidden
from watcher_support import Running, jpeg, photo_id, rows, tag, write_photo

from photoclip.core.indexing import hash_path
from photoclip.core.library import Library


class EditorStorm:
    def __init__(self, root: Path, rng: random.Random) -> None:
        self.root = root
        self.rng = rng
        self.n = 50_000
        self.trash = root / ".Trash-1000"
        self.trashed: list[tuple[Path, Path]] = []  # (in the trash, where it came from)

    def _next(self) -> int:
        self.n += 1
        return self.n

    def files(self) -> list[Path]:
        return sorted(p for p in self.root.rglob("*") if p.suffix.lower() == ".jpg"
                      and p.is_file() and not _hidden(p, self.root))

    def dirs(self) -> list[Path]:
        return [self.root, *sorted(p for p in self.root.rglob("*")
                                   if p.is_dir() and not _hidden(p, self.root))]

    def _pick(self) -> Path | None:
        files = self.files()
        return self.rng.choice(files) if files else None

    def atomic_save(self) -> None:
        """An editor's "save": new bytes to a hidden temp file beside it, renamed over it."""
        if f := self._pick():
            tmp = f.with_name(f".{f.name}.{self._next()}.tmp")
            tmp.write_bytes(jpeg(self.n))
            os.replace(tmp, f)

    def download(self) -> None:
        """A sync client: `name.jpg.part` written in pieces, then renamed into place."""
        data = jpeg(self._next(), (80, 60))
        dest = self.rng.choice(self.dirs()) / f"dl{self.n}.jpg"
        part = dest.with_name(dest.name + ".part")
        with open(part, "wb") as fh:
            for i in range(0, len(data), len(data) // 3 + 1):
                fh.write(data[i:i + len(data) // 3 + 1])
                fh.flush()
                time.sleep(self.rng.uniform(0.0, 0.05))
        os.replace(part, dest)

    def slow_write(self) -> None:
        """A camera card copy in the open: the photo is visible half-written for a while."""
        data = jpeg(self._next(), (96, 72))
        dest = self.rng.choice(self.dirs()) / f"card{self.n}.jpg"
        with open(dest, "wb") as fh:
            half = len(data) // 2
            fh.write(data[:half])
            fh.flush()
            time.sleep(self.rng.uniform(0.05, 0.4))
            fh.write(data[half:])

    def move_over(self) -> None:
        files = self.files()
        if len(files) >= 2:
            a, b = self.rng.sample(files, 2)
            os.replace(a, b)

    def swap(self) -> None:
        files = self.files()
        if len(files) >= 2:
            a, b = self.rng.sample(files, 2)
            tmp = a.with_name(f"swap{self._next()}.jpg")
            a.rename(tmp)
            b.rename(a)
            tmp.rename(b)

    def to_trash(self) -> None:
        if f := self._pick():
            self.trash.mkdir(exist_ok=True)
            where = self.trash / f"{self._next()}-{f.name}"
            f.rename(where)
            self.trashed.append((where, f))

    def from_trash(self) -> None:
        if self.trashed:
            where, came_from = self.trashed.pop(self.rng.randrange(len(self.trashed)))
            if came_from.parent.is_dir() and not came_from.exists():
                where.rename(came_from)

    def export_edit(self) -> None:
        """An export beside the original (new bytes), sometimes replacing it."""
        if f := self._pick():
            from PIL import Image
            with Image.open(f) as img:
                small = img.resize((max(8, img.width * 9 // 10), max(8, img.height * 9 // 10)))
                small.save(f.with_name(f"{f.stem}-edit{self._next()}.jpg"), quality=70)
            if self.rng.random() < 0.5:
                f.unlink()

    def import_burst(self) -> None:
        folder = self.root / f"import{self._next()}"
        for _ in range(self.rng.randint(3, 8)):
            write_photo(folder / f"IMG_{self._next()}.jpg", self.n)

    def case_rename(self) -> None:
        if f := self._pick():
            f.rename(f.with_name(f"{f.stem.upper()}{self._next()}.JPG"))

    def touch(self) -> None:
        if f := self._pick():
            os.utime(f, (time.time(), time.time() + self.rng.randint(1, 100)))

    OPS = (("atomic_save", 2), ("download", 2), ("slow_write", 1), ("move_over", 2),
           ("swap", 2), ("to_trash", 2), ("from_trash", 2), ("export_edit", 2),
           ("import_burst", 0.5), ("case_rename", 1), ("touch", 2))

    def random_op(self) -> str:
        name = self.rng.choices([n for n, _ in self.OPS], weights=[w for _, w in self.OPS])[0]
        getattr(self, name)()
        return name


def _decisions_by_content(lib: Library) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for digest, what in rows(
            lib, "SELECT p.hash, 'tag:' || l.name FROM tags t JOIN photos p ON p.id = t.photo_id "
                 "JOIN labels l ON l.id = t.label_id WHERE t.source = 'user' "
                 "UNION SELECT p.hash, 'album:' || a.name FROM album_photos ap "
                 "JOIN photos p ON p.id = ap.photo_id JOIN albums a ON a.id = ap.album_id "
                 "UNION SELECT p.hash, 'stars:' || p.rating FROM photos p WHERE p.rating > 0"):
        found.setdefault(digest, set()).add(what)
    return found


@pytest.mark.parametrize(("mode", "seed"), [("native", 21), ("polling", 22)])
def test_an_editor_and_sync_storm_loses_no_decision(tmp_path, tiny_encoder, mode, seed):
    root = (tmp_path / "Pictures").resolve()
    for n in range(12):
        write_photo(root / f"roll{n % 3}" / f"IMG_{n}.jpg", n)
    lib = Library(tmp_path / "lib", encoder=tiny_encoder)
    lib.settings.batch_size = 8
    try:
        lib.add_roots([str(root)])
        list(lib.indexer().run())
        lib.albums.create("Best")
        decided: dict[str, set[str]] = {}  # content hash: its decisions
        for n in range(0, 12, 2):
            path = root / f"roll{n % 3}" / f"IMG_{n}.jpg"
            pid = photo_id(lib, path)
            assert pid is not None
            if n % 4 == 0:
                tag(lib, path, f"label{n}")
                decided[hash_path(str(path))] = {f"tag:label{n}"}
            else:
                lib.albums.add("Best", [pid])
                lib.albums.rate([pid], 3)
                decided[hash_path(str(path))] = {"album:Best", "stars:3"}
        storm = EditorStorm(root, random.Random(seed))
        with Running(lib, polling=(mode == "polling")) as w:
            for _ in range(120):
                storm.random_op()
                if storm.rng.random() < 0.1:
                    time.sleep(storm.rng.uniform(0.05, 0.3))
            w.settle(timeout=120)
        on_disk = {hash_path(str(p)) for p in storm.files()}
        kept = _decisions_by_content(lib)
        lost = {h: what - kept.get(h, set()) for h, what in decided.items()
                if h in on_disk and what - kept.get(h, set())}
        assert lost == {}
        assert lib.catalog.count_photos() == len(storm.files())
    finally:
        lib.close()
