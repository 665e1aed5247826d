from __future__ import annotations

import json

import numpy as np
import pytest

from photoclip.core import fastpath
from photoclip.core import library as library_module
from photoclip.core.encoder import ClipEncoder
from photoclip.core.library import Library


@pytest.mark.parametrize("precision", ["bf16", "int8"])
def test_fast_path_embeddings_stay_within_cosine_099_of_fp32(tiny_clip_dir, tiny_encoder,
                                                             precision):
    fast = ClipEncoder(str(tiny_clip_dir), device="cpu", precision=precision)
    images = fastpath.calibration_images(8, tiny_encoder.image_size)
    batch = np.stack([tiny_encoder.preprocess(im) for im in images])
    ref = tiny_encoder.encode_images(batch)
    got = fast.encode_images(batch)
    assert fast.precision == precision
    assert got.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, rtol=1e-5)
    assert float(np.min(np.sum(ref * got, axis=1))) >= 0.99
    texts = ["a photo of a cat", "a red car"]
    cos_t = np.sum(tiny_encoder.encode_texts(texts) * fast.encode_texts(texts), axis=1)
    assert float(cos_t.min()) >= 0.99


def test_calibration_only_picks_a_path_that_matches_fp32(tiny_clip_dir, tiny_encoder):
    result = fastpath.calibrate(str(tiny_clip_dir), batch_size=4, min_seconds=0.05,
                                reference=tiny_encoder)
    assert set(result.images_per_s) <= {"bf16", "int8"}
    assert result.fp32_images_per_s > 0
    if result.choice != "fp32":
        assert result.min_cosine[result.choice] >= fastpath.MIN_COSINE
        assert result.speedup >= fastpath.MIN_SPEEDUP


def test_calibration_refuses_a_path_that_changes_results(tiny_clip_dir, tiny_encoder,
                                                         monkeypatch):
    monkeypatch.setattr(fastpath, "MIN_COSINE", 1.01)  # nothing can match this
    result = fastpath.calibrate(str(tiny_clip_dir), batch_size=4, min_seconds=0.05,
                                reference=tiny_encoder)
    assert result.choice == "fp32"
    assert result.speedup == 1.0


def _counting_measure(monkeypatch) -> list[str]:
    """fastpath.measure, quick, counting its calls."""
    calls: list[str] = []
    real = fastpath.measure

    def counting(model, batch_size=16, min_seconds=1.0, reference=None):
        calls.append(model)
        return real(model, batch_size=4, min_seconds=0.05, reference=reference)

    monkeypatch.setattr(library_module, "measure_fast_path", counting)
    return calls


def test_auto_precision_is_measured_once_and_remembered(tmp_path, tiny_clip_dir, monkeypatch):
    monkeypatch.delenv("PHOTOCLIP_PRECISION")
    calls = _counting_measure(monkeypatch)
    lib = Library(tmp_path / "lib", model=str(tiny_clip_dir))
    # Nothing waits for the measurement: the model works in fp32 until it has run.
    assert lib.cpu_precision() == "fp32"
    assert lib.encoder.precision == "fp32"
    assert calls == []
    assert lib.fast_path_unmeasured
    steps = list(lib.calibrate_fast_path())
    assert steps[-1].finished
    assert steps[-1].message.startswith("CPU fast path")
    first = lib.cpu_precision()
    assert not lib.fast_path_unmeasured
    assert list(lib.calibrate_fast_path()) == []  # once
    lib.close()
    saved = json.loads((tmp_path / "lib" / "settings.json").read_text())
    assert saved["fast_path"] == {str(tiny_clip_dir): first}
    lib = Library(tmp_path / "lib")
    assert lib.cpu_precision() == first
    assert lib.encoder.precision == first  # the next load uses it
    lib.close()
    assert len(calls) == 1
    # fp32 is one setting away
    lib = Library(tmp_path / "lib")
    lib.settings.precision = "fp32"
    assert lib.cpu_precision() == "fp32"
    assert not lib.fast_path_unmeasured
    lib.close()


