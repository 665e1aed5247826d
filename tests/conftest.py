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
    # The CPU fast path a test measured must not pass for another test's (same model path).
    monkeypatch.setenv("PHOTOCLIP_MACHINE_CACHE", str(tmp_path_factory.mktemp("machine-cache")))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # Tests compare exact scores across runs; the CPU fast-path calibration has its own tests.
    monkeypatch.setenv("PHOTOCLIP_PRECISION", "fp32")
    # No ONNX text-tower export on every model load (~0.7 s each across hundreds of tests);
    # its own tests (test_onnx_text, test_cli_no_torch, bench) turn it back on.
    monkeypatch.setenv("PHOTOCLIP_TEXT_ONNX", "0")
    # New libraries start with reading text off: the text pass after `add` costs seconds per
    # photo. The tests about it ask for it with the `ocr_on` fixture.
    monkeypatch.setenv("PHOTOCLIP_OCR", "off")


@pytest.fixture
def ocr_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """New libraries in this test read text in photos, as a user's do by default."""
    monkeypatch.setenv("PHOTOCLIP_OCR", "on")


# -- tiny models of the other families (issue 19) -----------------------------------------------

# Words the SentencePiece models are trained on, English and Chinese, so both kinds of query
# tokenise into real pieces rather than <unk>.
_SP_CORPUS = (
    "a photo of a red circle blue square green triangle cat dog beach sea mountain city night "
    "snow flower car people food tree bird sunset house the an of in on with and "
    "一张 的 照片 红色 圆形 蓝色 方形 绿色 三角形 猫 狗 海边 宠物 "
    "山 城市 夜晚 雪 花 汽车 人 食物 树 鸟"
)
_SP_CORPUS_WORDS = _SP_CORPUS.split()
TINY_FAMILIES = ("clip", "siglip", "siglip2", "metaclip_2", "chinese_clip", "altclip")


def _train_sentencepiece(out: Path, model_type: str, **ids: int) -> Path:
    """A small SentencePiece model trained here on the corpus above; returns its .model path."""
    import random

    import sentencepiece as spm

    rng = random.Random(0)
    lines = [" ".join(rng.choice(_SP_CORPUS_WORDS) for _ in range(8)) for _ in range(2000)]
    corpus = out / "corpus.txt"
    corpus.write_text("\n".join(lines), encoding="utf-8")
    prefix = out / f"sp-{model_type}"
    spm.SentencePieceTrainer.train(
        input=str(corpus), model_prefix=str(prefix), model_type=model_type,
        vocab_size=600 if model_type == "bpe" else 300,
        character_coverage=1.0, byte_fallback=model_type == "bpe", minloglevel=2,
        hard_vocab_limit=False, **{f"{k}_id": v for k, v in ids.items()})
    return prefix.with_suffix(".model")


