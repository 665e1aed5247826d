"""The catalog: SQLite source of truth for roots, photos, embeddings and jobs.

`database` opens, checks, recovers and guards the SQLite file; each table family has its store
(`roots`, `photos`, `embeddings`, `jobs`, `albums`), and `Catalog` is all of them over one
connection.
Tags and label sets (`tagging.store`) and named models (`training.registry`) use the same
connection through `Catalog.transaction()` and `Catalog.query`.
"""

from __future__ import annotations

from photoclip.core.catalog.albums import Album, AlbumStore
from photoclip.core.catalog.embeddings import Embeddings
from photoclip.core.catalog.jobs import JobRow, Jobs
from photoclip.core.catalog.photos import FileState, Photos
from photoclip.core.catalog.roots import Roots


class Catalog(Roots, Photos, Embeddings, Jobs, AlbumStore):
    """The library's catalog: every store's methods on one connection (see `Database` for how
    it opens, recovers from damage, and refuses writes on a full or read-only disk)."""


__all__ = ["Album", "Catalog", "FileState", "JobRow"]
