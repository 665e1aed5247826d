"""Photos for the Photos page's tests, written straight into the catalog (no files, no model)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from photoclip.core.library import Library
from photoclip.core.types import PhotoRecord


def add_photos(lib: Library, root: Path, count: int) -> list[int]:
    """`count` photos IMG_000000.jpg ... under `root` (a library folder), one a second."""
    root_id = next(r.id for r in lib.catalog.roots() if r.path == str(root))
    with lib.catalog.transaction():
        return [lib.catalog.upsert_photo(PhotoRecord(
            root_id, f"{root}/IMG_{i:06d}.jpg", 1000, 10**18 + i,
            hashlib.sha1(str(i).encode()).hexdigest(), 4000, 3000,
            f"2010-01-01T12:{i // 60 % 60:02d}:{i % 60:02d}")) for i in range(count)]
