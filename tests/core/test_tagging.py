"""Auto-tagging mechanics: ensembles, softmax with "none of these", thresholds, calibration,
user tags and decisions, re-tagging from stored vectors, the indexer hook, label set files.

A tiny random CLIP tags nothing meaningfully, so most tests use a text encoder whose vectors the
test chooses (every number below is then known), and photos whose stored vectors are set by
hand; the real tiny CLIP proves the wiring (indexer hook, no image re-encoding).
"""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import skimage

from photoclip.core.catalog import Catalog
from photoclip.core.errors import LabelSetError, QueryError
from photoclip.core.library import Library
from photoclip.core.search import Filters, Searcher
from photoclip.core.tagging import (
    LabelSetSpec,
    LabelSpec,
    Tagger,
    TagStore,
    default_templates,
    load_set_file,
    save_set_file,
    shipped_sets,
)
from photoclip.core.tagging.labelsets import parse_set, read_list_file
from photoclip.core.tagging.scoring import (
    DEFAULT_MULTI_THRESHOLD,
    DEFAULT_THRESHOLD,
    best_threshold,
    decide,
    effective_threshold,
    ensemble,
    set_scores,
)
from photoclip.core.types import Label, LabelSet, PhotoRecord

SKIMAGE_DATA = Path(skimage.__file__).parent / "data"
DIM = 8
SCALE = 100.0


def unit(v: Sequence[float]) -> np.ndarray:
    a = np.asarray(v, dtype=np.float32)
    return a / np.linalg.norm(a)


def axis(i: int) -> np.ndarray:
    v = np.zeros(DIM, dtype=np.float32)
    v[i] = 1.0
    return v


class ChosenTextEncoder:
    """Text vectors chosen by the test: a prompt points along its label's axis, nudged by its
    template, so ensembles and scores have known values. Photos are never encoded here."""

    model_id = "chosen-clip"
    dim = DIM
    image_size = 64
    device = "cpu"
    logit_scale = SCALE

    def __init__(self, label_axes: dict[str, int]) -> None:
        self.label_axes = label_axes
        self.texts_encoded: list[str] = []

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        self.texts_encoded += list(texts)
        out = []
        for text in texts:
            label = max((lb for lb in self.label_axes if lb in text), key=len)
            nudge = axis(7) * (0.2 if "blurry" in text else -0.2)
            out.append(unit(axis(self.label_axes[label]) + nudge))
        return np.stack(out)

    def encode_images(self, batch: np.ndarray) -> np.ndarray:
        raise AssertionError("tagging must never re-encode a photo")

    def preprocess(self, image: object) -> np.ndarray:
        raise AssertionError("tagging must never decode a photo")


TEMPLATES = ("a photo of a {}.", "a blurry photo of a {}.")


def pets(**kw: object) -> LabelSetSpec:
    base: dict[str, object] = {"name": "pets", "templates": TEMPLATES,
                               "labels": tuple(LabelSpec(n) for n in ("cat", "dog", "rabbit"))}
    base.update(kw)
    return LabelSetSpec(**base)  # type: ignore[arg-type]


@pytest.fixture
def world(tmp_path):
    """A catalog whose photos have hand-set vectors, and a tagger over it."""
    catalog = Catalog(tmp_path / "catalog.sqlite3")
    root = catalog.add_root(str(tmp_path / "photos"))
    encoder = ChosenTextEncoder({"cat": 0, "dog": 1, "rabbit": 2, "car": 3})
    tagger = Tagger(catalog, encoder)  # type: ignore[arg-type]

    def add(name: str, vector: Sequence[float]) -> int:
        pid = catalog.upsert_photo(PhotoRecord(root.id, str(tmp_path / "photos" / name), 1, 1,
                                               name))
        catalog.put_embeddings(encoder.model_id, [pid], unit(vector)[None, :])
        return pid

    yield catalog, tagger, add
    catalog.close()


def tags_of(store: TagStore, pid: int) -> set[str]:
    """The photo's tags as a user sees them (rejected ones are not tags)."""
    return {t.label for t in store.photo_tags(pid) if t.accepted is not False}


def run(tagger: Tagger, *names: str) -> None:
    for _ in tagger.run(list(names) or None):
        pass


# -- scoring ----------------------------------------------------------------------------------


