"""Apply label sets to photos: the `tag` job, the indexer hook, calibration, "why this tag".

Everything works from the catalog's stored image embeddings: changing a label set re-tags the
library with the text encoder only (a few prompts), never re-encoding a photo. Prompt vectors
are cached per model in the catalog (text_embeddings) and in memory.

Prompts are never encoded inside a write transaction (the indexer's hook runs inside its batch's
transaction, and a big set takes minutes to encode): `prepare()` encodes the enabled sets'
prompts beforehand, and the hook then only scores.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from photoclip.core.catalog import Catalog
from photoclip.core.encoder import Encoder
from photoclip.core.errors import LabelSetError, NotFoundError, PhotoclipError
from photoclip.core.tagging.prompts_i18n import templates_for
from photoclip.core.tagging.scoring import (
    CLIP_LOGIT_SCALE,
    base_threshold,
    best_threshold,
    decide,
    effective_floor,
    effective_threshold,
    encoder_scoring,
    ensemble,
    fill,
    normalise,
    prompts_for,
    set_scores,
)
from photoclip.core.tagging.store import TagStore
from photoclip.core.types import Label, LabelSet, Photo, Progress, TagScore, TemplateScore

log = logging.getLogger(__name__)

# Photos scored per transaction and progress step: 2048 x 512-d float32 is 4 MB of vectors, and
# one commit per batch keeps an interrupted run's loss small.
TAG_BATCH = 2048


@dataclass(frozen=True)
class Calibration:
    set_name: str
    label: str
    threshold: float
    accepted: int
    rejected: int


@dataclass
class TagReport:
    """Totals of one `tag` run: photos scored, photos given auto tags, auto tags written."""

    photos: int = 0
    tagged: int = 0
    tags: int = 0
    removed: int = 0  # undecided auto tags that no longer pass
    calibrated: list[Calibration] = field(default_factory=list)
    seconds: float = 0.0


@dataclass(frozen=True)
class SetVectors:
    templates: tuple[str, ...]
    prompts: np.ndarray  # (L, T, d): each label in each template, unit length
    labels: np.ndarray  # (L, d): the ensembles, unit length


class Tagger:
    def __init__(self, catalog: Catalog, encoder: Encoder, *, batch_size: int = TAG_BATCH) -> None:
        self.catalog = catalog
        self.encoder = encoder
        self.store = TagStore(catalog)
        self.batch_size = max(1, batch_size)
        self.report = TagReport()
        self._lock = threading.Lock()
        self._prompts: dict[tuple[str, str], np.ndarray] = {}
        # (model, labels, templates) -> the set's vectors; label ids and thresholds do not matter.
        self._sets: dict[tuple[str, tuple[str, ...], tuple[str, ...]], SetVectors] = {}

    @property
    def model(self) -> str:
        return self.encoder.model_id

    @property
    def logit_scale(self) -> float:
        # Not part of the Encoder protocol (fakes need not have it); every CLIP release has 100.
        return float(getattr(self.encoder, "logit_scale", CLIP_LOGIT_SCALE))

    # -- text side --------------------------------------------------------------------------

    def templates(self, label_set: LabelSet) -> tuple[str, ...]:
        return templates_for(label_set, self.encoder)  # the set's language's ensemble

    def _not_cached(self, prompts: Sequence[str]) -> list[str]:
        """The prompts neither in memory nor in the catalog's cache (those found are loaded)."""
        model = self.model
        with self._lock:
            missing = [p for p in dict.fromkeys(prompts) if (model, p) not in self._prompts]
        if not missing:
            return []
        found = self.store.text_vectors(model, missing)
        with self._lock:
            self._prompts.update(((model, p), v) for p, v in found.items())
        return [p for p in missing if p not in found]

    def prompt_vectors(self, prompts: Sequence[str]) -> np.ndarray:
        """(N, d) unit vectors: memory, then the catalog's cache, then the text encoder."""
        model = self.model
        new = self._not_cached(prompts)
        if new:
            log.info("encoding %d prompts with %s", len(new), model)
            vecs = normalise(self.encoder.encode_texts(new))
            self.store.put_text_vectors(model, new, vecs)
            with self._lock:
                self._prompts.update(((model, p), v) for p, v in zip(new, vecs, strict=True))
        with self._lock:
            return np.stack([self._prompts[(model, p)] for p in prompts])

    def _set_key(self, label_set: LabelSet) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
        return (self.model, tuple(lb.name for lb in label_set.labels),
                self.templates(label_set))

    def set_vectors(self, label_set: LabelSet) -> SetVectors:
        key = self._set_key(label_set)
        with self._lock:
            found = self._sets.get(key)
        if found is not None:
            return found
        _, names, templates = key
        flat = self.prompt_vectors(prompts_for(list(names), templates))
        out = SetVectors(templates, flat.reshape(len(names), len(templates), -1),
                         ensemble(flat, len(names)))
        with self._lock:
            if len(self._sets) >= 64:  # edits of a set leave old keys behind
                self._sets.clear()
            self._sets[key] = out
        return out

    def ready_vectors(self, label_set: LabelSet) -> SetVectors | None:
        """The set's vectors if nothing needs encoding (memory or the catalog's cache); None
        when some prompt was never encoded."""
        with self._lock:
            found = self._sets.get(self._set_key(label_set))
        if found is not None:
            return found
        names = [lb.name for lb in label_set.labels]
        if self._not_cached(prompts_for(names, self.templates(label_set))):
            return None
        return self.set_vectors(label_set)

    def prepare(self, sets: Sequence[LabelSet] | None = None) -> int:
        """Encode the prompts of these sets (every enabled one by default) now, outside any
        write transaction, so that tagging during indexing only scores. Call it before indexing
        and after changing a set; returns how many sets are ready."""
        chosen = sets if sets is not None else self.store.label_sets(enabled_only=True)
        ready = 0
        for ls in chosen:
            if ls.labels:
                self.set_vectors(ls)
                ready += 1
        return ready

    def score(
        self,
        label_set: LabelSet,
        image_vectors: np.ndarray,
        vectors: SetVectors | None = None,
        photo_ids: Sequence[int] | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(similarities, scores, passes), each (N, L), for photos against one set; with
        `photo_ids`, the user's rejections of those photos' labels are honoured."""
        sv = vectors or self.set_vectors(label_set)
        if image_vectors.shape[1] != sv.labels.shape[1]:
            raise PhotoclipError(
                f"Photo and text vectors differ in size ({image_vectors.shape[1]} vs "
                f"{sv.labels.shape[1]}): the library changed model; run `photoclip index`.")
        floor = effective_floor(label_set)
        # CLIP-style families: softmax over the set; SigLIP-style: a sigmoid per label.
        scale, bias = encoder_scoring(self.encoder)
        sims, scores = set_scores(image_vectors, sv.labels, scale, floor, logit_bias=bias)
        thresholds = np.array([effective_threshold(lb, label_set)[0] for lb in label_set.labels],
                              dtype=np.float32)
        rejected = None
        if photo_ids is not None:
            row = {int(pid): n for n, pid in enumerate(photo_ids)}
            col = {lb.id: n for n, lb in enumerate(label_set.labels)}
            rejected = np.zeros(sims.shape, dtype=bool)
            for pid, lid in self.store.rejections(photo_ids, label_set.id):
                if pid in row and lid in col:  # the set may have changed under us
                    rejected[row[pid], col[lid]] = True
        return sims, scores, decide(sims, scores, thresholds, floor, label_set.multi_label,
                                    rejected)

    # -- tagging ----------------------------------------------------------------------------

    def on_indexed(self, photo_ids: list[int], vectors: np.ndarray) -> None:
        """Indexer hook: tag freshly embedded photos with every enabled set.

        It runs inside the batch's transaction, so it scores with prompt vectors already
        encoded (see prepare()); a set whose prompts were never encoded is encoded here only as
        a last resort, with a warning (the set limits keep that to seconds)."""
        sets = [s for s in self.store.label_sets(enabled_only=True) if s.labels]
        if not (sets and photo_ids):
            return
        prepared: dict[int, SetVectors] = {}
        for ls in sets:
            sv = self.ready_vectors(ls)
            if sv is None:
                log.warning("label set %r was not prepared: encoding its prompts while indexing "
                            "(Tagger.prepare() before indexing avoids this)", ls.name)
                sv = self.set_vectors(ls)
            prepared[ls.id] = sv
        self.tag_photos(photo_ids, vectors, sets, prepared)

    def tag_photos(
        self,
        photo_ids: Sequence[int],
        vectors: np.ndarray,
        sets: Sequence[LabelSet],
        prepared: dict[int, SetVectors] | None = None,
    ) -> TagReport:
        """Score these photos against these sets and store the auto tags (one batch)."""
        out = TagReport(photos=len(photo_ids))
        tagged: set[int] = set()
        for ls in sets:
            if not ls.labels:
                continue
            _, scores, passes = self.score(ls, vectors, (prepared or {}).get(ls.id), photo_ids)
            res = self.store.write_auto(ls, self.model, photo_ids, scores, passes)
            out.tags += res.applied
            out.removed += res.removed
            tagged |= res.tagged
        out.tagged = len(tagged)
        return out

    def choose_sets(self, names: Sequence[str] | None = None) -> list[LabelSet]:
        """The named sets (enabled or not), or every enabled one."""
        if names:
            return [self.store.require_set(n) for n in names]
        sets = [s for s in self.store.label_sets(enabled_only=True) if s.labels]
        if not sets:
            raise LabelSetError(
                "No label set is enabled: add one (`photoclip labels add pets --labels "
                "'cat,dog'`) or enable a default one (`photoclip labels enable scenes`).")
        return sets

    def run(
        self,
        sets: Sequence[str] | None = None,
        folder: str | None = None,
        cancel: threading.Event | None = None,
    ) -> Iterator[Progress]:
        """Calibrate, then tag every embedded photo (or those in `folder`) with the sets.

        Stops between batches when `cancel` is set or the generator is closed; each batch is
        committed whole.
        """
        started = time.monotonic()
        report = self.report = TagReport()
        chosen = self.choose_sets(sets)
        report.calibrated = self.calibrate(chosen)
        chosen = [self.store.label_set_by_id(s.id) for s in chosen]  # thresholds may have moved
        folder_abs = os.path.abspath(os.path.expanduser(folder)) if folder else None
        ids = self.store.embedded_photo_ids(self.model, folder_abs)
        total = len(ids)
        with self.catalog.job("tag", total) as job:
            yield Progress("tag", 0, total, message=f"tagging {total} photos with "
                           f"{', '.join(s.name for s in chosen)}")
            try:
                vectors = {s.id: self.set_vectors(s) for s in chosen if s.labels}  # once a run
                for start in range(0, total, self.batch_size):
                    chunk = ids[start : start + self.batch_size]
                    image_vecs = self.catalog.get_embeddings(self.model, chunk, self.encoder.dim)
                    res = self.tag_photos(chunk, image_vecs, chosen, vectors)
                    report.photos += res.photos
                    report.tagged += res.tagged
                    report.tags += res.tags
                    report.removed += res.removed
                    self.catalog.update_job(job.id, report.photos, total, 0)
                    elapsed = time.monotonic() - started
                    yield Progress("tag", report.photos, total,
                                   rate=report.photos / elapsed if elapsed > 0 else 0.0)
                    if cancel is not None and cancel.is_set():
                        return
                job.state = "done"
            finally:
                report.seconds = time.monotonic() - started
                job.message = self.summary()
        yield Progress("tag", total, total, finished=True, message=self.summary())

    def summary(self) -> str:
        r = self.report
        parts = [f"{r.photos} photos scored", f"{r.tagged} tagged", f"{r.tags} auto tags"]
        if r.removed:
            parts.append(f"{r.removed} dropped")
        if r.calibrated:
            parts.append(f"{len(r.calibrated)} thresholds calibrated")
        return ", ".join(parts)

    # -- calibration ------------------------------------------------------------------------

    def calibrate(self, sets: Sequence[LabelSet]) -> list[Calibration]:
        """Move each label's threshold to where it best separates the user's decisions.

        A label needs at least one yes (accepted or set by hand) and one no (rejected) before its
        threshold is learned; a threshold the user set by hand is never overwritten. When the
        decisions that taught a label are gone, it falls back to its set's threshold.
        """
        results: list[Calibration] = []
        for ls in sets:
            learnable = [(n, lb) for n, lb in enumerate(ls.labels)
                         if lb.threshold is None or lb.calibrated]
            if not learnable:
                continue
            by_label: dict[int, list[tuple[int, bool]]] = defaultdict(list)
            for d in self.store.decisions([lb.id for _, lb in learnable], self.model):
                by_label[d.label_id].append((d.photo_id, d.positive))
            photo_ids = sorted({pid for ds in by_label.values() for pid, _ in ds})
            scores = np.zeros((0, len(ls.labels)), dtype=np.float32)
            if photo_ids:
                image_vecs = self.catalog.get_embeddings(self.model, photo_ids, self.encoder.dim)
                _, scores, _ = self.score(ls, image_vecs)
            row = {pid: n for n, pid in enumerate(photo_ids)}
            updates: list[tuple[int, float | None]] = []
            for n, lb in learnable:
                ds = by_label.get(lb.id, [])
                pos = [float(scores[row[pid], n]) for pid, yes in ds if yes]
                neg = [float(scores[row[pid], n]) for pid, yes in ds if not yes]
                if pos and neg:
                    t = best_threshold(pos, neg, base_threshold(ls))
                    updates.append((lb.id, t))
                    results.append(Calibration(ls.name, lb.name, t, len(pos), len(neg)))
                    log.info("calibrated %s|%s: %.4f from %d yes / %d no", ls.name, lb.name, t,
                             len(pos), len(neg))
                elif lb.calibrated:
                    updates.append((lb.id, None))
            if updates:
                self.store.set_calibration(updates)
        return results

    # -- one photo --------------------------------------------------------------------------

    def photo(self, path: str) -> Photo:
        return self.catalog.find_photo(path)

    def explain(self, photo_id: int, label_id: int) -> TagScore:
        """The numbers behind one label for one photo, tagged or not."""
        ls, label = self.store.label_by_id(label_id)
        vec = self.store.embedding(self.model, photo_id)
        if vec is None:
            raise NotFoundError("This photo has no embedding for the library's model yet: "
                                "run `photoclip index`.")
        sv = self.set_vectors(ls)
        sims, scores, passes = self.score(ls, vec[None, :], sv, [photo_id])
        n = next(i for i, lb in enumerate(ls.labels) if lb.id == label_id)
        threshold, source = effective_threshold(label, ls)
        per_template = sv.prompts[n] @ vec
        return TagScore(
            photo_id=photo_id, label_id=label.id, label=label.name, set_name=ls.name,
            similarity=float(sims[0, n]), score=float(scores[0, n]), threshold=threshold,
            threshold_source=source, floor=effective_floor(ls),
            best_in_set=int(scores[0].argmax()) == n, passes=bool(passes[0, n]),
            templates=tuple(TemplateScore(t, fill(t, label.name), float(s))
                            for t, s in zip(sv.templates, per_template, strict=True)),
        )

    def resolve(
        self, ref: str, create: bool = False, photo_id: int | None = None
    ) -> tuple[LabelSet, Label]:
        """One label from `LABEL` or `SET|LABEL`; with `create`, an unknown label becomes a
        hand-made tag. A name several sets share is read as the one `photo_id` is tagged with,
        else the one of an enabled set, when that leaves a single choice."""
        found = self.store.find_labels(ref)
        if len(found) > 1 and photo_id is not None:
            mine = {t.label_id for t in self.store.photo_tags(photo_id)}
            found = [f for f in found if f[1].id in mine] or found
        if len(found) > 1:
            found = [f for f in found if f[0].enabled] or found
        if len(found) == 1:
            return found[0]
        if found:
            names = ", ".join(f"'{s.name}|{lb.name}'" for s, lb in found)
            raise LabelSetError(f"{ref!r} is a label of several sets ({names}): say which, "
                                f"e.g. {names.split(', ')[0]}.")
        if create and "|" not in ref:
            return self.store.manual_label(ref)
        if "|" in ref:
            set_name, _, label_name = ref.partition("|")
            raise LabelSetError(f"No label {label_name.strip()!r} in a set "
                                f"{set_name.strip()!r}: see `photoclip labels list`.")
        raise LabelSetError(f"No label {ref!r}: see `photoclip labels list`, or set it by hand "
                            "with `photoclip tags set PHOTO LABEL`.")

    def set_tag(self, photo_id: int, ref: str) -> tuple[LabelSet, Label]:
        """The user says yes: a user tag, never removed by auto-tagging."""
        ls, label = self.resolve(ref, create=True, photo_id=photo_id)
        self.store.set_user_tag(photo_id, label.id)
        return ls, label

    def unset_tag(self, photo_id: int, ref: str) -> tuple[LabelSet, Label]:
        """The user says no: the tag goes and auto-tagging will not bring it back."""
        ls, label = self.resolve(ref, photo_id=photo_id)
        self.store.reject(photo_id, label.id)
        return ls, label

    def accept_tag(self, photo_id: int, ref: str) -> tuple[LabelSet, Label]:
        """Confirm an auto tag: kept even if later scores drop, and a "yes" for calibration."""
        ls, label = self.resolve(ref, photo_id=photo_id)
        if not self.store.accept(photo_id, label.id):
            raise LabelSetError(f"The photo has no auto tag {ls.name}|{label.name} to accept; "
                                "use `photoclip tags set PHOTO LABEL` to add it.")
        return ls, label

    def reset_tag(self, photo_id: int, ref: str) -> tuple[LabelSet, Label]:
        """Forget the tag and any decision on it: auto-tagging decides again."""
        ls, label = self.resolve(ref, photo_id=photo_id)
        self.store.forget(photo_id, label.id)
        return ls, label
