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


def test_siglip_text_is_padded_to_64_tokens_without_a_mask(
        tiny_family_dir: Callable[[str], Path]) -> None:
    encoder = ClipEncoder(str(tiny_family_dir("siglip")), device="cpu")
    model, _tokenizer = encoder.torch_parts()
    seen: dict[str, object] = {}
    real = model.get_text_features

    def spy(**kwargs: object) -> object:
        seen.update(kwargs)
        return real(**kwargs)

    model.get_text_features = spy
    try:
        encoder.encode_texts(["a cat"])
    finally:
        del model.get_text_features
    assert tuple(seen["input_ids"].shape) == (1, 64)  # type: ignore[attr-defined]
    assert "attention_mask" not in seen
    assert encoder.scoring == "sigmoid"
    assert encoder.logit_bias == pytest.approx(float(model.logit_bias.item()))
    assert encoder.logit_scale == pytest.approx(float(model.logit_scale.exp().item()))


@pytest.mark.parametrize("family", ["chinese_clip", "siglip", "siglip2", "metaclip_2",
                                    "altclip"])
def test_chinese_text_is_tokenised_into_real_pieces(
        family: str, tiny_family_dir: Callable[[str], Path]) -> None:
    encoder = ClipEncoder(str(tiny_family_dir(family)), device="cpu")
    _, tokenizer = encoder.torch_parts()
    ids = tokenizer("海边的狗")["input_ids"]
    pieces = [i for i in ids if i not in tokenizer.all_special_ids]
    assert pieces, ids
    assert tokenizer.unk_token_id not in pieces
    a, b = encoder.encode_texts(["红色圆形", "蓝色方形"])
    assert not np.allclose(a, b)


def test_clip_family_scores_with_softmax_and_no_bias(tiny_encoder: ClipEncoder) -> None:
    assert tiny_encoder.family == "clip"
    assert tiny_encoder.scoring == "softmax"
    assert tiny_encoder.logit_bias is None


def _write_config(folder: Path, config: dict[str, object]) -> Path:
    import json

    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(config))
    return folder


@pytest.mark.parametrize(("config", "why"), [
    ({"model_type": "bert", "architectures": ["BertModel"]}, "family (bert) is not supported"),
    ({"model_type": "clip_vision_model"}, "no text encoder"),
    ({"model_type": "siglip_vision_model"}, "no text encoder"),
])
def test_an_unsupported_checkpoint_gets_one_line_naming_the_supported_families(
        tmp_path: Path, config: dict[str, object], why: str) -> None:
    from photoclip.core.errors import ModelLoadError

    folder = _write_config(tmp_path / "model", config)
    with pytest.raises(ModelLoadError) as exc:
        ClipEncoder(str(folder), device="cpu").load()
    message = str(exc.value)
    assert "\n" not in message
    assert why in message
    for title in ("CLIP", "SigLIP", "SigLIP 2", "MetaCLIP 2", "Chinese-CLIP", "AltCLIP"):
        assert title in message


def test_the_family_is_read_from_architectures_when_model_type_is_missing(tmp_path: Path) -> None:
    from photoclip.core.encoder.families import family_of_folder

    folder = _write_config(tmp_path / "model", {"architectures": ["ChineseCLIPModel"]})
    assert family_of_folder(folder, "x").name == "chinese_clip"


def _photos(root: Path) -> dict[str, Path]:
    root.mkdir()
    colours = {"red": (220, 20, 20), "blue": (20, 20, 220), "green": (20, 200, 20),
               "yellow": (230, 220, 20)}
    out = {}
    for name, rgb in colours.items():
        image = Image.new("RGB", (96, 72), rgb)
        image.paste((255, 255, 255), (30, 20, 60, 50))
        out[name] = root / f"{name}.jpg"
        image.save(out[name], quality=95)
    return out


@pytest.mark.parametrize("family", FAMILIES)
def test_each_family_indexes_searches_tags_and_reopens_in_a_library(
        family: str, tmp_path: Path, tiny_family_dir: Callable[[str], Path]) -> None:
    from photoclip.core.library import Library

    model = str(tiny_family_dir(family))
    photos = _photos(tmp_path / "photos")
    with Library(tmp_path / "lib", model=model, device="cpu") as lib:
        lib.add_roots([str(tmp_path / "photos")])
        list(lib.indexer().run())
        assert lib.catalog.count_photos() == len(photos)
        for query in ("a photo of a red square", "海边的狗"):
            hits = lib.searcher().search(query, top=10, cutoff=None)
            assert {Path(h.path).name for h in hits} == {p.name for p in photos.values()}
        lib.label_sets.define("宠物", labels="猫,狗", floor=-1.0, threshold=0.0,
                              multi_label=True)
        tagger = lib.tagger()
        list(tagger.run(["宠物"]))
        assert tagger.report.photos == len(photos)
        assert tagger.report.tags == 2 * len(photos)  # threshold 0: every label passes
        first = lib.searcher().search("猫", top=4, cutoff=None)
    # Reopened: the same model loads again and answers the same from the saved vectors.
    with Library(tmp_path / "lib", device="cpu") as lib:
        again = lib.searcher().search("猫", top=4, cutoff=None)
        assert [h.path for h in again] == [h.path for h in first]
        assert [h.score for h in again] == pytest.approx([h.score for h in first], abs=1e-5)


@pytest.mark.parametrize("family", FAMILIES)
def test_each_family_saves_and_reloads_with_the_same_embeddings(
        family: str, tmp_path: Path, tiny_family_dir: Callable[[str], Path]) -> None:
    encoder = ClipEncoder(str(tiny_family_dir(family)), device="cpu")
    model, tokenizer = encoder.torch_parts()
    out = tmp_path / "saved"
    model.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    import shutil

    shutil.copy(tiny_family_dir(family) / "preprocessor_config.json", out)
    again = ClipEncoder(str(out), device="cpu")
    texts = ["a dog on the beach", "海边的狗"]
    assert again.family == family
    assert np.allclose(again.encode_texts(texts), encoder.encode_texts(texts), atol=1e-5)
    pixels = encoder.preprocess(Image.new("RGB", (70, 90), (10, 120, 200)))[None]
    assert np.allclose(again.encode_images(pixels), encoder.encode_images(pixels), atol=1e-5)