def test_ensemble_is_the_renormalised_mean_over_each_labels_templates():
    rng = np.random.default_rng(0)
    prompts = rng.normal(size=(3 * 4, DIM)).astype(np.float32)  # 3 labels x 4 templates
    got = ensemble(prompts, 3)
    units = prompts / np.linalg.norm(prompts, axis=1, keepdims=True)
    for lb in range(3):
        mean = units[lb * 4 : lb * 4 + 4].mean(axis=0)
        np.testing.assert_allclose(got[lb], mean / np.linalg.norm(mean), atol=1e-6)
    assert not np.allclose(got[0], got[1])  # averaged per label, not across labels


def test_tagger_ensembles_the_real_text_encoder_per_template(tmp_path, tiny_encoder):
    catalog = Catalog(tmp_path / "c.sqlite3")
    tagger = Tagger(catalog, tiny_encoder)
    ls = LabelSet(1, "pets", (Label(1, 1, "cat"), Label(2, 1, "dog")), templates=TEMPLATES)
    sv = tagger.set_vectors(ls)
    for n, name in enumerate(("cat", "dog")):
        each = tiny_encoder.encode_texts([t.replace("{}", name) for t in TEMPLATES])
        np.testing.assert_allclose(sv.prompts[n], each, atol=1e-5)
        mean = each.mean(axis=0)
        np.testing.assert_allclose(sv.labels[n], mean / np.linalg.norm(mean), atol=1e-5)
        assert not np.allclose(sv.labels[n], each[0], atol=1e-3)  # more than one template
    catalog.close()


def test_score_is_a_softmax_over_labels_and_none_of_these():
    labels = np.stack([axis(0), axis(1)])
    photo = unit([0.30, 0.25, 0, 0, 0, 0, 0, 1.0])
    sims, scores = set_scores(photo[None, :], labels, SCALE, floor=0.2)
    np.testing.assert_allclose(sims[0], [photo[0], photo[1]], atol=1e-6)
    logits = SCALE * np.array([sims[0, 0], sims[0, 1], 0.2])
    expected = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    np.testing.assert_allclose(scores[0], expected[:2], atol=1e-5)
    assert scores[0].sum() < 1.0  # the rest went to "none of these"


def test_a_photo_that_fits_no_label_gets_none_even_at_threshold_zero():
    labels = np.stack([axis(0), axis(1), axis(2)])
    fits_cat = unit([0.6, 0.3, 0, 0, 0, 0, 0, 0.74])
    fits_nothing = unit([0.05, 0.1, 0.08, 0.9, 0, 0, 0, 0.4])  # all below the 0.2 floor
    sims, scores = set_scores(np.stack([fits_cat, fits_nothing]), labels, SCALE, floor=0.2)
    passes = decide(sims, scores, np.zeros(3, dtype=np.float32), 0.2, multi_label=True)
    assert passes[0].tolist() == [True, True, False]  # threshold 0: labels above the floor
    assert not passes[1].any()
    assert scores[1].max() < 0.01  # "none of these" took the mass


def test_single_label_sets_tag_the_best_label_only_multi_label_sets_may_tag_several():
    labels = np.stack([axis(0), axis(1), axis(2)])
    cat_and_dog = unit([0.5, 0.497, 0.1, 0, 0, 0, 0, 0.7])
    sims, scores = set_scores(cat_and_dog[None, :], labels, SCALE, floor=0.2)
    low = np.full(3, 0.3, dtype=np.float32)
    assert decide(sims, scores, low, 0.2, multi_label=False)[0].tolist() == [True, False, False]
    assert decide(sims, scores, low, 0.2, multi_label=True)[0].tolist() == [True, True, False]
    high = np.full(3, 0.9, dtype=np.float32)
    assert not decide(sims, scores, high, 0.2, multi_label=False).any()


def test_threshold_precedence_label_then_set_then_default():
    single = LabelSet(1, "s", ())
    multi = LabelSet(1, "m", (), multi_label=True)
    assert effective_threshold(Label(1, 1, "a"), single) == (DEFAULT_THRESHOLD, "default")
    assert effective_threshold(Label(1, 1, "a"), multi) == (DEFAULT_MULTI_THRESHOLD, "default")
    with_set = LabelSet(1, "s", (), threshold=0.7)
    assert effective_threshold(Label(1, 1, "a"), with_set) == (0.7, "set")
    assert effective_threshold(Label(1, 1, "a", 0.4), with_set) == (0.4, "label")
    assert effective_threshold(Label(1, 1, "a", 0.45, True), with_set) == (0.45, "calibrated")


