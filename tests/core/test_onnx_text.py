"""A cold text query without torch (issue 23): the text tower's ONNX export gives the model's
own embedding, and anything wrong with it falls back to torch; the logit scale comes from the
model's file without loading it."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from photoclip.core.encoder import ClipEncoder
from photoclip.core.encoder.header import scoring_from_folder
from photoclip.core.encoder.onnx_text import export_dir

pytest.importorskip("onnxruntime")

TEXTS = ["a dog", "a photo of a red car parked by the sea at night", "word " * 120, "海边的狗",
         ""]


@pytest.fixture(autouse=True)
def _export_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PHOTOCLIP_TEXT_ONNX", raising=False)  # the suite turns it off


@pytest.fixture
def model_copy(tiny_clip_dir: Path, tmp_path: Path) -> Path:
    """A copy of the tiny CLIP that a test may change."""
    return Path(shutil.copytree(tiny_clip_dir, tmp_path / "model"))


def _exported(model: Path, root: Path) -> np.ndarray:
    """Load the model (which exports its text tower under `root`); torch's embeddings."""
    warm = ClipEncoder(str(model), device="cpu", text_export=root)
    warm.load()
    assert (export_dir(root, warm.model_id) / "text.onnx").is_file()
    return warm.encode_texts(TEXTS)


def _edit_meta(folder: Path, edit: Callable[[dict], object]) -> None:
    """Change an export's meta.json in place, as another version or a fault would have."""
    meta = json.loads((folder / "meta.json").read_text())
    edit(meta)
    (folder / "meta.json").write_text(json.dumps(meta))


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.asarray((a * b).sum(axis=1))


@pytest.mark.parametrize("family", ["clip", "chinese_clip", "metaclip_2", "altclip"])
def test_a_cold_encoder_answers_text_from_the_export_as_torch_would(
        family: str, tiny_family_dir: Callable[[str], Path], tmp_path: Path) -> None:
    model = tiny_family_dir(family)
    root = tmp_path / "text-onnx"
    reference = _exported(model, root)

    cold = ClipEncoder(str(model), device="cpu", text_export=root)
    got = cold.encode_texts(TEXTS)
    assert not cold.loaded  # torch never ran the model in this encoder
    assert got.shape == reference.shape
    assert cold.dim == reference.shape[1]
    assert _cosines(got, reference).min() >= 0.999
    # Rankings follow: the same text is nearest to itself either way.
    assert (np.argmax(got @ reference.T, axis=1) == np.arange(len(TEXTS))).all()


def test_a_model_without_a_fast_tokenizer_is_not_exported_and_torch_answers(
        tiny_family_dir: Callable[[str], Path], tmp_path: Path) -> None:
    # The tiny SigLIP ships only SentencePiece's spiece.model (no tokenizer.json): a cold
    # query cannot tokenise it without transformers, so torch answers, as before.
    model = tiny_family_dir("siglip")
    root = tmp_path / "text-onnx"
    warm = ClipEncoder(str(model), device="cpu", text_export=root)
    reference = warm.encode_texts(TEXTS)
    assert not (export_dir(root, warm.model_id) / "text.onnx").exists()
    cold = ClipEncoder(str(model), device="cpu", text_export=root)
    assert _cosines(cold.encode_texts(TEXTS), reference).min() >= 0.999
    assert cold.loaded


def test_a_changed_model_makes_the_export_stale_and_torch_answers(
        model_copy: Path, tmp_path: Path) -> None:
    root = tmp_path / "text-onnx"
    reference = _exported(model_copy, root)
    later = os.stat(model_copy / "model.safetensors").st_mtime_ns + 5_000_000_000
    os.utime(model_copy / "model.safetensors", ns=(later, later))  # saved over (retrained)

    cold = ClipEncoder(str(model_copy), device="cpu", text_export=root)
    assert cold.onnx_text() is None
    got = cold.encode_texts(TEXTS)
    assert cold.loaded  # fell back to torch ...
    assert _cosines(got, reference).min() >= 0.999
    # ... and that load exported it again, so the next cold query is quick once more.
    again = ClipEncoder(str(model_copy), device="cpu", text_export=root)
    again.encode_texts(["a dog"])
    assert not again.loaded


@pytest.mark.parametrize("damage", ["garbage", "wrong answer", "missing"])
def test_a_broken_or_missing_export_falls_back_to_torch(
        damage: str, tiny_clip_dir: Path, tmp_path: Path) -> None:
    root = tmp_path / "text-onnx"
    reference = _exported(tiny_clip_dir, root)
    folder = export_dir(root, str(tiny_clip_dir))
    if damage == "garbage":
        (folder / "text.onnx").write_bytes(b"not a model" * 100)
    elif damage == "wrong answer":
        # as if the graph computed something else
        _edit_meta(folder, lambda m: m.update(probe=[-x for x in m["probe"]]))
    else:
        shutil.rmtree(folder)

    cold = ClipEncoder(str(tiny_clip_dir), device="cpu", text_export=root)
    got = cold.encode_texts(TEXTS)
    assert cold.loaded
    assert _cosines(got, reference).min() >= 0.999


