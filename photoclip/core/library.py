"""One open library: its paths, settings, catalog, and (lazily) model, vectors and jobs.

The one door for the CLI and the GUI: they agree through it on which model and device a run
uses (settled once, in `config.resolve_run`), when the vector cache is rebuilt, and how the
jobs (index, watch, search, tag, train, evaluate, duplicates) are put together.
"""

from __future__ import annotations

import logging
import os
import shlex
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from photoclip.config import ENV_PRECISION, LibraryPaths, library_dir, model_id, resolve_run
from photoclip.core import fastpath_memory
from photoclip.core.accelerators import resolve_device
from photoclip.core.catalog import Catalog
from photoclip.core.encoder import ClipEncoder, Encoder
from photoclip.core.errors import PhotoclipError, StorageError
from photoclip.core.fastpath import measure as measure_fast_path
from photoclip.core.indexing import FailureGroup, Indexer, failure_summary
from photoclip.core.library_edits import LibraryEdits
from photoclip.core.library_labels import LabelSets
from photoclip.core.library_roots import remove_roots, root_to_add
from photoclip.core.library_vectors import open_vectors
from photoclip.core.model_catalog import catalog_with_use
from photoclip.core.search import DEFAULT_CUTOFF as DEFAULT_CUTOFF  # the window's default
from photoclip.core.search import Searcher
from photoclip.core.set_tradeoff import SetThresholds
from photoclip.core.storage import remove_stale_temps, storage_error
from photoclip.core.tagging import SidecarSync, SidecarTagger, SidecarWriter, Tagger
from photoclip.core.thumbnails import thumbnail_path
from photoclip.core.types import Progress, Root
from photoclip.core.vectors import VectorIndex

