"""Suite-wide fixtures: an isolated library per test, no network, and a tiny real CLIP.

The tiny CLIP is randomly initialised (no weights can be downloaded here) but is otherwise a real
model folder: real CLIP tokenizer, config, safetensors and preprocessor config, loadable with
`ClipEncoder(str(folder))` exactly like a downloaded model.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import os
import tempfile
from pathlib import Path

import pytest

from photoclip.core.encoder import ClipEncoder

# Before anything can import Qt: the suite runs headless, in CI and over ssh.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# The window keeps its geometry in QSettings under the user's config folder: tests get their
# own, so they neither read a developer's settings nor race another test run for the file.
os.environ["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="photoclip-test-config-")
# huggingface_hub reads this once, when first imported, so it must be set before any fixture
# imports transformers; the per-test setenv below only keeps subprocesses offline too.
os.environ["HF_HUB_OFFLINE"] = "1"

# Size of OpenAI CLIP's BPE: 256 bytes, 256 end-of-word bytes, these merges, 2 special tokens.
CLIP_VOCAB_SIZE = 49408
CLIP_NUM_MERGES = 49152 - 256 - 2
CLIP_CONTEXT_LENGTH = 77
TINY_IMAGE_SIZE = 64  # smallest side that still gives a 4x4 patch grid at patch size 16


def _bytes_to_unicode() -> dict[int, str]:
    """OpenAI CLIP's reversible byte -> printable character table (GPT-2's byte-level BPE)."""
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    byte_values = printable[:]
    chars = printable[:]
    extra = 0
    for b in range(256):
        if b not in byte_values:
            byte_values.append(b)
            chars.append(256 + extra)
            extra += 1
    return dict(zip(byte_values, (chr(c) for c in chars), strict=True))


def _open_clip_bpe_path() -> Path:
    # find_spec on a top-level package locates it without running its __init__, which would
    # import torch and torchvision (not installed: open_clip is there only for this file).
    spec = importlib.util.find_spec("open_clip")
    if spec is None or spec.origin is None:
        pytest.fail("open_clip_torch is not installed; run `make .venv/.installed-test`")
    path = Path(spec.origin).parent / "bpe_simple_vocab_16e6.txt.gz"
    if not path.is_file():
        pytest.fail(f"CLIP BPE vocabulary missing from the open_clip wheel: {path}")
    return path


def write_clip_vocab(bpe_path: Path, out_dir: Path) -> None:
    """Write vocab.json and merges.txt exactly as OpenAI's CLIP builds its vocabulary."""
    lines = gzip.decompress(bpe_path.read_bytes()).decode("utf-8").split("\n")
    merges = lines[1 : CLIP_NUM_MERGES + 1]
    byte_chars = list(_bytes_to_unicode().values())
    tokens = byte_chars + [c + "</w>" for c in byte_chars]
    tokens += ["".join(merge.split()) for merge in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    assert len(tokens) == CLIP_VOCAB_SIZE
    vocab = {token: i for i, token in enumerate(tokens)}
    assert len(vocab) == CLIP_VOCAB_SIZE, "duplicate tokens in the CLIP vocabulary"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (out_dir / "merges.txt").write_text(
        "#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8"
    )


@pytest.fixture(scope="session")
def clip_tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A save_pretrained folder holding the real OpenAI CLIP tokenizer (49408 tokens)."""
    from transformers import CLIPTokenizer

    raw = tmp_path_factory.mktemp("clip-bpe")
    write_clip_vocab(_open_clip_bpe_path(), raw)
    tokenizer = CLIPTokenizer.from_pretrained(str(raw), model_max_length=CLIP_CONTEXT_LENGTH)
    out = tmp_path_factory.mktemp("clip-tokenizer").resolve()
    tokenizer.save_pretrained(str(out))
    return out


@pytest.fixture(scope="session")
def tiny_clip_dir(tmp_path_factory: pytest.TempPathFactory, clip_tokenizer_dir: Path) -> Path:
    """A tiny random CLIP (64px images, 32-d embeddings) saved like a downloaded model."""
    import torch
    from transformers import AutoTokenizer, CLIPConfig, CLIPImageProcessorPil, CLIPModel

    config = CLIPConfig(
        text_config={
            "vocab_size": CLIP_VOCAB_SIZE,
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "max_position_embeddings": CLIP_CONTEXT_LENGTH,
        },
        vision_config={
            "image_size": TINY_IMAGE_SIZE,
            "patch_size": 16,
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
        },
        projection_dim=32,
    )
    torch.manual_seed(0)  # same weights every run, so embeddings and rankings are reproducible
    model = CLIPModel(config).eval()

    out = tmp_path_factory.mktemp("tiny-clip").resolve()
    model.save_pretrained(str(out))
    AutoTokenizer.from_pretrained(str(clip_tokenizer_dir)).save_pretrained(str(out))
    CLIPImageProcessorPil(
        size={"shortest_edge": TINY_IMAGE_SIZE},
        crop_size={"height": TINY_IMAGE_SIZE, "width": TINY_IMAGE_SIZE},
    ).save_pretrained(str(out))
    return out


@pytest.fixture(scope="session")
def tiny_encoder(tiny_clip_dir: Path) -> ClipEncoder:
    """The tiny CLIP, loaded on the CPU. Shared: treat it as read-only."""
    encoder = ClipEncoder(str(tiny_clip_dir), device="cpu", batch_size=8)
    encoder.load()
    return encoder


@pytest.fixture(autouse=True)
def _isolated_environment(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every test gets its own empty library and can never reach the Hugging Face hub."""
    monkeypatch.setenv("PHOTOCLIP_LIBRARY", str(tmp_path_factory.mktemp("library")))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # Tests compare exact scores across runs; the CPU fast-path calibration has its own tests.
    monkeypatch.setenv("PHOTOCLIP_PRECISION", "fp32")
