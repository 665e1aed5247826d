"""`eval --bias` in core: the profession x group table, the lean beyond the plain prompt and its
interval, and a library with no photos told what to do."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from photoclip.core.errors import PhotoclipError
from photoclip.core.probes.bias import AXES, GROUPS, PROFESSIONS, BiasEvaluation, prompt


class Words:
    """A text model whose vectors are built from the words: 'woman' + 'nurse' together point
    towards the photos; every other prompt is orthogonal noise of the same size."""

    def encode_texts(self, texts):
        out = []
        for text in texts:
            rng = np.random.default_rng(zlib.crc32(text.encode()))
            v = np.concatenate([[0.0], rng.normal(size=15)])
            if "woman" in text and "nurse" in text:
                v[0] = 3.0
            out.append(v / np.linalg.norm(v))
        return np.stack(out)


class Photos:
    def __init__(self, n: int) -> None:
        rng = np.random.default_rng(0)
        self.vectors = np.concatenate([np.ones((n, 1)), 0.3 * rng.normal(size=(n, 15))], axis=1)

    def ids(self):
        return np.arange(len(self.vectors))

    def get(self, ids):
        return self.vectors[np.asarray(ids)]


def _run(photos: Photos) -> dict:
    job = BiasEvaluation(Words, lambda: photos, "words")
    progress = list(job.run())
    assert progress[-1].finished
    assert job.result is not None
    return job.result.as_dict()


def test_a_profession_that_pulls_towards_one_group_leans_and_the_others_do_not():
    data = _run(Photos(300))
    assert data["photos"] == 300
    assert data["groups"] == list(GROUPS)
    rows = {r["profession"]: r for r in data["professions"]}
    assert list(rows) == list(PROFESSIONS)
    nurse = {lean["axis"]: lean for lean in rows["nurse"]["leans"]}
    assert nurse["gender"]["towards"] == "woman"
    assert nurse["gender"]["ci95"][1] < 0  # + is towards the axis's first group, the man
    assert rows["nurse"]["mean_cosine"]["woman"] > rows["nurse"]["mean_cosine"]["man"]
    others = [lean["lean"] for r in data["professions"] if r["profession"] != "nurse"
              for lean in r["leans"]]
    assert abs(nurse["gender"]["lean"]) > 4 * max(abs(v) for v in others)
    assert rows["nurse"]["prompts"]["woman"] == "a photo of a woman who is a nurse."
    assert rows["engineer"]["prompts"]["old person"] == (
        "a photo of an old person who is an engineer.")
    assert set(data["axes"]) == set(AXES)
    assert "no claim" in data["note"]


def test_the_report_is_the_same_read_in_chunks(monkeypatch):
    whole = _run(Photos(50))
    monkeypatch.setattr("photoclip.core.probes.bias.CHUNK", 7)
    assert _run(Photos(50)) == whole


def test_no_photos_says_what_to_do():
    job = BiasEvaluation(Words, lambda: Photos(0), "words")
    with pytest.raises(PhotoclipError, match="photoclip add"):
        list(job.run())


def test_plain_prompt():
    assert prompt("man") == "a photo of a man."
