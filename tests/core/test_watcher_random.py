"""200 random file operations at full speed, then quiet: the library must equal the disk."""

from __future__ import annotations

import random
import shutil
import time
from pathlib import Path

import pytest
from watcher_support import Running, jpeg, write_photo

from photoclip.core.library import Library


class Disk:
    """Random but valid operations on a photo tree (never on hidden or library files)."""

    def __init__(self, root: Path, rng: random.Random) -> None:
        self.root = root
        self.rng = rng
        self.n = 10_000  # content and name counter: every new photo is distinct

    def _next(self) -> int:
        self.n += 1
        return self.n

    def files(self) -> list[Path]:
        return sorted(p for p in self.root.rglob("*.jpg") if not _hidden(p, self.root))

    def dirs(self, with_root: bool = True) -> list[Path]:
        found = sorted(p for p in self.root.rglob("*") if p.is_dir() and not _hidden(p, self.root))
        return [self.root, *found] if with_root else found

    def create(self) -> None:
        write_photo(self.rng.choice(self.dirs()) / f"new{self._next()}.jpg", self.n)

    def modify(self) -> None:
        if files := self.files():
            self.rng.choice(files).write_bytes(jpeg(self._next()))

    def delete(self) -> None:
        if files := self.files():
            self.rng.choice(files).unlink()

    def rename(self) -> None:
        if files := self.files():
            f = self.rng.choice(files)
            f.rename(f.with_name(f"ren{self._next()}.jpg"))

    def move(self) -> None:
        if files := self.files():
            f = self.rng.choice(files)
            shutil.move(f, self.rng.choice(self.dirs()) / f"mv{self._next()}.jpg")

    def copy(self) -> None:
        if files := self.files():
            shutil.copy2(self.rng.choice(files),
                         self.rng.choice(self.dirs()) / f"cp{self._next()}.jpg")

    def mkdir(self) -> None:
        (self.rng.choice(self.dirs()) / f"dir{self._next()}").mkdir()

    def rename_dir(self) -> None:
        if dirs := self.dirs(with_root=False):
            d = self.rng.choice(dirs)
            d.rename(d.with_name(f"rdir{self._next()}"))

    def move_dir(self) -> None:
        dirs = self.dirs(with_root=False)
        if not dirs:
            return
        d = self.rng.choice(dirs)
        targets = [t for t in self.dirs() if t != d and d not in t.parents and t != d.parent]
        if targets:
            shutil.move(d, self.rng.choice(targets) / f"mdir{self._next()}")

    def delete_dir(self) -> None:
        if dirs := self.dirs(with_root=False):
            shutil.rmtree(self.rng.choice(dirs))

    def junk(self) -> None:
        d = self.rng.choice(self.dirs())
        kind = self.rng.randrange(3)
        if kind == 0:
            (d / f"note{self._next()}.txt").write_text("not a photo")
        elif kind == 1:
            write_photo(d / f".hidden{self._next()}.jpg", self.n)
        elif files := self.files():
            Path(f"{self.rng.choice(files)}.xmp").write_text("<x:xmpmeta/>")

    # relative weights: mostly photo traffic, some folder reshuffles, few whole-tree deletions
    OPS = (("create", 8), ("modify", 3), ("delete", 3), ("rename", 3), ("move", 3),
           ("copy", 2), ("mkdir", 2), ("rename_dir", 1), ("move_dir", 1), ("delete_dir", 0.3),
           ("junk", 1))

    def random_op(self) -> str:
        names = [n for n, _ in self.OPS]
        name = self.rng.choices(names, weights=[w for _, w in self.OPS])[0]
        getattr(self, name)()
        return name


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


@pytest.mark.slow
@pytest.mark.parametrize(("mode", "seed"), [("native", 4), ("polling", 7)])
def test_200_random_operations_then_quiet(tmp_path, tiny_encoder, mode, seed):
    root = (tmp_path / "Pictures").resolve()
    for n in range(12):
        write_photo(root / f"album{n % 3}" / f"start{n}.jpg", n)
    lib = Library(tmp_path / "lib", encoder=tiny_encoder)
    lib.settings.batch_size = 8
    try:
        lib.add_roots([str(root)])
        list(lib.indexer().run())
        disk = Disk(root, random.Random(seed))
        with Running(lib, polling=(mode == "polling")) as w:
            for _ in range(200):
                disk.random_op()
                if disk.rng.random() < 0.05:
                    # paces the user: some operations land while a batch is being indexed
                    time.sleep(disk.rng.uniform(0.05, 0.3))
            w.settle(timeout=90)
        assert lib.catalog.count_photos() == len(disk.files())
    finally:
        lib.close()
