from __future__ import annotations

import logging
import math
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from photoclip.core.encoder import ClipEncoder, resolve_device
from photoclip.core.errors import ModelLoadError

log = logging.getLogger(__name__)

# OpenAI CLIP's ids for "a photo of a cat" (open_clip's SimpleTokenizer gives the same).
CAT_PHOTO_IDS = [49406, 320, 1125, 539, 320, 2368, 49407]


def _noise_image(seed: int, size: tuple[int, int] = (96, 80), mode: str = "RGB") -> Image.Image:
    rng = np.random.default_rng(seed)
    channels = len(Image.new(mode, (1, 1)).getbands())
    shape = (size[1], size[0], channels) if channels > 1 else (size[1], size[0])
    return Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode)


def _gradient_image(width: int, height: int) -> Image.Image:
    """Smooth content, like a photo: resampling differences show up as they would in practice."""
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack(
        [255 * x / max(width - 1, 1), 255 * y / max(height - 1, 1), 127 + 100 * np.sin(x / 7.0)],
        axis=-1,
    )
    return Image.fromarray(rgb.clip(0, 255).astype(np.uint8), "RGB")


def _batch(encoder: ClipEncoder, images: list[Image.Image]) -> np.ndarray:
    return np.stack([encoder.preprocess(im) for im in images])


def _assert_unit_rows(vectors: np.ndarray, n: int, dim: int) -> None:
    assert vectors.shape == (n, dim)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


# -- tokenizer fixture -------------------------------------------------------------------------


def test_fixture_tokenizer_is_openai_clips(clip_tokenizer_dir: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(clip_tokenizer_dir))
    assert len(tokenizer) == 49408
    assert tokenizer("a photo of a cat")["input_ids"] == CAT_PHOTO_IDS
    assert tokenizer("A  Photo of a CAT")["input_ids"] == CAT_PHOTO_IDS  # CLIP lowercases
    assert tokenizer.model_max_length == 77


# -- loading -----------------------------------------------------------------------------------


def test_loads_from_a_saved_folder(tiny_encoder: ClipEncoder, tiny_clip_dir: Path) -> None:
    assert tiny_encoder.loaded
    assert tiny_encoder.model_id == str(tiny_clip_dir)
    assert tiny_encoder.dim == 32
    assert tiny_encoder.image_size == 64
    assert tiny_encoder.device == "cpu"
    # A fresh CLIP starts at logit_scale = ln(1/0.07).
    assert tiny_encoder.logit_scale == pytest.approx(1 / 0.07, rel=1e-4)


def test_relative_folder_gets_a_stable_absolute_id(
    tiny_clip_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tiny_clip_dir.parent)
    encoder = ClipEncoder(tiny_clip_dir.name)
    assert encoder.model_id == str(tiny_clip_dir)
    assert not encoder.loaded  # the constructor stays cheap