def test_best_threshold_lands_between_rejected_and_accepted_scores():
    t = best_threshold([0.8, 0.9, 0.95], [0.3, 0.6], base=0.5)
    assert 0.6 < t < 0.8
    assert t == pytest.approx(0.7)
    # Overlapping decisions: the fewest mistakes (one), nearest the base among equals.
    t = best_threshold([0.4, 0.8, 0.9], [0.3, 0.6], base=0.5)
    assert t == pytest.approx(0.35)
    assert sum(s < t for s in [0.4, 0.8, 0.9]) + sum(s >= t for s in [0.3, 0.6]) == 1
    with pytest.raises(ValueError, match="at least one"):
        best_threshold([0.9], [], base=0.5)


# -- tagging from the catalog -------------------------------------------------------------------


def test_tag_applies_thresholds_and_drops_auto_tags_that_no_longer_pass(world):
    catalog, tagger, add = world
    store = tagger.store
    cat = add("cat.jpg", [0.5, 0.1, 0.1, 0, 0, 0, 0, 0.8])
    unsure = add("unsure.jpg", [0.40, 0.37, 0.1, 0, 0, 0, 0, 0.8])
    car = add("car.jpg", [0.05, 0.05, 0.05, 0.9, 0, 0, 0, 0.4])
    store.save_set(pets())
    run(tagger)
    assert tags_of(store, cat) == {"cat"}
    assert tags_of(store, unsure) == {"cat"}
    assert tags_of(store, car) == set()  # "none of these"
    assert tagger.report.tagged == 2
    assert tagger.report.tags == 2
    assert catalog.last_job("tag")["state"] == "done"

    unsure_score = next(t.score for t in store.photo_tags(unsure))
    cat_score = next(t.score for t in store.photo_tags(cat))
    assert unsure_score < cat_score
    store.save_set(pets(threshold=(unsure_score + cat_score) / 2))
    run(tagger)
    assert tags_of(store, cat) == {"cat"}
    assert tags_of(store, unsure) == set()  # below the new threshold: removed
    assert tagger.report.removed == 1


def test_user_tags_and_decisions_survive_retagging(world):
    _, tagger, add = world
    store = tagger.store
    cat = add("cat.jpg", [0.5, 0.1, 0.1, 0, 0, 0, 0, 0.8])
    dog = add("dog.jpg", [0.1, 0.5, 0.1, 0, 0, 0, 0, 0.8])
    store.save_set(pets())
    run(tagger)
    assert tags_of(store, cat) == {"cat"}
    assert tags_of(store, dog) == {"dog"}

    tagger.set_tag(cat, "rabbit")  # the model would never say rabbit
    tagger.unset_tag(cat, "cat")  # a "no" to a tag the model keeps scoring high
    tagger.accept_tag(dog, "dog")
    tagger.set_tag(dog, "grandma")  # unknown label: a hand-made tag
    store.save_set(pets(threshold=0.999999))  # nothing passes any more
    run(tagger, "pets")
    assert tags_of(store, cat) == {"rabbit"}
    assert tags_of(store, dog) == {"dog", "grandma"}
    rows = {t.label: t for t in store.photo_tags(cat)}
    assert rows["rabbit"].source == "user"
    assert rows["cat"].accepted is False  # the rejection is remembered, not re-tagged

    tagger.reset_tag(cat, "cat")  # forget the decision: auto-tagging decides again
    store.save_set(pets())
    run(tagger, "pets")
    assert tags_of(store, cat) == {"cat", "rabbit"}


def test_rejecting_the_best_label_of_a_single_label_set_lets_the_next_one_in(world):
    _, tagger, add = world
    pid = add("dog.jpg", [0.5, 0.48, 0.1, 0, 0, 0, 0, 0.7])
    tagger.store.save_set(pets(threshold=0.0))
    run(tagger)
    assert tags_of(tagger.store, pid) == {"cat"}
    tagger.unset_tag(pid, "cat")
    run(tagger)
    assert tags_of(tagger.store, pid) == {"dog"}
    assert tagger.explain(pid, tagger.resolve("dog")[1].id).best_in_set is False  # still ranks 2nd


def test_accepting_needs_an_auto_tag(world):
    _, tagger, add = world
    cat = add("cat.jpg", [0.5, 0.1, 0.1, 0, 0, 0, 0, 0.8])
    tagger.store.save_set(pets())
    with pytest.raises(LabelSetError, match="no auto tag"):
        tagger.accept_tag(cat, "dog")