def test_without_an_export_folder_the_encoder_is_torch_only(tiny_clip_dir: Path) -> None:
    enc = ClipEncoder(str(tiny_clip_dir), device="cpu")
    assert enc.onnx_text() is None
    enc.encode_texts(["a dog"])
    assert enc.loaded


@pytest.mark.parametrize("family", ["clip", "siglip"])
def test_the_logit_scale_and_bias_come_from_the_file_without_loading(
        family: str, tiny_family_dir: Callable[[str], Path]) -> None:
    model = tiny_family_dir(family)
    cold = ClipEncoder(str(model), device="cpu")
    scale, bias, scoring = cold.logit_scale, cold.logit_bias, cold.scoring
    assert not cold.loaded
    loaded = ClipEncoder(str(model), device="cpu")
    loaded.load()
    assert scale == pytest.approx(loaded.logit_scale, rel=1e-6)
    assert scoring == loaded.scoring
    if family == "siglip":
        assert bias == pytest.approx(loaded.logit_bias, rel=1e-6)
    else:
        assert bias is None


def test_a_bf16_model_reports_the_files_scale_not_a_rounded_one(tiny_clip_dir: Path) -> None:
    on_disk = scoring_from_folder(tiny_clip_dir, str(tiny_clip_dir))
    assert on_disk is not None
    bf16 = ClipEncoder(str(tiny_clip_dir), device="cpu", precision="bf16")
    bf16.load()
    # Scores while indexing (loaded) and when listing tags (not loaded) must agree.
    assert bf16.logit_scale == pytest.approx(on_disk.logit_scale, rel=1e-6)


def test_a_folder_without_safetensors_loads_the_model_for_the_scale(
        model_copy: Path) -> None:
    import torch
    from safetensors.torch import load_file

    torch.save(load_file(str(model_copy / "model.safetensors")), model_copy / "pytorch_model.bin")
    (model_copy / "model.safetensors").unlink()
    assert scoring_from_folder(model_copy, str(model_copy)) is None
    enc = ClipEncoder(str(model_copy), device="cpu")
    assert enc.logit_scale == pytest.approx(1 / 0.07, rel=1e-4)
    assert enc.loaded


