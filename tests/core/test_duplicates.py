from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import skimage
from PIL import Image

from photoclip.core import duplicates
from photoclip.core.duplicates import DuplicateFinder
from photoclip.core.library import Library

SKIMAGE_DATA = Path(skimage.__file__).parent / "data"
# Random weights put unrelated photos at cosine ~0.7-0.99 and copies of one photo at ~1.0;
# a trained CLIP spreads unrelated photos far lower, which is what the default is set for.
TINY_MODEL_THRESHOLD = 0.999


@pytest.fixture
def library(tmp_path, tiny_encoder):
    photos = tmp_path / "photos"
    (photos / "edits").mkdir(parents=True)
    cat = Image.open(SKIMAGE_DATA / "chelsea.png").convert("RGB")
    cat.save(photos / "cat.png")  # the original: most pixels, lossless
    cat.save(photos / "edits" / "cat-resaved.jpg", quality=60)
    cat.resize((cat.width // 2, cat.height // 2)).save(photos / "edits" / "cat-small.jpg")
    for name in ("astronaut.png", "coffee.png", "rocket.jpg", "camera.png"):
        shutil.copy(SKIMAGE_DATA / name, photos / name)
    lib = Library(tmp_path / "lib", encoder=tiny_encoder)
    lib.add_roots([str(photos)])
    list(lib.indexer().run())
    yield lib, photos
    lib.close()


def _groups(lib, photos_dir=None, threshold=TINY_MODEL_THRESHOLD):
    finder = DuplicateFinder(lib.catalog, lib.vectors, lib.encoder.model_id, lib.encoder.dim,
                             threshold=threshold, folder=photos_dir)
    steps = list(finder.run())
    assert steps[-1].finished
    return [[p.path for p in g] for g in finder.report.groups]


def test_copies_group_together_best_quality_first(library):
    lib, photos = library
    groups = _groups(lib)
    assert groups == [[str(photos / "cat.png"), str(photos / "edits" / "cat-resaved.jpg"),
                       str(photos / "edits" / "cat-small.jpg")]]
    assert all(Path(p).exists() for g in groups for p in g)  # nothing is ever deleted


def test_folder_limits_the_comparison(library):
    lib, photos = library
    assert _groups(lib, str(photos / "edits")) == [[
        str(photos / "edits" / "cat-resaved.jpg"), str(photos / "edits" / "cat-small.jpg")]]


def test_ann_path_finds_the_same_groups(library, monkeypatch):
    lib, _ = library
    exact = _groups(lib)
    assert len(exact) == 1
    monkeypatch.setattr(duplicates, "EXACT_LIMIT", 0)
    assert _groups(lib) == exact

