"""Every supported model family loads, encodes English and Chinese text and photos, searches,
tags, saves and reloads: tiny random models with real tokenizers (issue 19)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from photoclip.core.encoder import ClipEncoder

FAMILIES = ("clip", "siglip", "siglip2", "metaclip_2", "chinese_clip", "altclip")


@pytest.fixture(params=FAMILIES)
def family_encoder(request: pytest.FixtureRequest,
                   tiny_family_dir: Callable[[str], Path]) -> tuple[str, ClipEncoder]:
    folder = tiny_family_dir(request.param)
    encoder = ClipEncoder(str(folder), device="cpu", batch_size=4)
    encoder.load()
    return request.param, encoder


def test_each_family_encodes_text_and_photos(family_encoder: tuple[str, ClipEncoder]) -> None:
    family, encoder = family_encoder
    assert encoder.family == family
    texts = encoder.encode_texts(["a photo of a red circle", "海边的狗", "a dog"])
    assert texts.shape == (3, encoder.dim)
    assert np.allclose(np.linalg.norm(texts, axis=1), 1.0, atol=1e-4)
    assert not np.allclose(texts[0], texts[2])
    image = Image.new("RGB", (100, 80), (200, 30, 30))
    pixels = encoder.preprocess(image)
    assert pixels.shape == (3, encoder.image_size, encoder.image_size)
    vectors = encoder.encode_images(np.stack([pixels, pixels]))
    assert vectors.shape == (2, encoder.dim)
    assert np.allclose(vectors[0], vectors[1], atol=1e-5)