def _family_tokenizer(family: str, work: Path, clip_tokenizer_dir: Path) -> object:
    """A real tokenizer of each family: CLIP's BPE, Chinese-CLIP's BERT vocabulary from the
    cn_clip wheel, and SentencePiece models trained here for the others."""
    import transformers

    if family == "clip":
        return transformers.AutoTokenizer.from_pretrained(str(clip_tokenizer_dir))
    if family == "chinese_clip":
        spec = importlib.util.find_spec("cn_clip")
        if spec is None or spec.origin is None:
            pytest.fail("cn_clip is not installed (pip install cn_clip --no-deps)")
        vocab = Path(spec.origin).parent / "clip" / "vocab.txt"
        return transformers.BertTokenizer(vocab=str(vocab), model_max_length=52)
    if family == "siglip":
        model = _train_sentencepiece(work, "unigram", pad=0, eos=1, unk=2, bos=-1)
        return transformers.SiglipTokenizer(vocab_file=str(model), model_max_length=64)
    if family == "siglip2":
        import sentencepiece as spm
        from transformers.convert_slow_tokenizer import generate_merges

        model = _train_sentencepiece(work, "bpe", pad=0, eos=1, bos=2, unk=3)
        sp = spm.SentencePieceProcessor(model_file=str(model))
        vocab = {sp.id_to_piece(i): i for i in range(sp.get_piece_size())}
        merges = generate_merges(vocab)
        vocab.setdefault("<mask>", len(vocab))
        return transformers.Siglip2Tokenizer(vocab=vocab, merges=merges, model_max_length=64)
    # XLM-R's layout (AltCLIP, MetaCLIP 2): <s>=0, <pad>=1, </s>=2, <unk>=3, then pieces.
    import sentencepiece as spm

    model = _train_sentencepiece(work, "unigram", bos=0, pad=1, eos=2, unk=3)
    sp = spm.SentencePieceProcessor(model_file=str(model))
    pieces = [(sp.id_to_piece(i), sp.get_score(i)) for i in range(sp.get_piece_size())]
    pieces[:4] = [("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    pieces.append(("<mask>", 0.0))
    return transformers.XLMRobertaTokenizer(vocab=pieces, model_max_length=77)


def _family_config(family: str, tokenizer: object) -> object:
    import transformers

    vocab = len(tokenizer)  # type: ignore[arg-type]
    layers = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
              "num_attention_heads": 2}
    vision = {**layers, "image_size": TINY_IMAGE_SIZE, "patch_size": 16}
    special = {k: getattr(tokenizer, f"{k}_id") for k in ("pad_token", "bos_token", "eos_token")
               if getattr(tokenizer, f"{k}_id", None) is not None}
    special_ids = {f"{k}_id": v for k, v in special.items()}
    if family == "siglip":
        return transformers.SiglipConfig(
            text_config={**layers, "vocab_size": vocab, "max_position_embeddings": 64,
                         **special_ids},
            vision_config=vision)
    if family == "siglip2":
        return transformers.Siglip2Config(
            text_config={**layers, "vocab_size": vocab, "max_position_embeddings": 64,
                         **special_ids},
            vision_config={**layers, "patch_size": 16,
                           "num_patches": (TINY_IMAGE_SIZE // 16) ** 2})
    if family == "metaclip_2":
        return transformers.MetaClip2Config(
            text_config={**layers, "vocab_size": vocab, "max_position_embeddings": 77,
                         **special_ids},
            vision_config=vision, projection_dim=32)
    if family == "chinese_clip":
        return transformers.ChineseCLIPConfig(
            text_config={**layers, "vocab_size": vocab, "max_position_embeddings": 64},
            vision_config=vision, projection_dim=32)
    if family == "altclip":
        return transformers.AltCLIPConfig(
            text_config={**layers, "vocab_size": vocab, "max_position_embeddings": 79,
                         "project_dim": 64, "type_vocab_size": 1, **special_ids},
            vision_config=vision, projection_dim=32)
    raise ValueError(family)


@pytest.fixture(scope="session")
def tiny_family_dir(tmp_path_factory: pytest.TempPathFactory, tiny_clip_dir: Path,
                    clip_tokenizer_dir: Path):  # type: ignore[no-untyped-def]
    """family name -> a folder holding a tiny random model of that family (64px images),
    saved with its real tokenizer and preprocessor config like a downloaded model."""
    built: dict[str, Path] = {"clip": tiny_clip_dir}

    def make(family: str) -> Path:
        if family in built:
            return built[family]
        import torch
        import transformers

        work = tmp_path_factory.mktemp(f"tok-{family}")
        tokenizer = _family_tokenizer(family, work, clip_tokenizer_dir)
        config = _family_config(family, tokenizer)
        torch.manual_seed(0)
        model_class = getattr(transformers, type(config).__name__.replace("Config", "Model"))
        model = model_class(config).eval()
        out = tmp_path_factory.mktemp(f"tiny-{family}").resolve()
        model.save_pretrained(str(out))
        tokenizer.save_pretrained(str(out))  # type: ignore[attr-defined]
        half = family.startswith("siglip")
        transformers.CLIPImageProcessorPil(
            size={"height": TINY_IMAGE_SIZE, "width": TINY_IMAGE_SIZE},
            do_center_crop=False,
            image_mean=[0.5] * 3 if half else None,
            image_std=[0.5] * 3 if half else None,
        ).save_pretrained(str(out))
        built[family] = out
        return out

    return make
