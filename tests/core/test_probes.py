"""The blind-spot probes: seeded, balanced forced choices whose two captions differ only in what
the family asks, scored with a Wilson interval; and what a model's answers do to the score."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from photoclip.core.probes import CHANCE, FAMILIES, ProbeEvaluation, generate, wilson
from photoclip.core.probes.families import COUNT_PAIRS, NUMBERS, RELATIONS


@pytest.mark.parametrize("family", FAMILIES)
def test_a_family_is_seeded_balanced_and_a_fair_coin(family):
    items = generate(family, 200, seed=3)
    assert len(items) == 200
    assert CHANCE == 0.5
    # The same seed gives the same items, pictures included; another seed other items.
    again = generate(family, 200, seed=3)
    assert [(i.captions, i.answer) for i in items] == [(i.captions, i.answer) for i in again]
    assert np.array_equal(np.asarray(items[7].scene.draw(48)), np.asarray(again[7].scene.draw(48)))
    assert [i.captions for i in generate(family, 200, seed=4)] != [i.captions for i in items]
    # The correct caption is first in exactly half: always picking one position scores chance.
    assert sum(i.answer for i in items) == 100
    # Every finer question, and every answer to it, comes equally often (within a cycle).
    asked = Counter(i.scene.shapes[0].shape if family == "typographic" else i.group
                    for i in items)
    assert max(asked.values()) - min(asked.values()) <= 2
    if family == "counting":  # within each pair, each count is the true one half the time
        answers = Counter((i.group, i.correct.split()[3]) for i in items)
        assert len(answers) == 6
        assert max(answers.values()) - min(answers.values()) <= 1
    for item in items:
        assert item.correct != item.foil
        assert item.correct.startswith("a photo of ")
        assert item.foil.startswith("a photo of ")


def _changed_words(a: str, b: str) -> list[tuple[str, str]]:
    return [(x, y) for x, y in zip(a.split(), b.split(), strict=True) if x != y]


def test_the_two_captions_differ_only_in_what_is_asked():
    for item in generate("spatial", 200):
        changed = _changed_words(item.correct, item.foil)
        assert len(changed) == 1
        assert {changed[0][0], changed[0][1]} in ({"left", "right"}, {"above", "below"})
    for item in generate("negation", 200):
        assert _changed_words(item.correct, item.foil) in ([("with", "without")],
                                                            [("without", "with")])
    for item in generate("binding", 200):
        # The same words, two colours exchanged.
        assert sorted(item.correct.split()) == sorted(item.foil.split())
        assert len(_changed_words(item.correct, item.foil)) == 2
    for item in generate("typographic", 200):
        assert len(_changed_words(item.correct, item.foil)) == 1
        assert item.scene.text == item.foil.split()[-1].rstrip(".")  # the foil is written on it
    numbers = {w for n in NUMBERS for w in n.split()}
    for item in generate("counting", 200):
        a, b = item.correct, item.foil
        for n in sorted(NUMBERS, key=len, reverse=True):
            a, b = a.replace(n, "N"), b.replace(n, "N")
        assert a.rstrip("s.") == b.rstrip("s.")  # only the number (and the plural) differs
        assert numbers & set(item.correct.split())


def test_the_pictures_show_what_the_correct_caption_says():
    for item in generate("spatial", 40):
        first, second = item.scene.shapes
        relation = next(r for r in RELATIONS if f" {r} " in item.correct)
        dx, dy = second.x - first.x, second.y - first.y
        assert {"left of": dx > 0, "right of": dx < 0, "above": dy > 0, "below": dy < 0}[relation]
    for item in generate("counting", 60):
        count = len(item.scene.shapes)
        said = next(k for k, n in enumerate(NUMBERS) if item.correct.startswith(f"a photo of {n} "))
        assert count == said + 1 if said < 3 else count >= 4
    for item in generate("negation", 40):
        assert len(item.scene.shapes) == (2 if " with " in item.correct else 1)
    assert {(lo, hi) for lo, hi in COUNT_PAIRS} == {(0, 1), (1, 2), (2, 3)}


def test_wilson_interval():
    low, high = wilson(100, 200)
    assert low == pytest.approx(0.431, abs=1e-3)
    assert high == pytest.approx(0.569, abs=1e-3)
    assert wilson(0, 10)[0] == 0.0
    assert wilson(10, 10)[1] == pytest.approx(1.0)
    assert wilson(0, 0) == (0.0, 1.0)


class _Oracle:
    """A stand-in model that 'sees' the answer: it embeds each picture as its correct caption
    (found by the picture's bytes), or always as the first caption (a position-biased model)."""

    image_size = 32

    def __init__(self, items, mode):
        self.mode = mode
        self.vocab: dict[str, int] = {}
        self.by_picture = {}
        for item in items:
            for c in item.captions:
                self.vocab.setdefault(c, len(self.vocab))
            key = np.asarray(item.scene.draw(32)).tobytes()
            self.by_picture[key] = item.correct if mode == "right" else item.captions[0]

    def preprocess(self, image):
        return np.asarray(image, dtype=np.uint8)

    def _one_hot(self, text):
        v = np.zeros(len(self.vocab), dtype=np.float32)
        v[self.vocab[text]] = 1.0
        return v

    def encode_texts(self, texts):
        return np.stack([self._one_hot(t) for t in texts])

    def encode_images(self, batch):
        return np.stack([self._one_hot(self.by_picture[p.tobytes()]) for p in batch])


@pytest.mark.parametrize(("mode", "expected"), [("right", 1.0), ("first", 0.5)])
def test_scores_follow_the_models_answers(mode, expected):
    families = ["spatial", "binding"]
    items = [i for f in families for i in generate(f, 40, seed=1)]
    job = ProbeEvaluation(_Oracle(items, mode), model_name="oracle", families=families,
                          items=40, seed=1)
    progress = list(job.run())
    assert progress[-1].finished
    assert progress[-1].done == progress[-1].total == 80
    report = job.result.as_dict()
    assert [f["family"] for f in report["families"]] == families
    for fam in report["families"]:
        assert fam["items"] == 40
        assert fam["accuracy"] == expected
        low, high = fam["ci95"]
        assert low <= expected <= high
        assert fam["chance"] == 0.5
    # The published reference sits beside the measurement, marked as not ours.
    assert report["families"][0]["reference"] == 0.5
    assert report["families"][1]["reference"] == 0.75
    assert "not measured here" in report["reference_source"]


def test_probes_on_a_real_tiny_clip_run_and_are_reproducible(tiny_encoder):
    def once():
        job = ProbeEvaluation(tiny_encoder, model_name="tiny", items=20, seed=5)
        list(job.run())
        return job.result.as_dict()

    first = once()
    assert [f["family"] for f in first["families"]] == list(FAMILIES)
    assert once() == first
    counting = first["families"][FAMILIES.index("counting")]
    assert {g["name"] for g in counting["groups"]} == {"one vs two", "two vs three",
                                                       "three vs four or more"}
    refs = {g["name"]: g["reference"] for g in counting["groups"]}
    assert refs["one vs two"] == 0.65
    assert refs["two vs three"] == 0.55
