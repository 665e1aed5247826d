"""The probe families: seeded forced choices between a correct caption and a minimally changed
one, about generated scenes. Chance is 1/2 for every item.

Each family balances its answers: every relation, with/without, count pair, and the correct
caption's position among the two are equally often true, so a model that always picks the same
word or the first caption scores exactly chance.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from photoclip.core.probes.scenes import (
    COLOURS,
    SHAPES,
    Scene,
    Shape,
    pair_in_relation,
    plural,
    spread,
)

FAMILIES: tuple[str, ...] = ("spatial", "negation", "counting", "binding", "typographic")
CHANCE = 0.5
DEFAULT_ITEMS = 200  # per family: a 95% interval of about +-7 points around 50%
RELATIONS: tuple[str, ...] = ("left of", "right of", "above", "below")
OPPOSITE = {"left of": "right of", "right of": "left of", "above": "below", "below": "above"}
NUMBERS = ("one", "two", "three", "four or more")
COUNT_PAIRS: tuple[tuple[int, int], ...] = ((0, 1), (1, 2), (2, 3))  # indices into NUMBERS
RADIUS = 0.14  # of the picture's side: big enough to read at 32 px, small enough for 6 shapes
WHAT_IT_ASKS = {
    "spatial": "which object is left of, right of, above or below the other",
    "negation": "whether a second object is there (with / without)",
    "counting": "how many shapes there are (1, 2, 3, 4 or more)",
    "binding": "which colour goes with which shape",
    "typographic": "the shape drawn, against another shape's name written on it",
}
# What a user can type instead when the blind spot bites (docs/SEARCH.md says more).
WHAT_TO_DO = {
    "spatial": "search for both things and look: 'left of' and 'above' are mostly guessed",
    "negation": "exclude with a minus: 'beach -people', not 'beach without people'",
    "counting": "counts past one are guessed: search the thing, then use an album",
    "binding": "one colour per query ('red car'), then narrow with a filter or album",
    "typographic": "writing in a photo can outvote what is shown: check the photo itself",
}


@dataclass(frozen=True)
class ProbeItem:
    family: str
    group: str  # the finer question, e.g. "left of", "two vs three"
    captions: tuple[str, str]
    answer: int  # index of the correct caption
    scene: Scene

    @property
    def correct(self) -> str:
        return self.captions[self.answer]

    @property
    def foil(self) -> str:
        return self.captions[1 - self.answer]


def caption(text: str) -> str:
    return f"a photo of {text}."


def obj(colour: str, shape: str) -> str:
    return f"a {colour} {shape}"


def generate(family: str, n: int = DEFAULT_ITEMS, seed: int = 0) -> list[ProbeItem]:
    """n items of `family`, the same for the same (family, n, seed)."""
    if family not in FAMILIES:
        raise ValueError(f"unknown probe family {family!r}: one of {', '.join(FAMILIES)}")
    if n < 1:
        raise ValueError("a probe family needs at least one item")
    rng = np.random.default_rng([seed, FAMILIES.index(family)])
    make = _MAKERS[family]
    # The correct caption comes first in exactly half the items, in a seeded order.
    first = np.resize([0, 1], n)
    rng.shuffle(first)
    items = []
    for i in range(n):
        group, right, wrong, scene = make(rng, i)
        answer = int(first[i])
        captions = (right, wrong) if answer == 0 else (wrong, right)
        items.append(ProbeItem(family, group, captions, answer, scene))
    return items


def _two_objects(rng: np.random.Generator) -> tuple[str, str, str, str]:
    """Two objects differing in both colour and shape: (colour a, shape a, colour b, shape b)."""
    ca, cb = rng.choice(list(COLOURS), 2, replace=False)
    sa, sb = rng.choice(SHAPES, 2, replace=False)
    return str(ca), str(sa), str(cb), str(sb)


def _noise(rng: np.random.Generator) -> int:
    return int(rng.integers(0, 2**31))


Made = tuple[str, str, str, Scene]  # group, correct caption, foil, scene


def _spatial(rng: np.random.Generator, i: int) -> Made:
    relation = RELATIONS[i % len(RELATIONS)]
    ca, sa, cb, sb = _two_objects(rng)
    pa, pb = pair_in_relation(rng, relation, RADIUS)
    scene = Scene((Shape(sa, ca, *pa, RADIUS), Shape(sb, cb, *pb, RADIUS)), _noise(rng))
    right = caption(f"{obj(ca, sa)} {relation} {obj(cb, sb)}")
    wrong = caption(f"{obj(ca, sa)} {OPPOSITE[relation]} {obj(cb, sb)}")
    return relation, right, wrong, scene


def _negation(rng: np.random.Generator, i: int) -> Made:
    present = i % 2 == 0
    ca, sa, cb, sb = _two_objects(rng)
    places = spread(rng, 2, RADIUS)
    shapes = [Shape(sa, ca, *places[0], RADIUS)]
    if present:
        shapes.append(Shape(sb, cb, *places[1], RADIUS))
    with_, without = (caption(f"{obj(ca, sa)} {w} {obj(cb, sb)}") for w in ("with", "without"))
    if present:
        return "with", with_, without, Scene(tuple(shapes), _noise(rng))
    return "without", without, with_, Scene(tuple(shapes), _noise(rng))


def _counting(rng: np.random.Generator, i: int) -> Made:
    low, high = COUNT_PAIRS[(i // 2) % len(COUNT_PAIRS)]
    true, other = (low, high) if i % 2 == 0 else (high, low)
    count = true + 1 if true < 3 else int(rng.integers(4, 7))
    colour, shape = str(rng.choice(list(COLOURS))), str(rng.choice(SHAPES))
    r = RADIUS * 0.8
    scene = Scene(tuple(Shape(shape, colour, x, y, r) for x, y in spread(rng, count, r)),
                  _noise(rng))

    def says(k: int) -> str:
        return caption(f"{NUMBERS[k]} {colour} {shape if k == 0 else plural(shape)}")

    return f"{NUMBERS[low]} vs {NUMBERS[high]}", says(true), says(other), scene


def _binding(rng: np.random.Generator, i: int) -> Made:
    ca, sa, cb, sb = _two_objects(rng)
    places = spread(rng, 2, RADIUS)
    scene = Scene((Shape(sa, ca, *places[0], RADIUS), Shape(sb, cb, *places[1], RADIUS)),
                  _noise(rng))
    if i % 2:  # which object the caption names first
        ca, sa, cb, sb = cb, sb, ca, sa
    right = caption(f"{obj(ca, sa)} and {obj(cb, sb)}")
    wrong = caption(f"{obj(cb, sa)} and {obj(ca, sb)}")
    return "colour and shape", right, wrong, scene


def _typographic(rng: np.random.Generator, i: int) -> Made:
    shape = SHAPES[i % len(SHAPES)]
    written = str(rng.choice([s for s in SHAPES if s != shape]))
    colour = str(rng.choice(list(COLOURS)))
    r = 0.3
    x, y = (float(v) for v in rng.uniform(0.4, 0.6, 2))
    scene = Scene((Shape(shape, colour, x, y, r),), _noise(rng), text=written)
    return f"{shape} labelled {written}", caption(f"a {shape}"), caption(f"a {written}"), scene


_MAKERS: dict[str, Callable[[np.random.Generator, int], Made]] = {
    "spatial": _spatial, "negation": _negation, "counting": _counting,
    "binding": _binding, "typographic": _typographic,
}
