"""ClipEncoder: a Hugging Face image-text model (CLIP, SigLIP, SigLIP 2, MetaCLIP 2, Chinese-CLIP,
AltCLIP; see families.py) behind the Encoder protocol the indexer and search use."""

from __future__ import annotations

import copy
import logging
import os
import subprocess
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from PIL import Image

from photoclip.config import DEFAULT_MODEL
from photoclip.core.encoder import families
from photoclip.core.encoder.device import apply_thread_setting, resolve_device
from photoclip.core.encoder.export_child import start_export
from photoclip.core.encoder.families import Family
from photoclip.core.encoder.header import Scoring, scoring_from_folder
from photoclip.core.encoder.loading import (
    CPU_PRECISIONS,
    DownloadProgress,
    cached_model_folder,
    download_listener,
    download_model,
    first_line,
    from_pretrained,
    is_local_model,
    load_error,
    missing_folder_error,
    model_id_for,
    to_cpu_precision,
)
from photoclip.core.encoder.onnx_text import OnnxText, export_dir, export_text, is_current
from photoclip.core.encoder.preprocess import PreprocessRecipe, preprocess_image, read_recipe
from photoclip.core.encoder.warm import heavy_loading
from photoclip.core.errors import ModelLoadError

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

# PHOTOCLIP_TEXT_ONNX=0: no ONNX text tower, neither used nor exported (torch only; bench
# measures the two cold queries side by side with it).
ENV_TEXT_ONNX = "PHOTOCLIP_TEXT_ONNX"


class Encoder(Protocol):
    """What the indexer and search need from a model; tests may pass fakes."""

    model_id: str  # stored with every embedding, so vectors from different models never mix

    @property
    def dim(self) -> int: ...

    @property
    def image_size(self) -> int: ...

    @property
    def device(self) -> str: ...

    def preprocess(self, image: Image.Image) -> np.ndarray: ...

    def encode_images(self, batch: np.ndarray) -> np.ndarray: ...

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray: ...