if TYPE_CHECKING:  # the rest is imported where used: no torch for commands without a model
    from photoclip.config import Run, Settings
    from photoclip.core.duplicates import DuplicateFinder
    from photoclip.core.evaluation import AlbumEvaluation
    from photoclip.core.library_albums import LibraryAlbums
    from photoclip.core.library_models import ModelInfo
    from photoclip.core.library_probes import BiasEvaluation, ProbeEvaluation
    from photoclip.core.ocr.door import LibraryOcr
    from photoclip.core.training.data import Albums
    from photoclip.core.training.trainer import TrainConfig, Trainer
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
        """`model` (else PHOTOCLIP_MODEL) and `device` are for this run only: `model` picks the
        model of a new library, the base of `trainer()` and the model of `evaluate()`; the
        library's own model changes only through `switch_model` or `apply_settings`.
        `encoder` replaces the library's model outright (tests, bench)."""
        self.paths = LibraryPaths(library_dir(root)).ensure()
        run = resolve_run(self.paths.settings, model=model, device=device)
        self.settings = run.settings
        self._model = run.asked_model
        self._device = run.asked_device
        self.catalog = Catalog(self.paths.catalog, backup_dir=self.paths.backups)
        # What the user should hear about this open, once (a restored catalog, read-only...).
        self.notices: list[str] = list(self.catalog.notices)
        if not self.catalog.read_only:  # settings.json temp files of a killed process
            remove_stale_temps(self.paths.root, lambda target: target == "settings.json")
        if run.new and not self.catalog.read_only:
            self.save_settings()
        if self.catalog.broken_copy is not None:
            # The catalog went back in time, so photo ids in the vector files may now name other
            # photos: they are caches, rebuilt from the catalog when next needed.
            for cache in (self.paths.vectors, self.paths.pending_vectors):
                for path in (cache, Path(f"{cache}.meta.json")):
                    path.unlink(missing_ok=True)
        self._encoder = encoder
        self._given_encoder = encoder is not None
        self._progress = progress
        self.exports_in_child = False  # the window: the ONNX text export in a child process
        self._vectors: VectorIndex | None = None
        self._tagger: Tagger | None = None
        self._label_sets: LabelSets | None = None
        self._sidecar_sync: SidecarSync | None = None

    @staticmethod
    def resolve_run(
        root: str | os.PathLike[str] | None = None,
        *,
        model: str | None = None,
        device: str | None = None,
    ) -> Run:
        """The model and device a run would use, without opening (or creating) the library:
        what `photoclip bench` measures."""
        return resolve_run(LibraryPaths(library_dir(root)).settings, model=model, device=device)

    # -- which model, which device ----------------------------------------------------------

    @property
    def model(self) -> str:
        """This run's model: the one asked for (--model, PHOTOCLIP_MODEL), else the library's."""
        return self._model or model_id(self.settings.model)

    @property
    def device(self) -> str:
        """This run's device setting: the one asked for (--device), else the library's."""
        return self._device or self.settings.device

    @property
    def one_off_model(self) -> bool:
        """True when this run asked for another model than the library's own."""
        return not self._given_encoder and self.model != model_id(self.settings.model)

    def require_own_model(self) -> None:
        """Search, indexing, tagging and duplicates need the library's own vectors: a run
        given another model says so, and how to switch, instead of answering from nothing."""
        if self.one_off_model:
            raise PhotoclipError(
                f"This library uses the model {self.settings.model}; {self.model} (--model or "
                "PHOTOCLIP_MODEL) is for this run only and has no vectors here. Leave it out, "
                f"or switch the library: photoclip models use {shlex.quote(self.model)} "
                "(re-embeds every photo in the background; search keeps working meanwhile)."
            )

    # -- lazily built heavy parts -----------------------------------------------------------

    @property
    def encoder(self) -> Encoder:
        """The library's model, on this run's device: the one its vectors come from."""
        if self._encoder is None:
            self.require_own_model()
            self._encoder = self._new_encoder(self.settings.model)
        return self._encoder

    def _new_encoder(self, model: str) -> ClipEncoder:
        return ClipEncoder(model, device=self.device, batch_size=self.settings.batch_size,
                           progress=self._progress, precision=self.cpu_precision(model),
                           text_export=self.paths.root / "text-onnx",
                           export_in_child=self.exports_in_child)

    def cpu_precision(self, model: str | None = None) -> str:
        """fp32, bf16 or int8 for the CPU (for `model`, default the library's): with "auto",
        what `calibrate_fast_path` measured, and fp32 until it has (never a wait for it)."""
        wanted = os.environ.get(ENV_PRECISION) or self.settings.precision
        if wanted != "auto":
            return wanted
        if resolve_device(self.device) != "cpu":
            return "fp32"  # a GPU runs fp16 whatever this says
        return fastpath_memory.precision(self.settings.fast_path, model or self.settings.model)

    @property
    def fast_path_unmeasured(self) -> bool:
        """The library's model runs on the CPU with precision "auto", not measured yet as far
        as memory says (no disk: the window asks on the UI thread; see calibrate_fast_path)."""
        wanted = os.environ.get(ENV_PRECISION) or self.settings.precision
        return (wanted == "auto" and not self._given_encoder and not self.catalog.read_only
                and self.settings.model not in self.settings.fast_path
                and resolve_device(self.device) == "cpu")

    def calibrate_fast_path(self) -> Iterator[Progress]:
        """Measure bf16 and int8 against fp32 for the library's model, once (~10 s), and keep
        the fastest that matches fp32 for its next loads. A job of its own, run after the work
        the user asked for (the CLI) or when idle (the window); nothing when already done."""
        model, enc = self.settings.model, self._encoder
        if not self.fast_path_unmeasured or fastpath_memory.known(self.settings.fast_path, model):
            return  # measured on this machine already (by another library)
        ref = enc if (isinstance(enc, ClipEncoder) and enc.loaded and enc.device == "cpu"
                      and enc.precision == "fp32" and enc.model_id == model_id(model)) else None
        result = yield from measure_fast_path(model, self.settings.batch_size, reference=ref)
        fastpath_memory.keep(self.settings.fast_path, model, result.choice)
        self.save_settings()

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

    def indexer(self, read_text: bool = True) -> Indexer:
        # New photos are tagged as they are indexed.
        tagger = self.tagger()
        # Prompt vectors are encoded in the indexing thread before the first batch, never
        # inside a batch's write transaction (nor on the caller's thread: the window's).
        indexer = self._indexer(self.encoder, self.vectors, on_batch=tagger.on_indexed,
                                before_batches=tagger.prepare)
        if read_text:  # run() reads the new photos' text once all are embedded (core/ocr)
            indexer.after_run = self.ocr.after_indexing
        return indexer

    def _indexer(self, encoder: Encoder, vectors: VectorIndex,
                 on_batch: Callable[[list[int], np.ndarray], None] | None = None,
                 before_batches: Callable[[], object] | None = None) -> Indexer:
        s = self.settings
        return Indexer(self.catalog, encoder, vectors, thumbnails=self.paths.thumbnails,
                       batch_size=s.batch_size, workers=s.decode_workers,
                       skip=[str(self.paths.root)], decode_timeout=s.decode_timeout_s,
                       on_batch=on_batch, before_batches=before_batches,
                       on_moved=self.sidecar_sync.on_moved)

    def watcher(self, indexer: Indexer | None = None, **options: Any) -> Watcher:
        """Live watching of every root (options: see Watcher); run() it to start."""
        # Text is read beside it, in a thread of its own, once it is idle (core/ocr/follow.py).
        return self.ocr.watched(indexer or self.indexer(read_text=False), **options)

    def searcher(self) -> Searcher:
        """Loads the model and vectors on first need: a query of filters alone never does.
        A run given another model is refused at once (search answers from the library's own
        vectors, which that model has none of)."""
        self.require_own_model()
        return Searcher(self.catalog, encoder_from=lambda: self.encoder,
                        vectors_from=lambda: self.vectors)

    def tagger(self) -> Tagger:
        """One per encoder, so its prompt-vector cache lives as long as the model does."""
        enc = self.encoder
        if self._tagger is None or self._tagger.encoder is not enc:
            # It reports the photos whose tags it changes, so their sidecars can follow.
            self._tagger = SidecarTagger(self.catalog, enc, self.sidecar_sync)
        return self._tagger

    def sidecar_writer(self, style: str | None = None) -> SidecarWriter:
        """The `xmp` job ("Write sidecars now"): every photo's sidecar, or one folder's."""
        return SidecarWriter(self.catalog, style or self.settings.sidecar_style)

    @property
    def sidecar_sync(self) -> SidecarSync:
        """Keeps sidecars in step in the background: as tags change when `xmp_sync` is on, and
        as photos move or go whatever the setting (see core/tagging/sidecar_sync.py)."""
        if self._sidecar_sync is None:
            self._sidecar_sync = SidecarSync(
                self.catalog, lambda: (bool(self.settings.xmp_sync), self.settings.sidecar_style))
        return self._sidecar_sync

    def sync_sidecars(self, photo_ids: list[int]) -> None:
        """These photos' tags changed outside the tagger: rewrite their sidecars (when the
        setting is on) in the background."""
        self.sidecar_sync.changed(photo_ids)

    def set_sidecar_sync(self, on: bool) -> None:
        """Turn "write tags to XMP sidecars" on or off for this library (saved)."""
        self.settings.xmp_sync = on
        self.save_settings()

    def duplicates(self, threshold: float | None = None,
                   folder: str | None = None) -> DuplicateFinder:
        """Groups of near-identical photos (run() it); `folder` limits it to one folder."""
        from photoclip.core.duplicates import finder_for
        return finder_for(self.catalog, self.encoder, self.vectors, threshold, folder)

    def thumbnail_path(self, digest: str) -> Path:
        """Where the grid thumbnail of the photo with content hash `digest` is cached (it may
        not exist yet: `api.ensure_thumbnail` makes it)."""
        return thumbnail_path(self.paths.thumbnails, digest)

    def browse(self, folder: str | None = None, after: str | None = None,
               before: str | None = None, order: str = "taken") -> list[tuple[Any, ...]]:
        """The library with no query: (id, path, content hash) of its photos, newest taken
        first (or in another of catalog.photos.ORDERS), within a folder and dates [after,
        before). Light rows for a grid to page through; a catalog read: off the UI thread."""
        return self.catalog.browse_rows(folder, after, before, order)

    def failures(self, examples: int = 3) -> list[FailureGroup]:
        """Files that failed to index, grouped by kind of reason, most common first."""
        return failure_summary(self.catalog, examples=examples)

    @property
    def label_sets(self) -> LabelSets:
        """The label sets for auto-tagging (a TagStore, with what the front ends do to it)."""
        if self._label_sets is None:
            self._label_sets = LabelSets(self.catalog, model_of=lambda: self.model)
        return self._label_sets

    @property
    def albums(self) -> LibraryAlbums:
        """Albums and smart albums, ratings and favourites (core/library_albums.py)."""
        from photoclip.core.library_albums import LibraryAlbums
        return LibraryAlbums(self)

    @cached_property
    def edits(self) -> LibraryEdits:
        """Possible edits of tagged photos, to apply or dismiss (core/library_edits.py)."""
        return LibraryEdits(self)

    @cached_property
    def ocr(self) -> LibraryOcr:
        """Reading the words in photos: the text pass, its status, the setting, a photo's text
        (core/ocr/door.py)."""
        from photoclip.core.ocr.door import LibraryOcr
        return LibraryOcr(self)

    thresholds = property(SetThresholds)  # how sure before tagging (core/set_tradeoff.py)
    # -- models: training, evaluation -------------------------------------------------------

    def models(self) -> list[ModelInfo]:
        """Base and fine-tuned models, the library's own first when it is not registered."""
        from photoclip.core.library_models import list_models
        return list_models(self.catalog, self.settings.model, self.settings.pending_model)

    def model_catalog(self) -> list[dict[str, Any]]:
        """The shipped model catalogue, each entry marked "in_use" for this library's model."""
        return catalog_with_use(self.settings.model)

    def find_model(self, name: str) -> ModelInfo | None:
        from photoclip.core.library_models import find_model
        return find_model(self.catalog, name, self.settings.model, self.settings.pending_model)

    def read_albums(self, folder: str | os.PathLike[str]) -> Albums:
        """Training or evaluation data: one subfolder of photos per label."""
        from photoclip.core.training.data import read_albums
        return read_albums(folder)

    def read_label_set(self, name: str) -> Albums:
        """Training or evaluation data: the photos a label set's tags were set or accepted on."""
        from photoclip.core.training.data import read_label_set
        return read_label_set(self.catalog, name)

    def trainer(self, albums: Albums, *, name: str | None = None,
                config: TrainConfig | None = None, **options: Any) -> Trainer:
        """Fine-tune this run's model (--model, else the library's) on `albums`; `options`
        are TrainConfig fields. The new model is registered; `switch_model` puts it to use."""
        from photoclip.core.training.trainer import TrainConfig, Trainer
        return Trainer(albums, base=self.model, checkpoints=self.paths.checkpoints,
                       catalog=self.catalog, name=name, device=self.device,
                       config=replace(config or TrainConfig(), **options))

    def evaluate(self, albums: Albums) -> AlbumEvaluation:
        """This run's model (--model, else the library's) measured on `albums` (run() it)."""
        from photoclip.core.evaluation import AlbumEvaluation
        encoder = self._new_encoder(self.model) if self.one_off_model else self.encoder
        return AlbumEvaluation(encoder, albums, batch_size=self.settings.batch_size)

    def probe(self, families: list[str] | None = None, items: int = 200, seed: int = 0,
              model: str | None = None) -> ProbeEvaluation:
        """Blind-spot probes (run() it) on this run's model, or on `model` (a name from
        models(), a folder or a hub id): the Training page's before and after."""
        from photoclip.core.library_probes import probe_job, probe_source
        if model is not None:
            source = probe_source(model, self.find_model)
            return probe_job(self._new_encoder(source), source, families, items, seed)
        encoder = self._new_encoder(self.model) if self.one_off_model else self.encoder
        return probe_job(encoder, self.model, families, items, seed)

    def bias(self) -> BiasEvaluation:
        """`eval --bias` (run() it): profession x group prompts on this library's photos."""
        from photoclip.core.library_probes import bias_job
        return bias_job(lambda: self.encoder, lambda: self.vectors, self.model)

    def apply_settings(self, new: Settings) -> bool:
        """Save new settings; True when the model must be (re)loaded to honour them. A model
        or device chosen here replaces this run's one-off choice of it."""
        old = self.settings
        self.settings = new
        new.save(self.paths.settings)
        if new.model != old.model:
            self._model = None
        if new.device != old.device:
            self._device = None
        if new.ocr and not old.ocr:
            self.ocr.indexed()  # wakes the text pass beside a running watcher
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
        encoder = self._new_encoder(model)
        encoder.load()  # a model that cannot load never becomes pending
        target = encoder.model_id
        if target == model_id(self.settings.model):
            if self.settings.pending_model is not None:
                self.settings.pending_model = None
                self.settings.save(self.paths.settings)
            yield Progress("switch", 1, 1, finished=True, message=f"already using {target}")
            return
        self.settings.pending_model = target
        self.settings.save(self.paths.settings)
        pending = open_vectors(self.catalog, self.paths.pending_vectors, encoder.dim, target)
        # No tagging hook: auto tags follow the model in use, which is still the old one.
        indexer = self._indexer(encoder, pending)
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
        self._model = None  # this run now uses the library's (new) model
        self.settings.pending_model = None
        self.settings.save(self.paths.settings)
        self._encoder, self._vectors, self._tagger = encoder, None, None
        # Other models' embeddings would go stale as photos change; a later switch re-embeds.
        dropped = self.catalog.drop_embeddings_except(target)
        log.info("library model is now %s (%d old embeddings dropped)", target, dropped)
        yield Progress("switch", 1, 1, finished=True, message=f"now using {target}")

    # -- roots ------------------------------------------------------------------------------

    def add_roots(self, folders: list[str]) -> list[Root]:
        return [self.catalog.add_root(root_to_add(folder, self.paths.root))
                for folder in folders]

    def remove_roots(self, folders: list[str]) -> int:
        # Without a loaded index, the next open's sync drops the removed ids.
        return remove_roots(self.catalog, folders, self._vectors)

    def status(self) -> dict[str, Any]:
        enc = self._encoder
        if enc is not None and getattr(enc, "loaded", True):
            device = enc.device
        else:  # the device the model would run on, without loading it (torch import only)
            try:
                device = resolve_device(self.device)
            except PhotoclipError as exc:
                device = f"{self.device} (unavailable: {exc})"
        return {
            "roots": [r.path for r in self.catalog.roots()],
            "offline_roots": [r.path for r in self.catalog.roots() if not r.online],
            "photos": self.catalog.count_photos("ok"),
            "failed": self.catalog.count_photos("failed"),
            "model": self.settings.model,
            "device": device,
            "library": str(self.paths.root),
            "pending_model": self.settings.pending_model,
        }

    @staticmethod
    def disk_error(exc: OSError) -> PhotoclipError | None:
        """The user-facing error for an OSError whose reason is the disk (full, read-only)."""
        return storage_error(exc, None)

    def close(self) -> None:
        if "ocr" in self.__dict__:
            self.ocr.close()  # the text pass's thread and child process
        if self._sidecar_sync is not None:
            self._sidecar_sync.close()  # pending sidecars are written before the catalog goes
        if self._vectors is not None:
            self._save_vectors(self._vectors)
        self.catalog.close()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
