"""One open library: its paths, settings, catalog, and (lazily) model, vectors and jobs.

The CLI and the GUI both go through this, so they agree on which model a library uses and
when its vector cache is rebuilt.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from photoclip.config import ENV_MODEL, ENV_PRECISION, LibraryPaths, Settings, library_dir
from photoclip.core.catalog import Catalog
from photoclip.core.encoder import ClipEncoder, Encoder, resolve_device
from photoclip.core.errors import NotFoundError, PhotoclipError, StorageError
from photoclip.core.indexing import Indexer
from photoclip.core.search import Searcher
from photoclip.core.storage import remove_stale_temps
from photoclip.core.tagging import SidecarWriter, Tagger
from photoclip.core.types import Progress, Root
from photoclip.core.vectors import VectorIndex
from photoclip.core.watching import Watcher

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
        self.catalog = Catalog(self.paths.catalog, backup_dir=self.paths.backups)
        # What the user should hear about this open, once (a restored catalog, read-only...).
        self.notices: list[str] = list(self.catalog.notices)
        if not self.catalog.read_only:  # settings.json temp files of a killed process
            remove_stale_temps(self.paths.root, lambda target: target == "settings.json")
        if (changed or not self.paths.settings.exists()) and not self.catalog.read_only:
            self.save_settings()
        if self.catalog.broken_copy is not None:
            # The catalog went back in time, so photo ids in the vector files may now name other
            # photos: they are caches, rebuilt from the catalog when next needed.
            for cache in (self.paths.vectors, self.paths.pending_vectors):
                for path in (cache, Path(f"{cache}.meta.json")):
                    path.unlink(missing_ok=True)
        self._encoder = encoder
        self._progress = progress
        self._vectors: VectorIndex | None = None
        self._tagger: Tagger | None = None

    # -- lazily built heavy parts -----------------------------------------------------------

    @property
    def encoder(self) -> Encoder:
        if self._encoder is None:
            self._encoder = ClipEncoder(
                self.settings.model,
                device=self.settings.device,
                batch_size=self.settings.batch_size,
                progress=self._progress,
                precision=self.cpu_precision(),
            )
        return self._encoder

    def cpu_precision(self, model: str | None = None) -> str:
        """fp32, bf16 or int8 for the CPU (for `model`, default the library's); "auto" is
        settled by a one-time measurement."""
        wanted = os.environ.get(ENV_PRECISION) or self.settings.precision
        if wanted != "auto":
            return wanted
        if resolve_device(self.settings.device) != "cpu":
            return "fp32"  # a GPU runs fp16 whatever this says
        model = model or self.settings.model
        choice = self.settings.fast_path.get(model)
        if choice is None:
            from photoclip.core.fastpath import calibrate

            if self._progress is not None:
                self._progress("measuring the CPU fast path for this model (once) ...")
            choice = calibrate(model, progress=self._progress).choice
            self.settings.fast_path[model] = choice
            self.save_settings()
        return choice

    @property
    def vectors(self) -> VectorIndex:
        """The ANN index for the current model, healed from the catalog if it drifted."""
        if self._vectors is None:
            enc = self.encoder
            vecs = open_vectors(self.catalog, self.paths.vectors, enc.dim, enc.model_id)
            if vecs.dirty:
                self._save_vectors(vecs)
            self._vectors = vecs
        return self._vectors

    def _save_vectors(self, vecs: VectorIndex) -> None:
        """Save the vector cache where it can be; on a full or read-only disk it stays in
        memory (search works) and is rebuilt from the catalog next time."""
        try:
            vecs.save()
        except (StorageError, OSError) as exc:
            log.warning("vector cache %s not saved (%s); it is rebuilt from the catalog next "
                        "time", vecs.path, exc)

    def save_settings(self) -> None:
        """settings.json, written atomically; a disk that refuses only costs a warning (the
        settings hold for this session)."""
        try:
            self.settings.save(self.paths.settings)
        except OSError as exc:
            log.warning("settings not saved to %s: %s", self.paths.settings,
                        exc.strerror or exc)

    def indexer(self) -> Indexer:
        return Indexer(
            self.catalog,
            self.encoder,
            self.vectors,
            thumbnails=self.paths.thumbnails,
            batch_size=self.settings.batch_size,
            workers=self.settings.decode_workers,
            skip=[str(self.paths.root)],
            decode_timeout=self.settings.decode_timeout_s,
            on_batch=self.tagger().on_indexed,  # new photos are tagged as they are indexed
        )

    def watcher(self, indexer: Indexer | None = None, **options: Any) -> Watcher:
        """Live watching of every root (options: see Watcher); run() it to start."""
        return Watcher(indexer or self.indexer(), **options)

    def searcher(self) -> Searcher:
        return Searcher(self.catalog, self.encoder, self.vectors)

    def tagger(self) -> Tagger:
        """One per encoder, so its prompt-vector cache lives as long as the model does."""
        enc = self.encoder
        if self._tagger is None or self._tagger.encoder is not enc:
            self._tagger = Tagger(self.catalog, enc)
        return self._tagger

    def sidecar_writer(self, style: str | None = None) -> SidecarWriter:
        return SidecarWriter(self.catalog, style or self.settings.sidecar_style)

    def apply_settings(self, new: Settings) -> bool:
        """Save new settings; True when the model must be (re)loaded to honour them."""
        old = self.settings
        self.settings = new
        new.save(self.paths.settings)
        reload = ((new.model, new.device, new.batch_size, new.precision)
                  != (old.model, old.device, old.batch_size, old.precision))
        if reload:
            if self._vectors is not None:
                self._vectors.save()
            self._encoder = None
            self._vectors = None
        return reload

    def switch_model(
        self, model: str, cancel: threading.Event | None = None
    ) -> Iterator[Progress]:
        """Make `model` the library's model once every photo has an embedding from it.

        Until then the current model and its vectors keep serving search and tagging. Stopping
        (cancel, closing the generator, a crash) leaves the current model in use; switching
        again resumes, since new embeddings are committed batch by batch.
        """
        encoder = ClipEncoder(model, device=self.settings.device,
                              batch_size=self.settings.batch_size, progress=self._progress,
                              precision=self.cpu_precision(model))
        encoder.load()  # a model that cannot load never becomes pending
        target = encoder.model_id
        if target == ClipEncoder(self.settings.model).model_id:
            if self.settings.pending_model is not None:
                self.settings.pending_model = None
                self.settings.save(self.paths.settings)
            yield Progress("switch", 1, 1, finished=True, message=f"already using {target}")
            return
        self.settings.pending_model = target
        self.settings.save(self.paths.settings)
        pending = open_vectors(self.catalog, self.paths.pending_vectors, encoder.dim, target)
        # No tagging hook: auto tags follow the model in use, which is still the old one.
        indexer = Indexer(self.catalog, encoder, pending, thumbnails=self.paths.thumbnails,
                          batch_size=self.settings.batch_size,
                          workers=self.settings.decode_workers, skip=[str(self.paths.root)],
                          decode_timeout=self.settings.decode_timeout_s)
        try:
            yield from indexer.run(cancel=cancel)
        finally:
            pending.save()
        if cancel is not None and cancel.is_set():
            return
        if self._vectors is not None:
            self._vectors.save()
        # The meta file names the model and checksums its index file, so a crash between these
        # two renames only makes the next open rebuild the vectors from the catalog.
        if pending.path.exists() and pending.meta_path.exists():  # none when there are no photos
            os.replace(pending.path, self.paths.vectors)
            os.replace(pending.meta_path, f"{self.paths.vectors}.meta.json")
        self.settings.model = target
        self.settings.pending_model = None
        self.settings.save(self.paths.settings)
        self._encoder, self._vectors, self._tagger = encoder, None, None
        # Other models' embeddings would go stale as photos change; a later switch re-embeds.
        dropped = self.catalog.drop_embeddings_except(target)
        log.info("library model is now %s (%d old embeddings dropped)", target, dropped)
        yield Progress("switch", 1, 1, finished=True, message=f"now using {target}")

    # -- roots ------------------------------------------------------------------------------

    def add_roots(self, folders: list[str]) -> list[Root]:
        roots = []
        for folder in folders:
            path = Path(folder).expanduser()
            if not path.is_dir():
                raise PhotoclipError(f"{folder} is not a folder: give a folder of photos.")
            resolved = path.resolve()
            try:
                str(resolved).encode("utf-8")
            except UnicodeEncodeError:
                raise PhotoclipError(
                    f"{ascii(str(resolved))[1:-1]}: the folder's name (or a folder above it) "
                    "is not valid UTF-8; rename it to add it.") from None
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
            "pending_model": self.settings.pending_model,
        }

    def _device_name(self) -> str:
        """The device the model would run on, without loading it (torch import only)."""
        try:
            return resolve_device(self.settings.device)
        except PhotoclipError as exc:
            return f"{self.settings.device} (unavailable: {exc})"

    def close(self) -> None:
        if self._vectors is not None:
            self._save_vectors(self._vectors)
        self.catalog.close()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_vectors(catalog: Catalog, path: Path, dim: int, model_id: str) -> VectorIndex:
    """The vector cache at `path`, brought in line with the catalog: ids it lacks or should not
    have, and vectors the catalog changed since the file was saved (a crash after a re-embed).
    A file that claims changes the catalog never made (the catalog was restored from a backup
    or replaced) is rebuilt whole."""
    seq = catalog.embedding_seq()
    vecs = VectorIndex(path, dim, model_id)
    if vecs.seq > seq:
        log.warning("vector cache %s is ahead of the catalog (change %d vs %d): rebuilding it",
                    path, vecs.seq, seq)
        vecs.reset()
    changed = catalog.embedding_ids_since(model_id, vecs.seq) if vecs.seq < seq else None
    added, removed = vecs.sync(
        catalog.embedding_ids(model_id),
        lambda ids: catalog.get_embeddings(model_id, ids, dim),
        changed=changed,
        seq=seq,
    )
    if added or removed:
        log.info("vector index %s resynced: +%d -%d", path.name, added, removed)
    return vecs


def _loaded(enc: Encoder) -> bool:
    return bool(getattr(enc, "loaded", True))
