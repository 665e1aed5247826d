"""A label set's trade-off is measured on the scale tagging applies the set's threshold on: the
photos whose score passes a threshold are exactly those tagging tags when that threshold is
saved to the set (the set's templates, softmax with "none of these", floor, rejections)."""

from __future__ import annotations

import numpy as np
import pytest

from photoclip.core.errors import LabelSetError
from photoclip.core.evaluation import best_scores
from photoclip.core.set_tradeoff import (
    MIN_DECIDED,
    TradeoffJob,
    pick_threshold,
    tagging_scores,
)
from photoclip.core.tagging import LabelSpec
from tests.core.test_tagging import pets, run, tags_of, unit
from tests.core.test_tagging import world as world  # the fixture

LABELS = ("cat", "dog", "rabbit")


def _photos(add, n: int, seed: int = 0) -> list[tuple[int, int]]:
    """(photo id, its true label): leaning to their label's axis, a third of them between two
    labels, some fitting no label well (below the floor)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        label = int(rng.integers(0, 3))
        v = np.zeros(8)
        v[label] = rng.uniform(0.1, 0.55)
        if rng.random() < 0.35:  # between two labels: the best guess is often wrong
            v[(label + 1) % 3] = v[label] * rng.uniform(0.85, 1.1)
        v[7] = 0.8
        v[4] = rng.uniform(0, 0.3)
        out.append((add(f"p{i}.jpg", unit(v)), label))
    return out


def _decide(tagger, photos) -> None:
    for pid, label in photos:
        tagger.set_tag(pid, f"pets|{LABELS[label]}")


def test_a_threshold_passes_exactly_the_photos_tagging_tags_with_it(world):
    catalog, tagger, add = world
    store = tagger.store
    photos = _photos(add, 90)
    store.save_set(pets())
    ls = store.require_set("pets")
    ids = [pid for pid, _ in photos]
    tagger.unset_tag(ids[0], "pets|cat")  # rejections count as tagging counts them
    tagger.unset_tag(ids[1], "pets|dog")
    vectors = catalog.get_embeddings(tagger.model, ids, 8)
    first, score = tagging_scores(tagger, ls, ids, vectors)
    assert (score == 0).any()
    assert (score > 0).any()
    for coverage in (0.9, 0.6, 0.3):
        t = pick_threshold(score, coverage)
        store.save_set(pets(threshold=t))
        run(tagger, "pets")
        tagged = {pid: tags_of(store, pid) for pid in ids}
        expected = {pid for pid, s in zip(ids, score, strict=True) if s >= np.float32(t)}
        assert {pid for pid, tags in tagged.items() if tags} == expected
        for n, pid in enumerate(ids):
            if pid in expected:
                assert tagged[pid] == {LABELS[first[n]]}

    # The albums-scale score (softmax over the labels alone, no "none of these", no floor)
    # passes other photos at the same threshold: saved to the set it would mean something else.
    sv = tagger.set_vectors(ls)
    _, album_score = best_scores(vectors, sv.labels, tagger.logit_scale)
    assert {pid for pid, s in zip(ids, album_score, strict=True) if s >= t} != expected


def test_the_job_chooses_on_half_the_decisions_and_measures_on_the_other(world):
    _, tagger, add = world
    photos = _photos(add, 80, seed=1)
    tagger.store.save_set(pets())
    _decide(tagger, photos)
    job = TradeoffJob(tagger, "pets", 0.6)
    steps = list(job.run())
    assert steps[-1].finished
    r = job.result
    assert r is not None
    assert r.photos == 80
    assert r.measured_on == 40
    assert r.current == pytest.approx(0.5)  # the single-label default, until one is saved
    assert 0 < r.threshold <= 1
    assert 0.4 <= r.coverage <= 0.8
    assert r.accuracy < 1.0  # the best guess is wrong on some photos between two labels
    assert r.precision > r.accuracy  # fewer tags, more often right
    assert next(c for c, *_ in r.curve) == 1.0
    assert r.curve[0][3] < 1.0  # photos below the floor are never tagged, at any threshold
    assert r.own_thresholds == ()


def test_too_few_decisions_are_refused_and_own_thresholds_are_named(world):
    _, tagger, add = world
    photos = _photos(add, MIN_DECIDED + 2, seed=2)
    tagger.store.save_set(pets())
    _decide(tagger, photos[: MIN_DECIDED - 1])
    with pytest.raises(LabelSetError, match=f"at least {MIN_DECIDED}"):
        list(TradeoffJob(tagger, "pets").run())
    _decide(tagger, photos[MIN_DECIDED - 1:])
    tagger.store.save_set(pets(labels=(LabelSpec("cat", 0.9), LabelSpec("dog"),
                                       LabelSpec("rabbit"))))
    job = TradeoffJob(tagger, "pets")
    list(job.run())
    assert job.result is not None
    assert job.result.own_thresholds == ("cat",)
    with pytest.raises(LabelSetError, match="coverage"):
        TradeoffJob(tagger, "pets", 1.5)


def test_a_threshold_near_one_is_not_shown_as_one():
    """A confident model's softmax scores crowd near 1: its threshold must not read 1.000
    ("tag nothing") when it tags most photos."""
    from photoclip.core.api import threshold_text

    assert threshold_text(0.5) == "0.500"
    assert threshold_text(0.99996) == "0.99996"
    assert threshold_text(0.9994) == "0.999"
    assert threshold_text(1.0) == "1.000"
    assert threshold_text(0.9999999999) == "0.999999"  # below 1, though 6 digits would round up