def test_loads_lazily_once_and_reports_progress(tiny_clip_dir: Path) -> None:
    messages: list[str] = []
    encoder = ClipEncoder(str(tiny_clip_dir), device="cpu", progress=messages.append)
    assert not encoder.loaded

    threads = [threading.Thread(target=encoder.load) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    encoder.load()

    assert encoder.loaded
    assert messages == [f"loading model {tiny_clip_dir} ...", "model ready on cpu"]


def test_loading_from_a_folder_prints_nothing(
    tiny_clip_dir: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    ClipEncoder(str(tiny_clip_dir), device="cpu").load()
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")  # CLI output and one-line errors stay clean


def test_first_use_loads_the_model(tiny_clip_dir: Path) -> None:
    encoder = ClipEncoder(str(tiny_clip_dir), device="cpu")
    vectors = encoder.encode_texts(["a dog"])
    assert encoder.loaded
    _assert_unit_rows(vectors, 1, 32)


def test_folder_without_preprocessor_config_uses_clip_defaults(
    tiny_clip_dir: Path, tiny_encoder: ClipEncoder, tmp_path: Path
) -> None:
    folder = tmp_path / "model"
    shutil.copytree(
        tiny_clip_dir, folder, ignore=shutil.ignore_patterns("preprocessor_config.json")
    )
    encoder = ClipEncoder(str(folder), device="cpu")
    assert encoder.image_size == 64  # the model's own input size, not a hard-coded 224
    image = _gradient_image(120, 90)
    # The tiny model's processor config holds the same values as OpenAI's defaults.
    np.testing.assert_allclose(encoder.preprocess(image), tiny_encoder.preprocess(image), atol=1e-6)


def test_missing_folder_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    with pytest.raises(ModelLoadError, match="does not exist") as info:
        ClipEncoder(str(missing)).load()
    assert str(missing) in str(info.value)


def test_folder_that_is_not_a_model_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a model", encoding="utf-8")
    with pytest.raises(ModelLoadError) as info:
        ClipEncoder(str(tmp_path), device="cpu").load()
    message = str(info.value)
    assert str(tmp_path) in message
    assert "save_pretrained" in message
    assert "\n" not in message


def test_unknown_hub_id_offline_says_how_to_fix_it() -> None:
    encoder = ClipEncoder("photoclip-tests/no-such-clip-model", device="cpu")
    with pytest.raises(ModelLoadError) as info:
        encoder.load()
    message = str(info.value)
    assert "'photoclip-tests/no-such-clip-model'" in message
    assert "--model" in message
    assert "\n" not in message  # one line, fit for stderr or a banner
    assert info.value.__cause__ is not None  # the real reason stays available to logs
    assert not encoder.loaded


def test_importing_the_module_does_not_import_torch() -> None:
    code = (
        "import sys, photoclip.core.encoder; "
        "heavy = [m for m in ('torch', 'transformers') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr


def test_torch_threads_setting_is_applied(
    tiny_clip_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    before = torch.get_num_threads()
    monkeypatch.setenv("PHOTOCLIP_TORCH_THREADS", "2")
    try:
        ClipEncoder(str(tiny_clip_dir), device="cpu").load()
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


# -- devices -----------------------------------------------------------------------------------


def _has_accelerator() -> bool:
    import torch

    mps = getattr(torch.backends, "mps", None)
    return torch.cuda.is_available() or bool(mps is not None and mps.is_available())


def test_auto_device_is_cpu_without_an_accelerator() -> None:
    if _has_accelerator():
        pytest.skip("this machine has a GPU")
    assert resolve_device("auto") == "cpu"
    assert resolve_device("cpu") == "cpu"


def test_cuda_without_a_gpu_is_a_load_error_with_the_fix() -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ModelLoadError, match="'cpu'"):
        resolve_device("cuda")


def test_unknown_device_is_a_load_error() -> None:
    with pytest.raises(ModelLoadError, match="tpu"):
        resolve_device("tpu")


def test_a_device_request_is_settled_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from photoclip.core.encoder.device import forget_resolved_devices

    real = torch.cuda.is_available
    asked: list[bool] = []

    def counting() -> bool:
        asked.append(True)
        return real()

    forget_resolved_devices()
    monkeypatch.setattr(torch.cuda, "is_available", counting)
    try:
        first = resolve_device("auto")
        assert [resolve_device("auto"), resolve_device(" AUTO ")] == [first, first]
        assert len(asked) == 1
    finally:
        forget_resolved_devices()


def test_torch_parts_hand_over_the_encoders_model_and_tokenizer(tiny_clip_dir: Path) -> None:
    from transformers import CLIPModel

    encoder = ClipEncoder(str(tiny_clip_dir), device="cpu")
    model, tokenizer = encoder.torch_parts()  # loads on demand
    assert encoder.loaded
    assert isinstance(model, CLIPModel)
    assert model.config.projection_dim == encoder.dim
    assert tokenizer(["a dog"])["input_ids"][0][0] == tokenizer.bos_token_id
    assert encoder.torch_parts() == (model, tokenizer)  # the same objects, not copies


def test_cuda_fp16_matches_cpu_fp32(tiny_clip_dir: Path, tiny_encoder: ClipEncoder) -> None:
    import torch

    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    gpu = ClipEncoder(str(tiny_clip_dir), device="cuda")
    assert gpu.device == "cuda"
    images = [_noise_image(seed) for seed in range(5)]
    texts = ["a photo of a cat", "a dog on a beach", "sunset"]

    gpu_images = gpu.encode_images(_batch(gpu, images))
    gpu_texts = gpu.encode_texts(texts)
    _assert_unit_rows(gpu_images, 5, 32)
    _assert_unit_rows(gpu_texts, 3, 32)
    cpu_images = tiny_encoder.encode_images(_batch(tiny_encoder, images))
    cpu_texts = tiny_encoder.encode_texts(texts)
    assert np.all(np.sum(gpu_images * cpu_images, axis=1) > 0.99)
    assert np.all(np.sum(gpu_texts * cpu_texts, axis=1) > 0.99)


# -- encoding ----------------------------------------------------------------------------------


def test_image_embeddings_are_unit_float32(tiny_encoder: ClipEncoder) -> None:
    batch = _batch(tiny_encoder, [_noise_image(seed) for seed in range(3)])
    assert batch.shape == (3, 3, 64, 64)
    assert batch.dtype == np.float32
    _assert_unit_rows(tiny_encoder.encode_images(batch), 3, 32)


def test_text_embeddings_are_unit_float32(tiny_encoder: ClipEncoder) -> None:
    texts = ["a photo of a cat", "dog", "", "a very long caption " * 60]  # last one > 77 tokens
    _assert_unit_rows(tiny_encoder.encode_texts(texts), 4, 32)


def test_empty_inputs_give_empty_results(tiny_encoder: ClipEncoder) -> None:
    assert tiny_encoder.encode_texts([]).shape == (0, 32)
    assert tiny_encoder.encode_images(np.zeros((0, 3, 64, 64), np.float32)).shape == (0, 32)


def test_wrong_image_batch_shape_is_rejected(tiny_encoder: ClipEncoder) -> None:
    with pytest.raises(ValueError, match="shape"):
        tiny_encoder.encode_images(np.zeros((2, 3, 32, 32), np.float32))


def test_batching_does_not_change_embeddings(tiny_encoder: ClipEncoder) -> None:
    assert tiny_encoder.batch_size < 11  # so the batch below really is split into chunks
    images = [_noise_image(seed, size=(60 + seed * 7, 90 - seed * 3)) for seed in range(11)]
    batch = _batch(tiny_encoder, images)
    together = tiny_encoder.encode_images(batch)
    alone = np.concatenate([tiny_encoder.encode_images(batch[i : i + 1]) for i in range(11)])
    np.testing.assert_allclose(together, alone, atol=1e-5)

    texts = [f"a photo of {n} cats" if n % 2 else "tree" for n in range(11)]
    together = tiny_encoder.encode_texts(texts)
    alone = np.concatenate([tiny_encoder.encode_texts([t]) for t in texts])
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_same_image_same_embedding_different_image_different(tiny_encoder: ClipEncoder) -> None:
    a, a_again, b = _noise_image(1), _noise_image(1), _noise_image(2)
    vectors = tiny_encoder.encode_images(_batch(tiny_encoder, [a, a_again, b]))
    np.testing.assert_array_equal(vectors[0], vectors[1])
    assert float(vectors[0] @ vectors[2]) < 0.9999

    texts = tiny_encoder.encode_texts(["a cat", "a cat", "a dog"])
    np.testing.assert_array_equal(texts[0], texts[1])
    assert float(texts[0] @ texts[2]) < 0.9999


def test_concurrent_search_and_preprocess_are_safe(tiny_encoder: ClipEncoder) -> None:
    """The GUI searches while the indexer's decode threads preprocess."""
    expected_text = tiny_encoder.encode_texts(["a cat", "a dog"])
    image = _noise_image(3)
    expected_pixels = tiny_encoder.preprocess(image)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(5):
                np.testing.assert_allclose(
                    tiny_encoder.encode_texts(["a cat", "a dog"]), expected_text, atol=1e-5
                )
                np.testing.assert_array_equal(tiny_encoder.preprocess(image), expected_pixels)
        except BaseException as exc:  # collected so the main thread can fail the test
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


# -- preprocessing -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("image", "max_diff"),
    [
        pytest.param(_gradient_image(640, 480), 1e-4, id="landscape"),
        pytest.param(_gradient_image(333, 517), 1e-4, id="portrait-odd"),
        pytest.param(_gradient_image(64, 64), 1e-4, id="exact-size"),
        pytest.param(_gradient_image(40, 25), 1e-4, id="smaller-than-model"),
        pytest.param(_noise_image(5, size=(300, 200)), 1e-4, id="noise"),
        pytest.param(_noise_image(6, size=(120, 90), mode="RGBA"), 1e-4, id="rgba"),
        pytest.param(_noise_image(7, size=(90, 120), mode="L"), 1e-4, id="greyscale"),
    ],
)
def test_preprocess_matches_clip_image_processor(
    tiny_encoder: ClipEncoder, tiny_clip_dir: Path, image: Image.Image, max_diff: float
) -> None:
    # The PIL backend is what CLIPImageProcessor falls back to without torchvision, and what
    # our PIL + numpy version reimplements.
    from transformers import CLIPImageProcessorPil

    processor = CLIPImageProcessorPil.from_pretrained(str(tiny_clip_dir))
    reference = processor(images=image, return_tensors="np")["pixel_values"][0]
    ours = tiny_encoder.preprocess(image)
    assert ours.shape == reference.shape == (3, 64, 64)
    assert ours.dtype == np.float32
    diff = float(np.abs(ours - reference).max())
    log.info("preprocess vs CLIPImageProcessorPil max abs diff: %g", diff)
    assert diff < max_diff
    assert math.isfinite(diff)