class ClipEncoder:
    """A Hugging Face image-text model from the hub or a local save_pretrained folder; any
    family in families.FAMILIES (read from config.json).

    Nothing heavy happens in the constructor; the model is loaded on first use (or by load()).
    """

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        device: str = "auto",
        batch_size: int = 32,
        progress: Callable[[str], None] | None = None,
        precision: str = "fp32",
        download_progress: DownloadProgress | None = None,
        text_export: Path | None = None,
        export_in_child: bool = False,
    ) -> None:
        if precision not in CPU_PRECISIONS:
            raise ValueError(f"precision must be one of {CPU_PRECISIONS}, got {precision!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        # An empty setting means "the default", not "the current directory".
        model = model.strip() or DEFAULT_MODEL
        self._source = model
        self._is_local = is_local_model(model)
        self.model_id: str = model_id_for(model)
        self._requested_device = device
        self._requested_precision = precision
        self._precision = "fp32"
        self.batch_size = batch_size
        self._progress = progress
        self._download_progress = download_progress
        self._snapshot: str | None = None  # the local copy of a hub model, once fetched
        self._lock = threading.Lock()
        # The fast tokenizer re-applies its padding/truncation state on every call and raises
        # "Already borrowed" when two threads do so at once (search while indexing).
        self._tokenize_lock = threading.Lock()
        self._loaded = False
        self._model: Any = None
        self._tokenizer: Any = None
        self._device = "cpu"
        self._dim = 0
        self._max_text_len = 77
        self._logit_scale = 1.0
        self._logit_bias: float | None = None
        self._family: Family = families.FAMILIES["clip"]
        self._disk_scoring: Scoring | None = None  # read from the folder while not loaded
        self._disk_read = False  # whether the folder was asked (it may not have known)
        # Where the text tower's ONNX export lives (onnx_text.py); None: torch only.
        self._text_export = None if os.environ.get(ENV_TEXT_ONNX) == "0" else text_export
        # True (the window): the export runs in a child process (export_child.py), so this
        # process never holds the interpreter lock for it; the child, once started, is here.
        self._export_in_child = export_in_child
        self.export_child: subprocess.Popen[bytes] | None = None
        self._onnx: OnnxText | None = None
        self._onnx_tried = False
        self._prep: PreprocessRecipe | None = None
        self._scale: np.ndarray | None = None
        self._offset: np.ndarray | None = None

    # -- loading -------------------------------------------------------------------------------

    @property
    def loaded(self) -> bool:
        return self._loaded

    def load(self) -> None:
        """Load model, tokenizer and preprocessing; safe to call repeatedly and from threads."""
        if self._loaded:
            return
        with self._lock:
            if self._loaded:
                return
            with heavy_loading():  # the window's other threads keep running meanwhile
                self._load_locked()
            self._loaded = True

    def torch_parts(self) -> tuple[Any, Any]:
        """(CLIPModel, tokenizer), loading them if needed: for training and saving a model.

        These are the encoder's own objects, not copies: moving or training the model changes
        what this encoder computes, so hand them over from an encoder made for the purpose.
        """
        self.load()
        return self._model, self._tokenizer

    def at_precision(self, precision: str) -> ClipEncoder:
        """A CPU copy of this loaded fp32 CPU encoder at another precision, without loading the
        model again (the CPU fast-path measurement compares the two)."""
        self.load()
        if self._device != "cpu" or self._precision != "fp32":
            raise ValueError(
                f"at_precision needs an fp32 encoder on the CPU, not {self._precision} on "
                f"{self._device}")
        other = ClipEncoder(self._source, device="cpu", batch_size=self.batch_size,
                            precision=precision)
        other._snapshot = self._snapshot
        model = to_cpu_precision(copy.deepcopy(self._model), precision)
        with other._lock:
            other._install(model, self._tokenizer, "cpu", precision, self.preprocessing,
                           self._loaded_scoring())
            other._loaded = True
        return other

    def _say(self, message: str) -> None:
        """Tell the user once: through the progress callback when there is one (the CLI prints
        it, the window shows it), else through the log."""
        if self._progress is not None:
            self._progress(message)
        else:
            log.info("%s", message)

    def _load_locked(self) -> None:
        if self._is_local and not Path(self.model_id).is_dir():
            raise missing_folder_error(self.model_id)
        device = resolve_device(self._requested_device)

        import torch

        apply_thread_setting(torch)
        try:
            if not self._is_local:
                self._snapshot = str(download_model(
                    self._source, self._download_progress or download_listener()))
            self._say(f"loading model {self.model_id} ...")
            model, tokenizer, family = from_pretrained(self._source_path(), self.model_id)
            prep = read_recipe(self._source_path(), model, self.model_id, family)
        except ModelLoadError:
            raise  # already one line for the user (an unsupported family)
        except Exception as exc:
            # The boundary where library errors become one actionable line; the full
            # traceback stays in the debug log and on __cause__.
            log.debug("loading %s failed", self.model_id, exc_info=True)
            raise load_error(self.model_id, self._is_local, exc) from exc

        model.eval()
        self._export_text(model, tokenizer, family)
        # Read before any cast: fp16/bf16 would round exp(logit_scale) (bf16: 100 -> 98.9), and
        # the scale read from the file without loading (scoring_from_folder) must agree.
        scoring = _scoring_of(model)
        try:
            if device == "cuda":
                # Half precision: twice the throughput and half the memory, and CLIP rankings
                # are unchanged by it (cosine to fp32 > 0.99).
                model.half()
            model.to(device)
        except RuntimeError as exc:  # CUDA out of memory, driver errors
            raise ModelLoadError(
                f"Could not move CLIP model {self.model_id!r} to {device}: {first_line(exc)}. "
                "Set the device to 'cpu' to run without the GPU."
            ) from exc

        if device == "cpu" and self._requested_precision != "fp32":
            model = to_cpu_precision(model, self._requested_precision)
        precision = "fp16" if device == "cuda" else self._requested_precision
        self._install(model, tokenizer, device, precision, prep, scoring)
        self._say(f"model ready on {device}")

    def _install(self, model: Any, tokenizer: Any, device: str, precision: str,
                 prep: PreprocessRecipe, scoring: Scoring) -> None:
        family = scoring.family
        self._family = family
        self._model = model
        self._tokenizer = tokenizer
        self._device = device
        self._precision = precision
        self._dim = families.embed_dim(model)
        self._max_text_len = families.text_max_len(family, model, tokenizer)
        self._logit_scale = scoring.logit_scale
        self._logit_bias = scoring.logit_bias
        self._scale, self._offset = prep.pixel_transform()
        self._prep = prep

    def _export_text(self, model: Any, tokenizer: Any, family: Family) -> None:
        """Export the fp32 text tower once per model and library, for cold queries."""
        if self._text_export is None:
            return
        target = export_dir(self._text_export, self.model_id)
        folder = Path(self._source_path())
        if is_current(target, self.model_id, folder):
            return
        if self._export_in_child:
            self.export_child = start_export(self._source_path(), self.model_id, target)
            return
        max_len = families.text_max_len(family, model, tokenizer)
        if export_text(model, tokenizer, family, max_len, self.model_id, folder, target):
            self._say(f"text tower exported for fast cold queries ({target.name})")

    def onnx_text(self) -> OnnxText | None:
        """The ONNX text tower when it is exported, current and correct (else None): what a
        process that has not loaded the model encodes text with."""
        if self._text_export is None:
            return None
        if not self._onnx_tried:
            self._onnx_tried = True
            self._onnx = OnnxText.open(export_dir(self._text_export, self.model_id),
                                       self.model_id, self.local_folder())
        return self._onnx

    def _loaded_scoring(self) -> Scoring:
        return Scoring(self._family, self._logit_scale, self._logit_bias)

    def _scoring(self) -> Scoring:
        """Family, logit scale and bias: the loaded model's, else read from the model's folder
        (config.json and the safetensors header), loading the model only when the folder
        cannot tell. Listing tags needs only these, and must not pay for torch."""
        if self._loaded:
            return self._loaded_scoring()
        if not self._disk_read:
            folder = self.local_folder()
            if folder is not None:
                self._disk_scoring = scoring_from_folder(folder, self.model_id)
            self._disk_read = True
        if self._disk_scoring is not None and not self._loaded:
            return self._disk_scoring
        self.load()
        return self._loaded_scoring()

    def local_folder(self) -> Path | None:
        """The model's folder on this machine, without loading or downloading: a local model's
        own, a hub model's cached snapshot; None when a hub model is not cached."""
        if self._is_local:
            folder = Path(self.model_id)
            return folder if folder.is_dir() else None
        if self._snapshot is not None:
            return Path(self._snapshot)
        return cached_model_folder(self._source)

    def _source_path(self) -> str:
        if self._is_local:
            return self.model_id
        return self._snapshot or self._source

    # -- properties ----------------------------------------------------------------------------

    @property
    def dim(self) -> int:
        if not self._loaded and (onnx := self.onnx_text()) is not None:
            return onnx.dim
        self.load()
        return self._dim

    @property
    def image_size(self) -> int:
        self.load()
        assert self._prep is not None
        return self._prep.crop[0]

    @property
    def device(self) -> str:
        self.load()
        return self._device

    @property
    def precision(self) -> str:
        """What the model computes in: fp16 on a GPU; fp32, bf16 or int8 on the CPU."""
        self.load()
        return self._precision

    @property
    def logit_scale(self) -> float:
        """exp(logit_scale): multiply cosine similarities by this to get CLIP's logits. Read
        from the model's file when not loaded (no torch)."""
        return self._scoring().logit_scale

    @property
    def logit_bias(self) -> float | None:
        """SigLIP-style models' learnt bias: a label's probability is
        sigmoid(logit_scale * cosine + logit_bias). None for softmax (CLIP-style) families."""
        return self._scoring().logit_bias

    @property
    def family(self) -> str:
        """The model family's name, config.json's model_type ("clip", "siglip", ...)."""
        return self._scoring().family.name

    @property
    def scoring(self) -> str:
        """How label scores are made for this family: "softmax" or "sigmoid"."""
        return self._scoring().family.scoring

    @property
    def preprocessing(self) -> PreprocessRecipe:
        """The resize/crop/normalise recipe; training augments with it to match preprocess()."""
        self.load()
        assert self._prep is not None
        return self._prep

    # -- encoding ------------------------------------------------------------------------------

    def preprocess(self, image: Image.Image) -> np.ndarray:
        """RGB PIL image -> float32 (3, S, S), as CLIPImageProcessor would; PIL + numpy only."""
        self.load()
        prep, scale, offset = self._prep, self._scale, self._offset
        assert prep is not None
        assert scale is not None
        assert offset is not None
        return preprocess_image(image, prep, scale, offset)

    def encode_images(self, batch: np.ndarray) -> np.ndarray:
        """(N, 3, S, S) float32 from preprocess() -> (N, dim) float32, unit length."""
        self.load()
        side = self.image_size
        if batch.ndim != 4 or batch.shape[1:] != (3, side, side):
            raise ValueError(f"expected a batch of shape (N, 3, {side}, {side}), got {batch.shape}")
        if len(batch) == 0:
            return np.zeros((0, self._dim), dtype=np.float32)

        import torch

        batch = np.ascontiguousarray(batch, dtype=np.float32)
        dtype = self._model.dtype
        out: list[np.ndarray] = []
        with torch.inference_mode():
            for start in range(0, len(batch), self.batch_size):
                pixels = torch.from_numpy(batch[start : start + self.batch_size])
                pixels = pixels.to(self._device, dtype=dtype, non_blocking=True)
                features = pooled(self._model.get_image_features(
                    **families.image_inputs(self._family, self._model, pixels)))
                out.append(_unit_on_device(features))
        return np.concatenate(out, axis=0)

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Texts -> (N, dim) float32, unit length; long texts are cut to the model's limit
        (77 tokens for CLIP, 64 for SigLIP). Before the model is loaded, the ONNX export
        answers when there is a good one (no torch)."""
        if isinstance(texts, str):
            raise TypeError("encode_texts takes a sequence of strings, not a single string")
        if not self._loaded and (onnx := self.onnx_text()) is not None:
            if len(texts) == 0:
                return np.zeros((0, onnx.dim), dtype=np.float32)
            step = self.batch_size  # a big label set's prompts: bounded attention buffers
            return np.concatenate([onnx.encode_texts(texts[i : i + step])
                                   for i in range(0, len(texts), step)])
        self.load()
        if len(texts) == 0:
            return np.zeros((0, self._dim), dtype=np.float32)

        import torch

        out: list[np.ndarray] = []
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                chunk = [str(t) for t in texts[start : start + self.batch_size]]
                with self._tokenize_lock:
                    tokens = self._tokenizer(
                        chunk, return_tensors="pt",
                        **families.tokenizer_kwargs(self._family, self._max_text_len))
                features = pooled(self._model.get_text_features(
                    **families.text_inputs(self._family, tokens, self._device)))
                out.append(_unit_on_device(features))
        return np.concatenate(out, axis=0)


def _scoring_of(model: Any) -> Scoring:
    """A loaded model's family, exp(logit_scale) and bias, in fp32."""
    import torch

    family = families.family_of_model(model)
    with torch.inference_mode():
        scale = float(model.logit_scale.detach().float().exp().reshape(-1)[0].item())
        return Scoring(family, scale, families.logit_bias(family, model))


def pooled(output: Any) -> torch.Tensor:
    """The projected embedding from get_image_features/get_text_features: transformers 5
    returns a model output whose pooler_output is it; older versions returned the tensor."""
    import torch

    if isinstance(output, torch.Tensor):
        return output
    pooled_output = getattr(output, "pooler_output", None)
    if isinstance(pooled_output, torch.Tensor):
        return pooled_output
    if isinstance(output, tuple | list) and output and isinstance(output[0], torch.Tensor):
        return output[0]
    raise TypeError(f"unexpected CLIP features output: {type(output).__name__}")


def _unit_on_device(features: torch.Tensor) -> np.ndarray:
    """Unit rows computed where the features are (the GPU), then brought to numpy.

    In fp32: fp16 norms of 512-d vectors lose enough precision to show in scores. (Numpy
    arrays are normalised with tagging.scoring.normalise; this is its torch twin, so the GPU
    does the work and only the result crosses to the CPU.)
    """
    features = features.float()
    features = features / features.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    result: np.ndarray = features.cpu().numpy().astype(np.float32, copy=False)
    return result