def test_calibration_moves_a_threshold_between_accepted_and_rejected_scores(world):
    _, tagger, add = world
    store = tagger.store
    # Cat-ness falling from clear to doubtful, against a constant dog/rabbit share.
    ids = [add(f"p{i}.jpg", [0.30 + 0.02 * i, 0.30, 0.05, 0, 0, 0, 0, 0.9]) for i in range(8)]
    store.save_set(pets(threshold=0.05))
    run(tagger)
    scores = {t.photo_id: t.score for pid in ids for t in store.photo_tags(pid)
              if t.label == "cat"}
    assert set(scores) >= set(ids[1:])  # a low threshold tags nearly all as cat

    for pid in ids[1:4]:
        tagger.unset_tag(pid, "cat")
    for pid in ids[5:]:
        tagger.accept_tag(pid, "cat")
    run(tagger)

    (cal,) = tagger.report.calibrated
    assert (cal.set_name, cal.label, cal.accepted, cal.rejected) == ("pets", "cat", 3, 3)
    highest_no = max(scores[pid] for pid in ids[1:4])
    lowest_yes = min(scores[pid] for pid in ids[5:])
    assert highest_no < cal.threshold < lowest_yes
    label = next(lb for lb in store.require_set("pets").labels if lb.name == "cat")
    assert label.calibrated
    assert label.threshold == pytest.approx(cal.threshold)
    # The learned threshold now decides the undecided photos: p4 sits between the two groups.
    assert ("cat" in tags_of(store, ids[4])) == (scores[ids[4]] >= cal.threshold)
    assert "cat" not in tags_of(store, ids[0])

    # Without its decisions, a label falls back to its set's threshold.
    for pid in ids[1:4]:
        tagger.reset_tag(pid, "cat")
    run(tagger)
    label = next(lb for lb in store.require_set("pets").labels if lb.name == "cat")
    assert not label.calibrated
    assert label.threshold is None


def test_calibration_never_overrides_a_threshold_the_user_set(world):
    _, tagger, add = world
    a = add("a.jpg", [0.5, 0.1, 0.1, 0, 0, 0, 0, 0.8])
    b = add("b.jpg", [0.4, 0.3, 0.1, 0, 0, 0, 0, 0.8])
    tagger.store.save_set(pets(labels=(LabelSpec("cat", 0.01), LabelSpec("dog"))))
    run(tagger)
    tagger.accept_tag(a, "cat")
    tagger.unset_tag(b, "cat")
    run(tagger)
    assert tagger.report.calibrated == []
    cat = tagger.store.require_set("pets").labels[0]
    assert (cat.threshold, cat.calibrated) == (0.01, False)


def test_changing_a_set_retags_from_stored_vectors_with_only_new_prompts_encoded(world):
    catalog, tagger, add = world
    encoder = tagger.encoder
    cat = add("cat.jpg", [0.5, 0.1, 0.1, 0, 0, 0, 0, 0.8])
    car = add("car.jpg", [0.05, 0.05, 0.05, 0.9, 0, 0, 0, 0.4])
    tagger.store.save_set(pets())
    run(tagger)
    assert len(encoder.texts_encoded) == 3 * len(TEMPLATES)

    encoder.texts_encoded.clear()
    tagger.store.save_set(pets(labels=(*pets().labels, LabelSpec("car"))))
    run(tagger)  # encode_images would raise: only the new label's prompts are encoded
    assert sorted(encoder.texts_encoded) == sorted(t.replace("{}", "car") for t in TEMPLATES)
    assert tags_of(tagger.store, car) == {"car"}
    assert tags_of(tagger.store, cat) == {"cat"}

    encoder.texts_encoded.clear()
    run(Tagger(catalog, encoder))  # a new process: prompt vectors come from the catalog
    assert encoder.texts_encoded == []


def test_editing_a_set_keeps_its_labels_tags_and_drops_removed_labels(world):
    _, tagger, add = world
    store = tagger.store
    cat = add("cat.jpg", [0.5, 0.1, 0.1, 0, 0, 0, 0, 0.8])
    first, created = store.save_set(pets())
    assert created
    tagger.set_tag(cat, "pets|dog")
    tagger.set_tag(cat, "pets|rabbit")
    second, created = store.save_set(pets(labels=(LabelSpec("Cat"), LabelSpec("rabbit"))))
    assert not created
    assert [lb.id for lb in second.labels] == [first.labels[0].id, first.labels[2].id]
    assert second.labels[0].name == "Cat"  # renamed in place, ids kept
    assert tags_of(store, cat) == {"rabbit"}  # dog left the set, with its tags


