"""CLIP image and text encoder.

torch and transformers are imported only when a model is loaded: the CLI, the GUI start-up and
the decode workers import this module, and none of them should pay for torch (seconds, ~1 GB).
"""

from __future__ import annotations

import contextvars
import logging
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from PIL import Image

from photoclip.config import DEFAULT_MODEL
from photoclip.core.errors import ModelLoadError
from photoclip.core.imaging import to_rgb

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

ENV_TORCH_THREADS = "PHOTOCLIP_TORCH_THREADS"
DEVICES = ("auto", "cpu", "cuda", "mps")
CPU_PRECISIONS = ("fp32", "bf16", "int8")

# OpenAI CLIP's preprocessing, used when a model folder has no preprocessor_config.json.
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
CLIP_IMAGE_SIZE = 224

_HOOK_LOCK = threading.Lock()

# (bytes done, bytes total) of a model download; called from the download threads.
DownloadProgress = Callable[[int, int], None]

# What a model needs from a hub repo. Weights as safetensors when the repo has them: many CLIP
# repos also hold pytorch_model.bin, tf_model.h5 and flax_model.msgpack, each as large again.
_MODEL_FILES = (
    "config.json",
    "preprocessor_config.json",
    "processor_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.json",
    "merges.txt",
)
_SAFETENSORS = ("model.safetensors", "model.safetensors.index.json", "model-*.safetensors")
_PYTORCH_BIN = ("pytorch_model.bin", "pytorch_model.bin.index.json", "pytorch_model-*.bin")

_download_listener: contextvars.ContextVar[DownloadProgress | None] = contextvars.ContextVar(
    "photoclip_download_listener", default=None)


@contextmanager
def report_downloads(callback: DownloadProgress) -> Iterator[None]:
    """Within the block, models loaded on this thread report download bytes to `callback`.

    Covers encoders that something else creates on the way (the library's encoder, the CPU
    fast-path measurement), which a caller cannot hand a callback to.
    """
    token = _download_listener.set(callback)
    try:
        yield
    finally:
        _download_listener.reset(token)


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


def resolve_device(requested: str = "auto") -> str:
    """Turn a device setting into "cpu", "cuda" or "mps"; auto prefers cuda, then mps."""
    requested = (requested or "auto").strip().lower()
    if requested not in DEVICES:
        raise ModelLoadError(f"Unknown device {requested!r}: use one of {', '.join(DEVICES)}.")
    if requested == "cpu":
        return "cpu"

    import torch

    cuda_ok = torch.cuda.is_available()
    mps_ok = _mps_available(torch)
    if requested == "auto":
        if cuda_ok:
            return "cuda"
        return "mps" if mps_ok else "cpu"
    if requested == "cuda" and not cuda_ok:
        build = torch.version.cuda or "none: a CPU-only build"
        raise ModelLoadError(
            f"Device 'cuda' was requested but no usable CUDA GPU was found "
            f"(torch {torch.__version__}, CUDA {build}). Set the device to 'auto' or 'cpu', "
            "or install a CUDA build of torch and an NVIDIA driver."
        )
    if requested == "mps" and not mps_ok:
        raise ModelLoadError(
            "Device 'mps' was requested but Apple's Metal backend is not available on this "
            "machine. Set the device to 'auto' or 'cpu'."
        )
    return requested


