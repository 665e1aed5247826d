"""How sure before tagging: a label set's precision/coverage trade-off, scored as tagging scores
the set, and the set threshold it picks (`Library.thresholds`).

A threshold only means something on the scale it is applied on. Tagging scores a photo against
a set with the set's own prompt ensemble (its language's templates), a softmax over ALL the
set's labels and "none of these" at the model's logit scale (a sigmoid per label for SigLIP-style
models), a hard similarity floor, the user's rejections, and in a single-label set only the best
label may tag. So the scores here come from the tagger itself (`Tagger.score`, on the photos'
stored vectors): with every threshold at 0, the labels that pass are those the other rules
allow, and a photo's score is the best of their scores. A photo is then tagged at threshold t
exactly when that score is >= t (float32, as tagging compares), and the label it gets first is
the one that score belongs to.

The photos are those the user decided on: a label of the set set by hand or an accepted auto
tag (one per photo; rejections are honoured, as tagging honours them). The threshold is chosen
on every other one of them (by photo id) and measured on the rest, so the precision reported
was not chosen on the photos it is measured on. A label with a threshold of its own (set by
the user or learnt by calibration) keeps it: the set threshold is for the others, and the
figures measured count each label's own threshold where it has one.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from photoclip.core.errors import LabelSetError
from photoclip.core.tagging.labelsets import LabelSetSpec, check_threshold
from photoclip.core.types import LabelSet, Progress

if TYPE_CHECKING:
    from photoclip.core.library import Library
    from photoclip.core.tagging import Tagger

# Auto tags: by default a threshold that tags this share of photos (the most confident ones),
# which the user may move along the trade-off; the coverage points shown for it.
TAG_COVERAGE = 0.8
TRADEOFF_COVERAGES = (1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.3)
# Decided photos needed: half of them choose the threshold, the other half measure it, and a
# precision measured on fewer than 10 photos moves 10 points with each one.
MIN_DECIDED = 20
SCORE_BATCH = 2048  # photos scored per step (as tagging's batches)


def threshold_for(scores: np.ndarray, coverage: float) -> float:
    """The score at or above which `coverage` of the photos are."""
    if not len(scores):
        return 0.0
    ranked = np.sort(scores)[::-1]
    k = max(1, min(len(ranked), int(np.ceil(coverage * len(ranked)))))
    return float(ranked[k - 1])


@dataclass(frozen=True)
class SetTradeoff:
    """One set's trade-off on the user's decisions (see the module's docstring)."""

    set_name: str
    photos: int  # decided photos scored
    coverage_asked: float
    threshold: float  # chosen on the choosing half for `coverage_asked` (and measured)
    to_save: float  # chosen the same way on every decided photo: what `save` should get
    precision: float  # on the measuring half: tagged photos whose first label is the user's
    coverage: float  # on the measuring half: the share of photos tagged
    accuracy: float  # the best guess's precision on the measuring half (every photo)
    measured_on: int  # photos in the measuring half
    # (coverage asked, threshold, precision, coverage got) on every decided photo; the
    # thresholds unrounded (a score of a photo: rounded, it could leave that photo out)
    curve: list[list[float]]
    current: float  # the threshold the set's labels use now (the set's, else the default)
    own_thresholds: tuple[str, ...] = ()  # labels whose own threshold wins over the set's

    def as_dict(self) -> dict[str, Any]:
        return {k: round(v, 4) if isinstance(v, float) and k not in ("threshold", "to_save")
                else v for k, v in asdict(self).items()}


def open_set(label_set: LabelSet) -> LabelSet:
    """The set with every threshold at 0: what passes then is what the other rules allow."""
    return replace(label_set, threshold=0.0,
                   labels=tuple(replace(lb, threshold=None, calibrated=False)
                                for lb in label_set.labels))


def tagging_scores(tagger: Tagger, label_set: LabelSet, photo_ids: Sequence[int],
                   vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(label index, score) per photo: the label tagging gives it first and the score that must
    reach a threshold for it to be tagged (0 where no label may tag it at any threshold)."""
    _, scores, passes = tagger.score(open_set(label_set), vectors, photo_ids=photo_ids)
    allowed = np.where(passes, scores, np.float32(0)).astype(np.float32)
    return allowed.argmax(axis=1), allowed.max(axis=1)


def tagged_at(score: np.ndarray, first: np.ndarray, threshold: float,
              own: np.ndarray) -> np.ndarray:
    """Which photos tagging tags at this set threshold: each label's own threshold where it has
    one (NaN where not), compared in float32 as tagging compares."""
    per_label = np.where(np.isnan(own), threshold, own).astype(np.float32)
    return (score > 0) & (score >= per_label[first])


def pick_threshold(score: np.ndarray, coverage: float) -> float | None:
    """The threshold for `coverage`, never 0 (a photo no label may tag is never tagged, so past
    the share that can be tagged the lowest taggable score is the most coverage there is)."""
    taggable = score[score > 0]
    if not len(taggable):
        return None
    t = threshold_for(score, coverage)
    return t if t > 0 else float(taggable.min())


def tradeoff(set_name: str, truth: np.ndarray, first: np.ndarray, score: np.ndarray,
             own: np.ndarray, current: float, coverage: float = TAG_COVERAGE,
             own_names: tuple[str, ...] = ()) -> SetTradeoff:
    """The trade-off from each photo's user label (`truth`, a label index), the label tagging
    gives it first and its score (tagging_scores); photos in a stable order (by id)."""
    n = len(truth)
    right = first == truth
    choose, measure = np.arange(n) % 2 == 0, np.arange(n) % 2 == 1
    threshold = pick_threshold(score[choose], coverage)
    if threshold is None:
        raise LabelSetError(
            f"No photo you decided on in '{set_name}' passes the set's similarity floor, so no "
            "threshold can tag any: lower the floor, or check the labels' wording.")
    tagged = measure & tagged_at(score, first, threshold, own)
    curve = []
    for c in TRADEOFF_COVERAGES:
        t = pick_threshold(score, c)
        sel = tagged_at(score, first, t if t is not None else 1.0, own)
        curve.append([c, t or 0.0, round(float(right[sel].mean()) if sel.any()
                                                     else 0.0, 4), round(float(sel.mean()), 4)])
    return SetTradeoff(
        set_name=set_name, photos=n, coverage_asked=coverage, threshold=threshold,
        to_save=pick_threshold(score, coverage) or threshold,
        precision=float(right[tagged].mean()) if tagged.any() else 0.0,
        coverage=float(tagged.sum() / measure.sum()), accuracy=float(right[measure].mean()),
        measured_on=int(measure.sum()), curve=curve, current=current, own_thresholds=own_names)


class TradeoffJob:
    """Measure one set's trade-off on the user's decisions: run() yields Progress; `result`."""

    def __init__(self, tagger: Tagger, set_name: str, coverage: float = TAG_COVERAGE) -> None:
        self.tagger = tagger
        self.set_name = set_name
        self.coverage = check_coverage(coverage)
        self.result: SetTradeoff | None = None

    def run(self, cancel: threading.Event | None = None) -> Iterator[Progress]:
        from photoclip.core.tagging.scoring import base_threshold

        tagger, store = self.tagger, self.tagger.store
        ls = store.require_set(self.set_name)
        yield Progress("thresholds", 0, 0, message=f"reading your decisions on '{ls.name}'")
        column = {lb.id: n for n, lb in enumerate(ls.labels)}
        yes: dict[int, set[int]] = {}
        for d in store.decisions(list(column), tagger.model):
            if d.positive:
                yes.setdefault(d.photo_id, set()).add(column[d.label_id])
        ids = sorted(pid for pid, labels in yes.items() if len(labels) == 1)
        if len(ids) < MIN_DECIDED:
            raise LabelSetError(
                f"'{ls.name}' has {len(ids)} photos with one label you set or accepted (and a "
                f"vector of the library's model); choosing a threshold needs at least "
                f"{MIN_DECIDED}: half choose it, half measure it. Accept or set more of its "
                "tags first.")
        truth = np.array([next(iter(yes[pid])) for pid in ids], dtype=np.int64)
        yield Progress("thresholds", 0, len(ids), message="encoding the set's prompts")
        vectors = tagger.set_vectors(ls)  # may encode prompts: the text encoder, once
        first = np.zeros(len(ids), dtype=np.int64)
        score = np.zeros(len(ids), dtype=np.float32)
        dim = vectors.labels.shape[1]
        for start in range(0, len(ids), SCORE_BATCH):
            chunk = ids[start:start + SCORE_BATCH]
            images = tagger.catalog.get_embeddings(tagger.model, chunk, dim)
            first[start:start + len(chunk)], score[start:start + len(chunk)] = tagging_scores(
                tagger, ls, chunk, images)
            yield Progress("thresholds", start + len(chunk), len(ids), message="scoring")
            if cancel is not None and cancel.is_set():
                return
        own = np.array([np.nan if lb.threshold is None else lb.threshold for lb in ls.labels],
                       dtype=np.float64)
        self.result = tradeoff(ls.name, truth, first, score, own, base_threshold(ls),
                               self.coverage, tuple(lb.name for lb in ls.labels
                                                    if lb.threshold is not None))
        r = self.result
        yield Progress("thresholds", len(ids), len(ids), finished=True,
                       message=f"threshold {r.threshold:.3f}: precision {r.precision:.3f} at "
                               f"coverage {r.coverage:.0%} (best guess {r.accuracy:.3f})")


def check_coverage(value: float) -> float:
    if not 0.0 < value <= 1.0:
        raise LabelSetError(f"The coverage {value} is outside 0..1: it is the share of photos "
                            "to tag, e.g. 0.8.")
    return float(value)


class SetThresholds:
    """`Library.thresholds`: measure a set's trade-off (`measure(name).run()`), save a
    threshold to the set (`save`)."""

    def __init__(self, library: Library) -> None:
        self.library = library

    def measure(self, set_name: str, coverage: float = TAG_COVERAGE) -> TradeoffJob:
        """A job scoring the set's decided photos with the library's model (run() it)."""
        return TradeoffJob(self.library.tagger(), set_name, coverage)

    def save(self, set_name: str, threshold: float) -> LabelSet:
        """The set's threshold (what its labels without one of their own use); tags follow at
        the next re-tag."""
        store = self.library.label_sets
        ls = store.require_set(set_name)
        saved, _ = store.save_set(replace(LabelSetSpec.of(ls),
                                          threshold=check_threshold(threshold)))
        return saved