def test_tag_job_stops_between_batches_when_cancelled(world):
    catalog, tagger, add = world
    for i in range(6):
        add(f"p{i}.jpg", [0.5, 0.1, 0.1, 0, 0, 0, 0, 0.8])
    tagger.store.save_set(pets())
    tagger.batch_size = 2
    cancel = threading.Event()
    done = 0
    for p in tagger.run(cancel=cancel):
        done = p.done
        if p.done:
            cancel.set()
    assert done == 2
    assert tagger.report.photos == 2
    assert catalog.last_job("tag")["state"] == "cancelled"


def test_tagging_needs_a_label_set(world):
    _, tagger, _ = world
    with pytest.raises(LabelSetError, match="labels enable scenes"):
        run(tagger)
    with pytest.raises(LabelSetError, match="No label set named 'nope'"):
        run(tagger, "nope")


def test_why_reports_per_template_similarities_and_the_threshold(world):
    _, tagger, add = world
    photo = unit([0.5, 0.2, 0.1, 0, 0, 0, 0, 0.8])
    pid = add("cat.jpg", photo)
    tagger.store.save_set(pets(threshold=0.6))
    ls = tagger.store.require_set("pets")
    for label in ls.labels:
        why = tagger.explain(pid, label.id)
        prompts = tagger.encoder.encode_texts([t.replace("{}", label.name) for t in TEMPLATES])
        assert [t.template for t in why.templates] == list(TEMPLATES)
        assert [t.prompt for t in why.templates] == [t.replace("{}", label.name)
                                                     for t in TEMPLATES]
        np.testing.assert_allclose([t.similarity for t in why.templates], prompts @ photo,
                                   atol=1e-5)
        mean = prompts.mean(axis=0)
        assert why.similarity == pytest.approx(float(photo @ mean / np.linalg.norm(mean)),
                                               abs=1e-5)
        assert (why.threshold, why.threshold_source) == (0.6, "set")
        assert why.passes == (why.best_in_set and why.score >= 0.6
                              and why.similarity >= why.floor)
    assert tagger.explain(pid, ls.labels[0].id).passes  # cat, clearly


def test_search_tag_filter(world, tmp_path):
    catalog, tagger, add = world
    cat = add("cat.jpg", [0.5, 0.1, 0.1, 0, 0, 0, 0, 0.8])
    dog = add("dog.jpg", [0.1, 0.5, 0.1, 0, 0, 0, 0, 0.8])
    other = add("cat2.jpg", [0.5, 0.1, 0.1, 0, 0, 0, 0, 0.8])
    tagger.store.save_set(pets())
    run(tagger)
    tagger.unset_tag(other, "cat")  # a rejected tag is no tag
    assert catalog.filter_ids(tag="cat") == {cat}
    assert catalog.filter_ids(tag="PETS|Cat") == {cat}
    assert catalog.filter_ids(tag="pets/dog") == {dog}

    class Vectors:
        def search(self, vector, top, allowed):
            return [(i, 1.0) for i in sorted(allowed or [])][:top]

    searcher = Searcher(catalog, tagger.encoder, Vectors())  # type: ignore[arg-type]
    def tagged(tag: str) -> list[int]:
        return [h.photo_id for h in searcher.by_vector(axis(0), filters=Filters(tags=(tag,)))]

    assert tagged("cat") == [cat]
    assert tagged("rabbit") == []  # a label, but nothing tagged
    with pytest.raises(QueryError, match="No label 'unicorn'"):
        searcher.by_vector(axis(0), filters=Filters(tags=("unicorn",)))


def test_a_label_shared_by_two_sets_must_be_named_with_its_set(world):
    _, tagger, add = world
    pid = add("cat.jpg", [0.5, 0.1, 0.1, 0, 0, 0, 0, 0.8])
    tagger.store.save_set(pets())
    tagger.store.save_set(LabelSetSpec("zoo", (LabelSpec("cat"), LabelSpec("lion"))))
    with pytest.raises(LabelSetError, match="'pets\\|cat', 'zoo\\|cat'"):
        tagger.set_tag(pid, "cat")
    tagger.set_tag(pid, "zoo|cat")
    ls, label = tagger.unset_tag(pid, "cat")  # the one this photo has is meant
    assert (ls.name, label.name) == ("zoo", "cat")


# -- the real model: indexer hook, no re-encoding ------------------------------------------------