def _mps_available(torch_mod: Any) -> bool:
    mps = getattr(torch_mod.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def _looks_like_path(model: str) -> bool:
    """Hub ids are "name" or "org/name"; anything else the user typed is meant as a folder."""
    if model.startswith(("~", ".", "/", "\\")) or "\\" in model or Path(model).is_absolute():
        return True
    return model.count("/") > 1


@dataclass(frozen=True)
class _Preprocessing:
    """The resize/crop/normalise recipe from the model's preprocessor_config.json."""

    resize_to: int | tuple[int, int]  # int: shortest edge; tuple: exact (height, width)
    crop: tuple[int, int]  # (height, width)
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    resample: Image.Resampling


def _size_field(size: Any, key: str) -> int | None:
    if size is None:
        return None
    if isinstance(size, int):
        return size
    value = size.get(key) if hasattr(size, "get") else getattr(size, key, None)
    return int(value) if value is not None else None


class ClipEncoder:
    """A Hugging Face CLIPModel from the hub or a local save_pretrained folder.

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
    ) -> None:
        if precision not in CPU_PRECISIONS:
            raise ValueError(f"precision must be one of {CPU_PRECISIONS}, got {precision!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        # An empty setting means "the default", not "the current directory".
        model = model.strip() or DEFAULT_MODEL
        self._source = model
        self._is_local = Path(model).expanduser().exists() or _looks_like_path(model)
        self.model_id: str = str(Path(model).expanduser().resolve()) if self._is_local else model
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
        self._prep: _Preprocessing | None = None
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
            self._load_locked()
            self._loaded = True

    def _say(self, message: str) -> None:
        log.info("%s", message)
        if self._progress is not None:
            self._progress(message)

    def _load_locked(self) -> None:
        if self._is_local and not Path(self.model_id).is_dir():
            raise ModelLoadError(
                f"Model folder {self.model_id} does not exist (or is not a folder). Pass --model "
                "a folder saved with save_pretrained, or a Hugging Face hub id such as "
                f"{DEFAULT_MODEL!r}."
            )
        device = resolve_device(self._requested_device)

        import torch

        _apply_thread_setting(torch)
        try:
            if not self._is_local:
                self._snapshot = str(download_model(
                    self._source, self._download_progress or _download_listener.get()))
            self._say(f"loading model {self.model_id} ...")
            model, tokenizer = self._from_pretrained()
            prep = self._read_preprocessing(model)
        except Exception as exc:
            # The boundary where library errors become one actionable line; the full
            # traceback stays in the debug log and on __cause__.
            log.debug("loading %s failed", self.model_id, exc_info=True)
            raise self._load_error(exc) from exc

        model.eval()
        try:
            if device == "cuda":
                # Half precision: twice the throughput and half the memory, and CLIP rankings
                # are unchanged by it (cosine to fp32 > 0.99).
                model.half()
            model.to(device)
        except RuntimeError as exc:  # CUDA out of memory, driver errors
            raise ModelLoadError(
                f"Could not move CLIP model {self.model_id!r} to {device}: {_first_line(exc)}. "
                "Set the device to 'cpu' to run without the GPU."
            ) from exc

        if device == "cpu" and self._requested_precision != "fp32":
            model = to_cpu_precision(model, self._requested_precision)
        self._precision = "fp16" if device == "cuda" else self._requested_precision
        self._model = model
        self._tokenizer = tokenizer
        self._device = device
        self._dim = int(model.config.projection_dim)
        self._max_text_len = int(model.config.text_config.max_position_embeddings)
        with torch.inference_mode():
            self._logit_scale = float(model.logit_scale.float().exp().item())
        self._set_preprocessing(prep)
        self._say(f"model ready on {device}")

    def _from_pretrained(self) -> tuple[Any, Any]:
        from transformers import AutoTokenizer, CLIPModel, CLIPTokenizer

        with _quiet_weight_loading():
            model = CLIPModel.from_pretrained(self._source_path())
        try:
            tokenizer = AutoTokenizer.from_pretrained(self._source_path())
        except (ValueError, KeyError) as exc:
            # An unrecognised tokenizer_config; the files themselves are CLIP's BPE.
            log.info(
                "AutoTokenizer could not read %s (%s); using CLIPTokenizer", self.model_id, exc
            )
            tokenizer = CLIPTokenizer.from_pretrained(self._source_path())
        return model, tokenizer

    def _source_path(self) -> str:
        if self._is_local:
            return self.model_id
        return self._snapshot or self._source

    def _load_error(self, exc: Exception) -> ModelLoadError:
        if self._is_local:
            return ModelLoadError(
                f"Could not load CLIP model from folder {self.model_id}: "
                f"{_first_line(exc)}. Pass --model a folder saved with save_pretrained."
            )
        if _is_unavailable_error(exc):
            return ModelLoadError(
                f"Could not load CLIP model {self.model_id!r}: not in the local cache and it "
                "cannot be downloaded (no network?). Download it once on a connected machine, "
                "or pass --model PATH to a folder saved with save_pretrained."
            )
        return ModelLoadError(f"Could not load CLIP model {self.model_id!r}: {_first_line(exc)}")

    def _read_preprocessing(self, model: Any) -> _Preprocessing:
        # Not CLIPImageProcessor: in transformers 5 that is the torchvision backend, which logs a
        # warning and falls back to this class when torchvision is absent. Only its config is used.
        from transformers import CLIPImageProcessorPil

        # The model's own input size is a better default than 224 for e.g. 336px CLIPs.
        side = int(getattr(model.config.vision_config, "image_size", CLIP_IMAGE_SIZE))
        try:
            proc = CLIPImageProcessorPil.from_pretrained(self._source_path())
        except OSError:
            log.info("%s has no preprocessor config; using OpenAI CLIP defaults", self.model_id)
            return _Preprocessing(side, (side, side), CLIP_MEAN, CLIP_STD, Image.Resampling.BICUBIC)

        size = getattr(proc, "size", None)
        shortest = _size_field(size, "shortest_edge")
        height, width = _size_field(size, "height"), _size_field(size, "width")
        resize_to: int | tuple[int, int]
        if shortest:
            resize_to = shortest
        elif height and width:
            resize_to = (height, width)
        else:
            resize_to = side
        crop_size = getattr(proc, "crop_size", None)
        if getattr(proc, "do_center_crop", True) and crop_size is not None:
            crop = (
                _size_field(crop_size, "height") or side,
                _size_field(crop_size, "width") or side,
            )
        else:
            crop = (side, side)
        if crop != (side, side):
            log.warning(
                "%s: preprocessor crop %s differs from the model input %d; using the model's",
                self.model_id,
                crop,
                side,
            )
            crop = (side, side)
        mean = tuple(float(v) for v in (getattr(proc, "image_mean", None) or CLIP_MEAN))
        std = tuple(float(v) for v in (getattr(proc, "image_std", None) or CLIP_STD))
        resample = getattr(proc, "resample", None)
        return _Preprocessing(
            resize_to=resize_to,
            crop=crop,
            mean=(mean[0], mean[1], mean[2]),
            std=(std[0], std[1], std[2]),
            resample=Image.Resampling(int(resample))
            if resample is not None
            else Image.Resampling.BICUBIC,
        )

    def _set_preprocessing(self, prep: _Preprocessing) -> None:
        std = np.asarray(prep.std, dtype=np.float32)
        mean = np.asarray(prep.mean, dtype=np.float32)
        # (x / 255 - mean) / std folded into one multiply-add per pixel.
        self._scale = (1.0 / (255.0 * std)).astype(np.float32)
        self._offset = (-mean / std).astype(np.float32)
        self._prep = prep

    # -- properties ----------------------------------------------------------------------------

    @property
    def dim(self) -> int:
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
        """exp(logit_scale): multiply cosine similarities by this to get CLIP's logits."""
        self.load()
        return self._logit_scale

    @property
    def preprocessing(self) -> _Preprocessing:
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

        image = resize_for_model(to_rgb(image), prep.resize_to, prep.resample)
        new_w, new_h = image.size

        crop_h, crop_w = prep.crop
        top, left = (new_h - crop_h) // 2, (new_w - crop_w) // 2
        # PIL pads out-of-bounds with zeros, the same as HF's center_crop on small images.
        image = image.crop((left, top, left + crop_w, top + crop_h))

        pixels = np.asarray(image, dtype=np.float32)
        pixels = pixels * scale + offset
        return np.ascontiguousarray(pixels.transpose(2, 0, 1))

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
                features = _pooled(self._model.get_image_features(pixel_values=pixels))
                out.append(_normalised(features))
        return np.concatenate(out, axis=0)

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Texts -> (N, dim) float32, unit length; long texts are cut to the model's 77 tokens."""
        self.load()
        if isinstance(texts, str):
            raise TypeError("encode_texts takes a sequence of strings, not a single string")
        if len(texts) == 0:
            return np.zeros((0, self._dim), dtype=np.float32)

        import torch

        out: list[np.ndarray] = []
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                chunk = [str(t) for t in texts[start : start + self.batch_size]]
                with self._tokenize_lock:
                    tokens = self._tokenizer(
                        chunk,
                        padding=True,
                        truncation=True,
                        max_length=self._max_text_len,
                        return_tensors="pt",
                    )
                features = _pooled(
                    self._model.get_text_features(
                        input_ids=tokens["input_ids"].to(self._device, non_blocking=True),
                        attention_mask=tokens["attention_mask"].to(self._device, non_blocking=True),
                    )
                )
                out.append(_normalised(features))
        return np.concatenate(out, axis=0)


def download_model(repo_id: str, progress: DownloadProgress | None = None) -> Path:
    """The local folder of a hub model, downloading what is missing from the cache.

    Only the files a CLIP model loads are fetched. With `progress`, the download reports
    (bytes done, bytes total) there and draws no bar; without it, huggingface_hub draws its own
    bars on stderr, as a CLI user expects. A cached model is used as it is, offline too; a model
    neither cached nor reachable raises huggingface_hub's error (see `_is_unavailable_error`).
    """
    from huggingface_hub import snapshot_download

    def fetch(weights: tuple[str, ...]) -> Path:
        meter = _byte_meter(progress) if progress is not None else None
        return Path(snapshot_download(repo_id, allow_patterns=[*_MODEL_FILES, *weights],
                                      tqdm_class=meter))

    folder = fetch(_SAFETENSORS)
    if not any(folder.glob("*.safetensors")):
        folder = fetch(_PYTORCH_BIN)  # an older repo: pytorch weights only
    return folder


class _DownloadMeter:
    """Sums what huggingface_hub's byte bars count into one (done, total) for a callback.

    snapshot_download keeps two byte bars (bytes written, and network bytes for Xet
    transfers, which compression makes smaller) plus a file-count bar; the largest byte count
    is the one a user compares with the model's size.
    """

    def __init__(self, callback: DownloadProgress) -> None:
        self.callback = callback
        self.lock = threading.Lock()
        self.bars: list[Any] = []
        self.reported = (0, 0)

    def changed(self) -> None:
        with self.lock:
            done = int(max((b.n or 0 for b in self.bars), default=0))
            total = int(max((b.total or 0 for b in self.bars), default=0))
            report = (done, max(total, done))
            if report == self.reported or done <= 0:
                return
            self.reported = report
        self.callback(*report)


def _byte_meter(callback: DownloadProgress) -> type:
    """A tqdm class for snapshot_download's `tqdm_class` that draws nothing and reports bytes."""
    from tqdm.auto import tqdm

    meter = _DownloadMeter(callback)

    class _ByteBar(tqdm):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.pop("name", None)  # huggingface_hub's own tqdm takes a name; tqdm does not
            kwargs["disable"] = True  # never drawn: the callback is the display
            super().__init__(*args, **kwargs)
            self._bytes = kwargs.get("unit") == "B"
            if self._bytes:
                with meter.lock:
                    meter.bars.append(self)

        def update(self, n: float | None = 1) -> bool | None:
            # A disabled tqdm counts nothing, so count here.
            if self._bytes and n:
                with meter.lock:
                    self.n += n
                meter.changed()
            return None

        def refresh(self, *args: Any, **kwargs: Any) -> None:
            if self._bytes:
                meter.changed()  # huggingface_hub grows `total` as each file starts

    return _ByteBar


def resize_for_model(image: Image.Image, resize_to: int | tuple[int, int],
                     resample: Image.Resampling) -> Image.Image:
    """CLIPImageProcessor's resize: shortest side to `resize_to` (an int), or exactly (h, w)."""
    width, height = image.size
    if isinstance(resize_to, int):
        short, long = (width, height) if width <= height else (height, width)
        new_short, new_long = resize_to, int(resize_to * long / short)
        new_w, new_h = (new_short, new_long) if width <= height else (new_long, new_short)
    else:
        new_h, new_w = resize_to
    if (new_w, new_h) != (width, height):
        image = image.resize((new_w, new_h), resample=resample)
    return image


def to_cpu_precision(model: Any, precision: str) -> Any:
    """The CPU fast paths. bf16 halves memory traffic and uses AVX-512 BF16/AMX where the CPU
    has them; int8 quantises the Linear layers' weights (dynamic quantisation), which is where
    a ViT spends its time. Both must be checked against fp32 (see core.fastpath)."""
    import torch

    if precision == "bf16":
        return model.to(torch.bfloat16)
    if precision == "int8":
        import warnings

        with warnings.catch_warnings():
            # torch.ao.quantization announces its move to torchao; the API still works and is
            # the one shipped with torch itself.
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", FutureWarning)
            warnings.filterwarnings("ignore", message=".*quantiz", category=UserWarning)
            return torch.ao.quantization.quantize_dynamic(
                model, {torch.nn.Linear}, dtype=torch.qint8)
    return model


def _pooled(output: Any) -> torch.Tensor:
    """transformers 5 returns a model output whose pooler_output is the projected embedding;
    older versions returned the tensor itself."""
    import torch

    if isinstance(output, torch.Tensor):
        return output
    pooled = getattr(output, "pooler_output", None)
    if isinstance(pooled, torch.Tensor):
        return pooled
    if isinstance(output, tuple | list) and output and isinstance(output[0], torch.Tensor):
        return output[0]
    raise TypeError(f"unexpected CLIP features output: {type(output).__name__}")


def _normalised(features: torch.Tensor) -> np.ndarray:
    # Normalise in fp32: fp16 norms of 512-d vectors lose enough precision to show in scores.
    features = features.float()
    features = features / features.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    result: np.ndarray = features.cpu().numpy().astype(np.float32, copy=False)
    return result


@contextmanager
def _quiet_weight_loading() -> Iterator[None]:
    """Hide transformers 5's "Loading weights" bar, drawn on every load even from local disk.

    It would clutter every CLI command's stderr. Download bars are huggingface_hub's own tqdm
    and are left alone: a first download can take minutes and deserves a progress bar.
    """
    from transformers.utils import logging as hf_logging

    set_hook = getattr(hf_logging, "set_tqdm_hook", None)
    if set_hook is None:  # older transformers 5.x: nothing to hook, accept the bar
        yield
        return

    def hook(factory: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if kwargs.get("desc") == "Loading weights":
            kwargs = {**kwargs, "disable": True}
        if previous is not None:
            return previous(factory, args, kwargs)
        return factory(*args, **kwargs)

    # The hook is process-wide: serialise so two encoders loading at once restore it in order.
    with _HOOK_LOCK:
        previous = set_hook(hook)
        try:
            yield
        finally:
            set_hook(previous)


def _apply_thread_setting(torch_mod: Any) -> None:
    raw = os.environ.get(ENV_TORCH_THREADS)
    if not raw:
        return
    try:
        threads = int(raw)
        if threads < 1:
            raise ValueError(raw)
    except ValueError:
        log.warning("ignoring %s=%r: expected a positive integer", ENV_TORCH_THREADS, raw)
        return
    torch_mod.set_num_threads(threads)
    log.info("torch intra-op threads set to %d", threads)


def _is_unavailable_error(exc: BaseException) -> bool:
    """True for "the files are not here and cannot be fetched", whatever layer raised it."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError | ConnectionError | TimeoutError):
            return True
        module = type(current).__module__
        if module.startswith(("huggingface_hub", "httpx", "httpcore", "requests", "urllib3")):
            return True
        current = current.__cause__ or current.__context__
    return False


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    # Callers append their own sentence, so drop a trailing full stop to avoid "..".
    return text.splitlines()[0].rstrip(".") if text else type(exc).__name__