def test_the_measurement_reuses_the_loaded_fp32_model(tmp_path, tiny_clip_dir, monkeypatch):
    monkeypatch.delenv("PHOTOCLIP_PRECISION")
    lib = Library(tmp_path / "lib", model=str(tiny_clip_dir))
    encoder = lib.encoder
    encoder.load()
    seen = []
    real = fastpath.measure

    def spy(model, batch_size=16, min_seconds=1.0, reference=None):
        seen.append(reference)
        return real(model, batch_size=4, min_seconds=0.05, reference=reference)

    monkeypatch.setattr(library_module, "measure_fast_path", spy)
    steps = list(lib.calibrate_fast_path())
    assert seen == [encoder]
    assert "loading" not in " ".join(p.message for p in steps)  # no second load of the model
    assert lib.encoder is encoder
    assert encoder.precision == "fp32"
    lib.close()


def test_a_fast_path_copy_leaves_the_fp32_encoder_as_it_was(tiny_encoder):
    images = fastpath.calibration_images(4, tiny_encoder.image_size)
    batch = np.stack([tiny_encoder.preprocess(im) for im in images])
    before = tiny_encoder.encode_images(batch)
    fast = tiny_encoder.at_precision("bf16")
    assert (fast.precision, fast.model_id) == ("bf16", tiny_encoder.model_id)
    assert float(np.min(np.sum(before * fast.encode_images(batch), axis=1))) >= 0.99
    assert tiny_encoder.precision == "fp32"
    np.testing.assert_array_equal(tiny_encoder.encode_images(batch), before)
    with pytest.raises(ValueError, match="fp32"):
        fast.at_precision("int8")


def test_a_second_library_on_this_machine_takes_the_measurement_of_the_first(
        tmp_path, tiny_clip_dir, monkeypatch):
    """The fast path is a property of the model and the machine: a new library does not index
    in fp32 and then spend ~10 s measuring again; other weights are measured again."""
    import shutil

    from photoclip.core import fastpath_memory

    monkeypatch.delenv("PHOTOCLIP_PRECISION")
    calls = _counting_measure(monkeypatch)
    first = Library(tmp_path / "first", model=str(tiny_clip_dir))
    list(first.calibrate_fast_path())
    choice = first.cpu_precision()
    first.close()
    assert len(calls) == 1
    assert fastpath_memory.cache_file().is_file()

    second = Library(tmp_path / "second", model=str(tiny_clip_dir))
    assert second.cpu_precision() == choice
    assert not second.fast_path_unmeasured
    assert second.encoder.precision == choice  # its first load already runs the fast path
    assert list(second.calibrate_fast_path()) == []
    second.close()
    # Asked before its model is set up (the window's idle check reads memory only), a library
    # finds the machine's choice when it comes to measure, and measures nothing.
    early = Library(tmp_path / "early", model=str(tiny_clip_dir))
    assert list(early.calibrate_fast_path()) == []
    assert not early.fast_path_unmeasured
    assert early.cpu_precision() == choice
    early.close()
    assert len(calls) == 1

    retrained = tmp_path / "retrained"
    shutil.copytree(tiny_clip_dir, retrained)
    third = Library(tmp_path / "third", model=str(retrained))
    assert third.cpu_precision() == "fp32"  # other files, other weights: measured on their own
    assert third.fast_path_unmeasured
    third.close()
    fastpath_memory.cache_file().write_text("{not json")  # a damaged cache: measure again
    fourth = Library(tmp_path / "fourth", model=str(tiny_clip_dir))
    assert fourth.cpu_precision() == "fp32"
    assert fourth.fast_path_unmeasured
    fourth.close()


def test_int8_quantises_the_loaded_model_without_a_second_fp32_copy(tiny_clip_dir):
    """Loading in int8 must not hold two fp32 models at once (peak memory at every load)."""
    import torch
    from transformers import CLIPModel

    from photoclip.core.encoder import to_cpu_precision

    model = CLIPModel.from_pretrained(str(tiny_clip_dir)).eval()
    quantised = to_cpu_precision(model, "int8")
    assert quantised is model
    linears = [m for m in quantised.modules() if type(m) is torch.nn.Linear]
    assert linears == []  # every Linear was replaced by its dynamically quantised kind