def test_photoclip_text_onnx_0_turns_the_export_off(
        tiny_clip_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "text-onnx"
    _exported(tiny_clip_dir, root)
    monkeypatch.setenv("PHOTOCLIP_TEXT_ONNX", "0")
    cold = ClipEncoder(str(tiny_clip_dir), device="cpu", text_export=root)
    assert cold.onnx_text() is None
    cold.encode_texts(["a dog"])
    assert cold.loaded


def test_an_export_killed_half_way_is_cleared_by_the_next(tiny_clip_dir: Path,
                                                         tmp_path: Path) -> None:
    root = tmp_path / "text-onnx"
    target = export_dir(root, str(tiny_clip_dir))
    dead = 2**22 + 12345  # above Linux's default pid_max: no such process
    leftover = root / f".{target.name}.{dead}.tmp"
    leftover.mkdir(parents=True)
    (leftover / "text.onnx").write_bytes(b"half")
    _exported(tiny_clip_dir, root)
    assert not leftover.exists()
    assert sorted(p.name for p in root.iterdir()) == [target.name]


def test_many_prompts_are_encoded_in_batches_with_the_same_result(tiny_clip_dir: Path,
                                                                   tmp_path: Path) -> None:
    root = tmp_path / "text-onnx"
    _exported(tiny_clip_dir, root)
    prompts = [f"a photo of thing number {i}" for i in range(11)]
    small = ClipEncoder(str(tiny_clip_dir), device="cpu", batch_size=4, text_export=root)
    whole = ClipEncoder(str(tiny_clip_dir), device="cpu", batch_size=64, text_export=root)
    a, b = small.encode_texts(prompts), whole.encode_texts(prompts)
    assert not small.loaded
    assert not whole.loaded
    assert a.shape == (11, small.dim)
    assert _cosines(a, b).min() >= 0.9999
    assert small.encode_texts([]).shape == (0, small.dim)


def test_the_windows_export_runs_in_a_child_and_serves_the_next_cold_query(
        tmp_path, tiny_clip_dir, monkeypatch):
    """The window's process hands the text tower's export to a child process (an export held
    the interpreter lock ~1 s, freezing the window); the export it writes serves a fresh
    encoder's text queries without torch."""
    import photoclip.core.encoder.clip as clip_module
    from photoclip.core.encoder.clip import ClipEncoder

    monkeypatch.delenv("PHOTOCLIP_TEXT_ONNX", raising=False)
    in_process: list[str] = []
    monkeypatch.setattr(clip_module, "export_text",
                        lambda *a, **k: in_process.append("export") or False)
    target = tmp_path / "text-onnx"
    enc = ClipEncoder(str(tiny_clip_dir), device="cpu", text_export=target,
                      export_in_child=True)
    enc.load()
    assert in_process == []  # not in this process
    assert enc.export_child is not None
    assert enc.export_child.wait(timeout=300) == 0
    fresh = ClipEncoder(str(tiny_clip_dir), device="cpu", text_export=target)
    onnx = fresh.onnx_text()
    assert onnx is not None  # current and correct: a cold query runs without torch
    assert not fresh.loaded


def test_the_export_keeps_its_weights_beside_a_small_graph(tiny_clip_dir: Path,
                                                           tmp_path: Path) -> None:
    # A cold query maps the weights instead of parsing them out of one big protobuf.
    root = tmp_path / "text-onnx"
    _exported(tiny_clip_dir, root)
    folder = export_dir(root, str(tiny_clip_dir))
    weights = (folder / "text.onnx.data").stat().st_size
    assert weights > 10 * (folder / "text.onnx").stat().st_size


@pytest.mark.parametrize("damage", ["weights missing", "weights cut short"])
def test_an_export_with_damaged_weights_falls_back_to_torch(
        damage: str, tiny_clip_dir: Path, tmp_path: Path) -> None:
    root = tmp_path / "text-onnx"
    reference = _exported(tiny_clip_dir, root)
    weights = export_dir(root, str(tiny_clip_dir)) / "text.onnx.data"
    if damage == "weights missing":
        weights.unlink()
    else:
        weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    cold = ClipEncoder(str(tiny_clip_dir), device="cpu", text_export=root)
    got = cold.encode_texts(TEXTS)
    assert cold.loaded
    assert _cosines(got, reference).min() >= 0.999


def test_an_export_in_the_former_layout_is_replaced_at_the_next_load(
        tiny_clip_dir: Path, tmp_path: Path) -> None:
    # Exports written before the weights moved out (format 1, one text.onnx) are not opened;
    # the first load of the model writes the new layout.
    root = tmp_path / "text-onnx"
    _exported(tiny_clip_dir, root)
    folder = export_dir(root, str(tiny_clip_dir))
    _edit_meta(folder, lambda m: m.update(format=1))
    (folder / "text.onnx.data").unlink()
    cold = ClipEncoder(str(tiny_clip_dir), device="cpu", text_export=root)
    cold.encode_texts(["a dog"])
    assert cold.loaded  # torch answered, and exported again
    again = ClipEncoder(str(tiny_clip_dir), device="cpu", text_export=root)
    again.encode_texts(["a dog"])
    assert not again.loaded
    assert (folder / "text.onnx.data").is_file()


def _probes_on_open(model: Path, root: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[int, bool]:
    """How many times a cold encoder's opening of the export ran the text tower, and whether
    it got a usable export."""
    from photoclip.core.encoder.onnx_text import OnnxText

    calls = []
    real = OnnxText.encode_texts

    def counting(self: OnnxText, texts: list[str]) -> np.ndarray:
        calls.append(texts)
        return real(self, texts)

    monkeypatch.setattr(OnnxText, "encode_texts", counting)
    found = ClipEncoder(str(model), device="cpu", text_export=root).onnx_text() is not None
    monkeypatch.setattr(OnnxText, "encode_texts", real)
    return len(calls), found


def test_files_the_probe_passed_are_opened_without_probing_again(
        tiny_clip_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "text-onnx"
    _exported(tiny_clip_dir, root)  # the export itself was probed
    assert _probes_on_open(tiny_clip_dir, root, monkeypatch) == (0, True)
    # Weights written over (same bytes, a new time): probed again, then trusted again.
    weights = export_dir(root, str(tiny_clip_dir)) / "text.onnx.data"
    later = weights.stat().st_mtime_ns + 5_000_000_000
    os.utime(weights, ns=(later, later))
    assert _probes_on_open(tiny_clip_dir, root, monkeypatch) == (1, True)
    assert _probes_on_open(tiny_clip_dir, root, monkeypatch) == (0, True)


def test_another_onnxruntime_probes_the_export_again(
        tiny_clip_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "text-onnx"
    _exported(tiny_clip_dir, root)
    checked = export_dir(root, str(tiny_clip_dir)) / "checked.json"
    stamp = json.loads(checked.read_text())
    stamp["onnxruntime"] = "0.1.0"  # the check was made by another version
    checked.write_text(json.dumps(stamp))
    assert _probes_on_open(tiny_clip_dir, root, monkeypatch) == (1, True)


def test_an_export_whose_probe_fails_is_never_trusted_later(
        tiny_clip_dir: Path, tmp_path: Path) -> None:
    root = tmp_path / "text-onnx"
    _exported(tiny_clip_dir, root)
    folder = export_dir(root, str(tiny_clip_dir))
    _edit_meta(folder, lambda m: m.update(probe=[-x for x in m["probe"]]))
    for _ in range(2):  # the failed check leaves nothing that vouches for these files
        cold = ClipEncoder(str(tiny_clip_dir), device="cpu", text_export=root)
        assert cold.onnx_text() is None
