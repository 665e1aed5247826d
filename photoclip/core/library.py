"""One open library: its paths, settings, catalog, and (lazily) model, vectors and jobs.

The CLI and the GUI both go through this, so they agree on which model a library uses and
when its vector cache is rebuilt.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from photoclip.config import ENV_MODEL, LibraryPaths, Settings, library_dir
from photoclip.core.catalog import Catalog
from photoclip.core.encoder import ClipEncoder, Encoder, resolve_device
from photoclip.core.errors import NotFoundError, PhotoclipError
from photoclip.core.indexer import Indexer
from photoclip.core.search import Searcher
from photoclip.core.types import Root
from photoclip.core.vectors import VectorIndex

log = logging.getLogger(__name__)


class Library:
    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        *,
        model: str | None = None,
        device: str | None = None,
        encoder: Encoder | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.paths = LibraryPaths(library_dir(root)).ensure()
        self.settings = Settings.load(self.paths.settings)
        model = model or os.environ.get(ENV_MODEL)
        changed = False
        if model and model != self.settings.model:
            # A library remembers its model; choosing another re-embeds it on the next index.
            log.info("library model: %s -> %s", self.settings.model, model)
            self.settings.model = model
            changed = True
        if device and device != self.settings.device:
            self.settings.device = device
            changed = True
        if changed or not self.paths.settings.exists():
            self.settings.save(self.paths.settings)
        self.catalog = Catalog(self.paths.catalog, backup_dir=self.paths.backups)
        self._encoder = encoder
        self._progress = progress
        self._vectors: VectorIndex | None = None

    # -- lazily built heavy parts -----------------------------------------------------------

    @property
    def encoder(self) -> Encoder:
        if self._encoder is None:
            self._encoder = ClipEncoder(
                self.settings.model,
                device=self.settings.device,
                batch_size=self.settings.batch_size,
                progress=self._progress,
            )
        return self._encoder

    @property
    def vectors(self) -> VectorIndex:
        """The ANN index for the current model, healed from the catalog if it drifted."""
        if self._vectors is None:
            enc = self.encoder
            vecs = VectorIndex(self.paths.vectors, enc.dim, enc.model_id)
            added, removed = vecs.sync(
                self.catalog.embedding_ids(enc.model_id),
                lambda ids: self.catalog.get_embeddings(enc.model_id, ids, enc.dim),
            )
            if added or removed:
                log.info("vector index resynced: +%d -%d", added, removed)
                vecs.save()
            self._vectors = vecs
        return self._vectors

    def indexer(self) -> Indexer:
        return Indexer(
            self.catalog,
            self.encoder,
            self.vectors,
            thumbnails=self.paths.thumbnails,
            batch_size=self.settings.batch_size,
            workers=self.settings.decode_workers,
            skip=[str(self.paths.root)],
        )

    def searcher(self) -> Searcher:
        return Searcher(self.catalog, self.encoder, self.vectors)

    def apply_settings(self, new: Settings) -> bool:
        """Save new settings; True when the model must be (re)loaded to honour them."""
        old = self.settings
        self.settings = new
        new.save(self.paths.settings)
        reload = (new.model, new.device, new.batch_size) != (old.model, old.device,
                                                               old.batch_size)
        if reload:
            if self._vectors is not None:
                self._vectors.save()
            self._encoder = None
            self._vectors = None
        return reload

    # -- roots ------------------------------------------------------------------------------

    def add_roots(self, folders: list[str]) -> list[Root]:
        roots = []
        for folder in folders:
            path = Path(folder).expanduser()
            if not path.is_dir():
                raise PhotoclipError(f"{folder} is not a folder: give a folder of photos.")
            resolved = path.resolve()
            if resolved == self.paths.root or self.paths.root in resolved.parents:
                raise PhotoclipError(
                    f"{folder} is inside the library folder {self.paths.root}; "
                    "add your photo folders, not the library."
                )
            roots.append(self.catalog.add_root(str(resolved)))
        return roots

    def remove_roots(self, folders: list[str]) -> int:
        removed = 0
        for folder in folders:
            path = str(Path(folder).expanduser().resolve())
            if self.catalog.root_by_path(path) is None:
                raise NotFoundError(f"{folder} is not a library folder (see `photoclip status`).")
            ids = self.catalog.remove_root(path)
            if ids and self._vectors is not None:
                self._vectors.remove(ids)
                self._vectors.save()
            removed += len(ids)
        # Without a loaded index, the next open's sync drops the removed ids.
        return removed

    def status(self) -> dict[str, Any]:
        enc = self._encoder
        return {
            "roots": [r.path for r in self.catalog.roots()],
            "offline_roots": [r.path for r in self.catalog.roots() if not r.online],
            "photos": self.catalog.count_photos("ok"),
            "failed": self.catalog.count_photos("failed"),
            "model": self.settings.model,
            "device": enc.device if enc is not None and _loaded(enc) else self._device_name(),
            "library": str(self.paths.root),
        }

    def _device_name(self) -> str:
        """The device the model would run on, without loading it (torch import only)."""
        try:
            return resolve_device(self.settings.device)
        except PhotoclipError as exc:
            return f"{self.settings.device} (unavailable: {exc})"

    def close(self) -> None:
        if self._vectors is not None:
            self._vectors.save()
        self.catalog.close()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _loaded(enc: Encoder) -> bool:
    return bool(getattr(enc, "loaded", True))