class CountingEncoder:
    """The tiny CLIP, counting how often photos are encoded."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.image_batches = 0

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    def encode_images(self, batch):
        self.image_batches += 1
        return self.inner.encode_images(batch)


@pytest.fixture
def photos(tmp_path) -> Path:
    root = tmp_path / "photos"
    root.mkdir()
    for name in ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg"):
        shutil.copy(SKIMAGE_DATA / name, root / name)
    return root


def test_new_photos_are_tagged_as_indexed_and_retagged_without_reencoding(
    tmp_path, tiny_encoder, photos
):
    encoder = CountingEncoder(tiny_encoder)
    lib = Library(tmp_path / "lib", encoder=encoder)
    store = TagStore(lib.catalog)
    # Floor -1 and threshold 0: with random weights, only the mechanics are under test.
    store.save_set(LabelSetSpec("things", (LabelSpec("cat"), LabelSpec("rocket")),
                                floor=-1.0, threshold=0.0))
    lib.add_roots([str(photos)])
    for _ in lib.indexer().run():
        pass
    ids = lib.catalog.embedding_ids(tiny_encoder.model_id).tolist()
    assert len(ids) == 4
    for pid in ids:  # single-label set: exactly its best label
        assert len([t for t in store.photo_tags(pid) if t.source == "auto"]) == 1
    batches = encoder.image_batches
    assert batches >= 1

    store.save_set(LabelSetSpec("things", (LabelSpec("cat"), LabelSpec("rocket"),
                                           LabelSpec("coffee")), floor=-1.0, threshold=0.0))
    tagger = lib.tagger()
    for _ in tagger.run():
        pass
    assert tagger.report.photos == 4
    assert encoder.image_batches == batches  # no photo was encoded again
    lib.close()


# -- label set files ----------------------------------------------------------------------------


def test_label_set_files_round_trip_as_yaml_and_json(tmp_path):
    spec = LabelSetSpec("pets", (LabelSpec("cat"), LabelSpec("dog", 0.4, True)),
                        templates=("a photo of my {}.",), threshold=0.6, floor=0.15,
                        multi_label=True, enabled=False)
    for name in ("pets.yaml", "pets.json"):
        path = save_set_file(spec, tmp_path / name)
        assert load_set_file(path) == spec
    assert json.loads((tmp_path / "pets.json").read_text())["labels"][0] == "cat"
    assert "labels import" in (tmp_path / "pets.yaml").read_text()  # tells the user what next


def test_a_bare_list_is_a_set_named_after_its_file(tmp_path):
    path = tmp_path / "places.yaml"
    path.write_text("- beach\n- mountain\n- beach\n- Mountain\n")
    spec = load_set_file(path)
    assert spec.name == "places"
    assert [lb.name for lb in spec.labels] == ["beach", "mountain"]  # repeats dropped


@pytest.mark.parametrize(("data", "message"), [
    ({"name": "x", "labels": ["a"], "templates": ["a photo"]}, "no {} where the label goes"),
    ({"name": "x", "labels": ["a|b"]}, "contains '|'"),
    ({"name": "x", "labels": ["a"], "treshold": 0.5}, "Unknown key.*treshold"),
    ({"name": "x", "labels": []}, "no 'labels'"),
    ({"name": "x", "labels": ["a"], "threshold": 1.5}, "outside 0..1"),
    ({"name": "x", "labels": ["a"], "floor": "high"}, "must be a number"),
    ({"name": "x", "labels": ["a"], "multi_label": "yes"}, "true or false"),
])
def test_malformed_label_sets_say_what_is_wrong(data, message):
    with pytest.raises(LabelSetError, match=message):
        parse_set(data)


def test_label_and_template_list_files(tmp_path):
    text = tmp_path / "labels.txt"
    text.write_text("# my pets\ncat\n\n  dog  \n")
    assert read_list_file(text, "labels") == ["cat", "dog"]
    broken = tmp_path / "broken.yaml"
    broken.write_text("labels: [cat, dog\n")
    with pytest.raises(LabelSetError, match="not valid YAML"):
        read_list_file(broken, "labels")


def test_default_sets_and_templates_ship_with_the_package():
    templates = default_templates()
    assert "a photo of a {}." in templates
    assert len(templates) >= 8
    sets = shipped_sets()
    assert set(sets) == {"scenes", "animals", "events", "documents"}
    assert sets["animals"].multi_label
    assert "screenshot" in [lb.name for lb in sets["documents"].labels]
    for spec in sets.values():
        assert len(spec.labels) >= 8
        assert all("{}" in t for t in spec.templates or templates)
