"""The text tower exported once to ONNX, so a cold text query needs neither torch nor
transformers (issue 23).

A cold `photoclip search "a dog"` used to spend ~1.2 s importing torch, ~2.4 s importing
transformers and the model classes, and 0.35 s building the tokenizer, for one text embedding.
When a model is first loaded in a library (fp32, on the CPU, before any precision change), its
text tower is traced into `<library>/text-onnx/<key>/text.onnx` (the graph as onnxruntime
optimises it; its weights in text.onnx.data beside it, which opens ~2-3x faster than one
file) beside the fast tokenizer's own tokenizer.json and a meta file. A later process that has
not loaded the model answers text through onnxruntime and the `tokenizers` library.

The export is used only when it is whole and current:
- its meta names the same model id and the same fingerprint of the model's files (name, size,
  modification time of config, weights and tokenizer files: a retrained or replaced model
  changes it);
- the export's own answer for a probe text matches the torch embedding recorded at export
  (cosine >= PROBE_MIN_COSINE), checked when it is written and again whenever its files or
  the onnxruntime/tokenizers versions differ from the last check (checked.json).
Anything else (missing, stale, unreadable, onnxruntime not installed) falls back to torch.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import shutil
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from photoclip.core.encoder.families import Family

log = logging.getLogger(__name__)

# 2: the graph is saved already optimised by onnxruntime, its weights in a file beside it.
FORMAT = 2
GRAPH = "text.onnx"
# Weights outside the graph: onnxruntime maps them instead of parsing and copying a 254 MB
# protobuf (ViT-B/32: opening took 0.77 s with them inside, 0.23-0.35 s outside).
WEIGHTS = "text.onnx.data"
# The probe's last pass (_checked_as): a cold query trusts files it has already checked, and
# runs the text tower once instead of twice (~0.06-0.09 s of a ViT-B/32 query on 2 cores).
CHECKED = "checked.json"
PROBE_TEXT = "a photo of a dog on a beach at sunset"
# The export must give the torch model's embedding: fp32 both ways differs by ~1e-6.
PROBE_MIN_COSINE = 0.999
# Beside a busy indexer or another process, a few threads answer sooner than all of them
# waiting for each other; one short text is a few small matrix products.
ORT_THREADS = 2
_FINGERPRINT_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "vocab.json",
                      "merges.txt", "vocab.txt", "spiece.model", "sentencepiece.bpe.model")


def export_dir(root: Path, model_id: str) -> Path:
    """Where the export of `model_id` lives under `root` (one folder per model)."""
    return root / hashlib.sha256(model_id.encode("utf-8")).hexdigest()[:16]


def fingerprint(folder: Path, model_id: str) -> str:
    """A checksum of what the model folder holds, by name, size and modification time: cheap
    (no 600 MB read on a cold query), and changed by any save over the model."""
    h = hashlib.sha256(model_id.encode("utf-8"))
    names = [n for n in _FINGERPRINT_FILES if (folder / n).is_file()]
    names += sorted(p.name for p in folder.glob("*.safetensors"))
    names += sorted(p.name for p in folder.glob("*.bin"))
    for name in names:
        st = (folder / name).stat()
        h.update(f"{name}:{st.st_size}:{st.st_mtime_ns};".encode())
    return h.hexdigest()


def text_tower(model: Any, with_mask: bool) -> Any:
    """get_text_features as a plain module: (ids[, mask]) -> projected features."""
    import torch

    from photoclip.core.encoder.clip import pooled

    class Tower(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any = None) -> Any:
            kwargs = {"input_ids": input_ids}
            if with_mask:
                kwargs["attention_mask"] = attention_mask
            return pooled(self.model.get_text_features(**kwargs))

    return Tower().eval()


def is_current(target: Path, model_id: str, folder: Path) -> bool:
    """Whether `target` holds an export of this model as its folder is now (meta only)."""
    try:
        meta = json.loads((target / "meta.json").read_text(encoding="utf-8"))
        return bool(meta.get("format") == FORMAT and meta.get("model_id") == model_id
                    and meta.get("fingerprint") == fingerprint(folder, model_id))
    except (OSError, ValueError):
        return False


def export_text(model: Any, tokenizer: Any, family: Family, max_len: int, model_id: str,
           folder: Path, target: Path) -> bool:
    """Trace the fp32 CPU `model`'s text tower into `target` (replaced whole); True when done.

    Never raises: a model the tracer cannot follow simply keeps using torch."""
    if importlib.util.find_spec("onnxruntime") is None or importlib.util.find_spec("onnx") is None:
        return False  # nothing could write or run it (the `fast` extra brings both)
    try:
        _export(model, tokenizer, family, max_len, model_id, folder, target)
        return True
    except Exception as exc:
        log.info("text tower of %s not exported to ONNX (%s); queries load the model",
                 model_id, exc)
        log.debug("ONNX export failed", exc_info=True)
        return False


def _export(model: Any, tokenizer: Any, family: Family, max_len: int, model_id: str,
            folder: Path, target: Path) -> None:
    import warnings

    import torch

    if not getattr(tokenizer, "is_fast", False):
        raise ValueError("no fast tokenizer (tokenizer.json) to run without transformers")
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    texts = [PROBE_TEXT, "a cat"]
    pad: dict[str, Any] = {"padding": "max_length", "max_length": max_len}
    if family.pad_to is None:
        pad = {"padding": True, "max_length": max_len}
    tokens = tokenizer(texts, return_tensors="pt", truncation=True, **pad)
    with_mask = family.attention_mask and "attention_mask" in tokens
    tower = text_tower(model, with_mask)
    args: tuple[Any, ...] = (tokens["input_ids"],)
    names = ["input_ids"]
    if with_mask:
        args += (tokens["attention_mask"],)
        names.append("attention_mask")
    with torch.inference_mode():
        reference = tower(*args)[0].float().numpy()
    tmp = target.parent / f".{target.name}.{os.getpid()}.tmp"
    _remove_leftovers(target)
    tmp.mkdir(parents=True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the tracer's deprecation and tracing notes
            torch.onnx.export(
                tower, args, str(tmp / "traced.onnx"), input_names=names,
                output_names=["features"], opset_version=17, dynamo=False,
                dynamic_axes={**{n: {0: "batch", 1: "tokens"} for n in names},
                              "features": {0: "batch"}})
        _optimise(tmp / "traced.onnx", tmp / GRAPH)
        (tmp / "traced.onnx").unlink()
        tokenizer.backend_tokenizer.save(str(tmp / "tokenizer.json"))
        meta = {
            "format": FORMAT, "model_id": model_id, "fingerprint": fingerprint(folder, model_id),
            "family": family.name, "dim": int(reference.shape[-1]), "max_len": int(max_len),
            "pad_to": family.pad_to, "pad_id": int(pad_id), "inputs": names,
            "probe": [float(x) for x in _unit(reference[None])[0]],
        }
        (tmp / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
        if OnnxText.open(tmp, model_id, folder) is None:
            raise ValueError("the exported text tower does not reproduce the model's output")
        old = target.parent / f".{target.name}.{os.getpid()}.old"
        if target.exists():
            target.rename(old)
        tmp.rename(target)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _session_options(ort: Any) -> Any:
    options = ort.SessionOptions()
    options.intra_op_num_threads = min(ORT_THREADS, os.cpu_count() or 1)
    options.inter_op_num_threads = 1
    # Spinning threads would take the cores from an indexer running beside us.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    return options


def _optimise(traced: Path, graph: Path) -> None:
    """Save the traced graph as onnxruntime optimises it (fusions that hold on any CPU: the
    "extended" level, not the machine-specific layouts of "all"), with its weights in WEIGHTS,
    so that a cold query neither optimises it again nor parses the weights."""
    import onnxruntime as ort

    options = _session_options(ort)
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = str(graph)
    options.add_session_config_entry("session.disable_prepacking", "1")  # this session never runs
    options.add_session_config_entry(
        "session.optimized_model_external_initializers_file_name", WEIGHTS)
    options.add_session_config_entry(
        "session.optimized_model_external_initializers_min_size_in_bytes", "1024")
    ort.InferenceSession(str(traced), options, providers=["CPUExecutionProvider"])


def _remove_leftovers(target: Path) -> None:
    """Half-written exports of processes that died mid-export (their pid is gone), and ours."""
    for path in target.parent.glob(f".{target.name}.*"):
        try:
            pid = int(path.name.rsplit(".", 2)[-2])
        except (ValueError, IndexError):
            continue
        if pid == os.getpid() or not _alive(pid):
            shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    if os.name != "posix":
        return True  # cannot tell cheaply: leave it (a few MB), never delete a live export
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _checked_as(folder: Path, runtime: str) -> dict[str, Any]:
    """What a passed probe vouches for: these files, byte counts and modification times, read
    by this onnxruntime and tokenizers. Anything else (an edit, a copy over, an upgrade)
    asks for the probe again."""
    import tokenizers

    files = {}
    for name in (GRAPH, WEIGHTS, "tokenizer.json", "meta.json"):
        path = folder / name
        st = path.stat() if path.is_file() else None
        files[name] = [st.st_size, st.st_mtime_ns] if st is not None else None
    return {"onnxruntime": runtime, "tokenizers": tokenizers.__version__, "files": files}


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _write_checked(folder: Path, checked: dict[str, Any]) -> None:
    """Remember a passed probe (whole or not at all); a read-only library just probes again."""
    tmp = folder / f".{CHECKED}.{os.getpid()}"
    try:
        tmp.write_text(json.dumps(checked), encoding="utf-8")
        tmp.replace(folder / CHECKED)
    except OSError:
        tmp.unlink(missing_ok=True)


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


class OnnxText:
    """A text encoder from an export: tokenizers + onnxruntime, no torch."""

    def __init__(self, folder: Path, meta: dict[str, Any], session: Any, tokenizer: Any) -> None:
        self.folder = folder
        self.meta = meta
        self.dim = int(meta["dim"])
        self._session = session
        self._tokenizer = tokenizer
        self._lock = threading.Lock()  # the Rust tokenizer's padding state is per object

    @classmethod
    def open(cls, folder: Path, model_id: str, model_folder: Path | None) -> OnnxText | None:
        """The export in `folder` if it is whole, current and correct; else None (logged)."""
        meta_path = folder / "meta.json"
        if not meta_path.is_file():
            return None
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            if meta.get("format") != FORMAT or meta.get("model_id") != model_id:
                return None
            if model_folder is None or meta.get("fingerprint") != fingerprint(model_folder,
                                                                              model_id):
                log.info("ONNX text tower of %s is stale; queries load the model", model_id)
                return None
            import onnxruntime as ort
            from tokenizers import Tokenizer

            options = _session_options(ort)
            # Optimised at export (_optimise): doing it again would only cost time.
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
            # Prepacking copies every weight matrix into the matrix kernels' layout at open:
            # ~0.3 s of a cold ViT-B/32 query's ~0.4 s in the text tower, for ~0.03 s less per
            # later query. A cold query asks once or twice (the probe, the text), so it is off.
            options.add_session_config_entry("session.disable_prepacking", "1")
            session = ort.InferenceSession(str(folder / GRAPH), options,
                                           providers=["CPUExecutionProvider"])
            tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
            found = cls(folder, meta, session, tokenizer)
            checked = _checked_as(folder, ort.__version__)
            if _read_json(folder / CHECKED) == checked:
                return found  # these very files gave the model's answer under this runtime
            probe = found.encode_texts([PROBE_TEXT])[0]
            if float(probe @ np.asarray(meta["probe"], dtype=np.float32)) < PROBE_MIN_COSINE:
                log.warning("ONNX text tower of %s disagrees with the model; queries load the "
                            "model", model_id)
                return None
            _write_checked(folder, checked)
            return found
        except Exception as exc:  # a broken export, or onnxruntime missing: torch answers
            log.info("ONNX text tower in %s not usable (%s); queries load the model", folder,
                     exc)
            log.debug("opening the ONNX text tower failed", exc_info=True)
            return None

    def _tokens(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        meta = self.meta
        with self._lock:
            tok = self._tokenizer
            tok.enable_truncation(int(meta["max_len"]))
            if meta.get("pad_to"):
                tok.enable_padding(pad_id=int(meta["pad_id"]), length=int(meta["max_len"]))
            else:
                tok.enable_padding(pad_id=int(meta["pad_id"]))
            encoded = tok.encode_batch([str(t) for t in texts])
        feeds = {"input_ids": np.array([e.ids for e in encoded], dtype=np.int64)}
        if "attention_mask" in meta["inputs"]:
            feeds["attention_mask"] = np.array([e.attention_mask for e in encoded],
                                               dtype=np.int64)
        return feeds

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Texts -> (N, dim) float32, unit length, as ClipEncoder.encode_texts."""
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        (features,) = self._session.run(["features"], self._tokens(texts))
        return _unit(features)
