"""Getting a CLIP model into memory: hub download (with byte progress) or a saved folder,
transformers' loaders kept quiet, CPU precision (bf16, int8), and load errors worded for users.
"""

from __future__ import annotations

import contextvars
import logging
import pickle
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from photoclip.config import DEFAULT_MODEL
from photoclip.core.encoder import builtin, conv_tower
from photoclip.core.encoder.families import Family, family_of_folder
from photoclip.core.errors import ModelLoadError

log = logging.getLogger(__name__)

CPU_PRECISIONS = ("fp32", "bf16", "int8")

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
    "vocab.txt",  # Chinese-CLIP's BERT vocabulary
    "spiece.model",  # SigLIP's SentencePiece model
    "sentencepiece.bpe.model",  # XLM-R's (AltCLIP, MetaCLIP 2)
)
_SAFETENSORS = ("model.safetensors", "model.safetensors.index.json", "model-*.safetensors")
_PYTORCH_BIN = ("pytorch_model.bin", "pytorch_model.bin.index.json", "pytorch_model-*.bin")

_HOOK_LOCK = threading.Lock()

_download_listener: contextvars.ContextVar[DownloadProgress | None] = contextvars.ContextVar(
    "photoclip_download_listener", default=None)


# -- which model -------------------------------------------------------------------------------


def looks_like_path(model: str) -> bool:
    """Hub ids are "name" or "org/name"; anything else the user typed is meant as a folder."""
    if model.startswith(("~", ".", "/", "\\")) or "\\" in model or Path(model).is_absolute():
        return True
    return model.count("/") > 1


def is_local_model(model: str) -> bool:
    """Whether `model` names a folder (existing or meant as one) rather than a hub id."""
    return Path(model).expanduser().exists() or looks_like_path(model)


def model_id_for(model: str) -> str:
    """The id embeddings from `model` are stored under: a folder's absolute path, or the hub
    id as given; an empty setting means the default model. Loads nothing."""
    model = model.strip() or DEFAULT_MODEL
    return str(Path(model).expanduser().resolve()) if is_local_model(model) else model


# -- downloads ---------------------------------------------------------------------------------


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


def download_listener() -> DownloadProgress | None:
    """The callback report_downloads set for this thread, if any."""
    return _download_listener.get()


def download_model(repo_id: str, progress: DownloadProgress | None = None) -> Path:
    """The local folder of a hub model, downloading what is missing from the cache.

    Only the files a CLIP model loads are fetched. With `progress`, the download reports
    (bytes done, bytes total) there and draws no bar; without it, huggingface_hub draws its own
    bars on stderr, as a CLI user expects. A cached model is used as it is, offline too; a model
    neither cached nor reachable raises huggingface_hub's error (see `is_unavailable_error`).
    """
    if builtin.is_built(repo_id):
        return builtin.ensure_built(repo_id)  # built here, from a fixed seed: no download
    from huggingface_hub import snapshot_download

    def fetch(weights: tuple[str, ...]) -> Path:
        meter = _byte_meter(progress) if progress is not None else None
        return Path(snapshot_download(repo_id, allow_patterns=[*_MODEL_FILES, *weights],
                                      tqdm_class=meter))

    folder = fetch(_SAFETENSORS)
    if not any(folder.glob("*.safetensors")):
        folder = fetch(_PYTORCH_BIN)  # an older repo: pytorch weights only
    return folder


def cached_model_folder(repo_id: str) -> Path | None:
    """The local snapshot folder of a hub model already in the cache, or None; never touches
    the network and imports no torch."""
    if builtin.is_built(repo_id):
        return builtin.cached_built(repo_id)
    try:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(repo_id, "config.json")
    except Exception:  # an odd id or cache layout: the caller loads the model instead
        log.debug("no cached snapshot of %s", repo_id, exc_info=True)
        return None
    return Path(found).parent if isinstance(found, str) else None


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


# -- loading -----------------------------------------------------------------------------------


def from_pretrained(source: str, model_id: str) -> tuple[Any, Any, Family]:
    """(model, tokenizer, family) from a local folder, without transformers' loading bar.

    The family comes from config.json; an unsupported one raises ModelLoadError naming those
    that are supported, before any weights are read."""
    import transformers
    from transformers import AutoTokenizer

    family = family_of_folder(source, model_id)
    if family.name == "vision-text-dual-encoder":
        conv_tower.register()  # photoclip's own image tower, which transformers does not know
    model_class = getattr(transformers, family.model_class)
    with _quiet_weight_loading():
        model = model_class.from_pretrained(source)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
    except (ValueError, KeyError) as exc:
        # An unrecognised tokenizer_config; the files themselves are the family's own.
        log.info("AutoTokenizer could not read %s (%s); using %s", model_id, exc,
                 family.tokenizer_class)
        tokenizer = getattr(transformers, family.tokenizer_class).from_pretrained(source)
    return model, tokenizer, family


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


def to_cpu_precision(model: Any, precision: str) -> Any:
    """The CPU fast paths. bf16 halves memory traffic and uses AVX-512 BF16/AMX where the CPU
    has them; int8 quantises the Linear layers' weights (dynamic quantisation), which is where
    a ViT spends its time. Both must be checked against fp32 (see core.fastpath).

    Both convert `model` in place (its callers pass a model of their own): quantize_dynamic's
    default copy held a second fp32 model at load, ~0.45 GB more peak memory for ViT-B/32."""
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
                model, {torch.nn.Linear}, dtype=torch.qint8, inplace=True)
    return model


# -- errors ------------------------------------------------------------------------------------


def missing_folder_error(model_id: str) -> ModelLoadError:
    return ModelLoadError(
        f"Model folder {model_id} does not exist (or is not a folder). Pass --model "
        "a folder saved with save_pretrained, or a Hugging Face hub id such as "
        f"{DEFAULT_MODEL!r}."
    )


def load_error(model_id: str, is_local: bool, exc: Exception) -> ModelLoadError:
    """One actionable line for a failed load; the traceback stays on __cause__."""
    refused = unsafe_weights_reason(exc)
    if refused is not None:
        where = f"from folder {model_id}" if is_local else repr(model_id)
        return ModelLoadError(
            f"Could not load CLIP model {where}: {refused}. Use a model whose weights are "
            "in safetensors format (model.safetensors).")
    if is_local:
        return ModelLoadError(
            f"Could not load CLIP model from folder {model_id}: "
            f"{first_line(exc)}. Pass --model a folder saved with save_pretrained."
        )
    if is_unavailable_error(exc):
        return ModelLoadError(
            f"Could not load CLIP model {model_id!r}: not in the local cache and it "
            "cannot be downloaded (no network?). Download it once on a connected machine, "
            "or pass --model PATH to a folder saved with save_pretrained."
        )
    return ModelLoadError(f"Could not load CLIP model {model_id!r}: {first_line(exc)}")


# torch's refusal of a pickle that holds more than tensors names the code it would have run.
_BLOCKED_GLOBAL = re.compile(r"unsupported GLOBAL (\S+?)(?: whose|\s|$)")


def unsafe_weights_reason(exc: BaseException) -> str | None:
    """Our words for torch refusing a weights file that would run code when loaded, or None.

    torch's own message goes on to suggest loading it again with `weights_only=False`, that is,
    running whatever the file holds: that advice must never reach a user, so none of its text
    is kept.
    """
    for current in _chain(exc):
        text = str(current)
        if isinstance(current, pickle.UnpicklingError) or "weights_only" in text:
            match = _BLOCKED_GLOBAL.search(text)
            what = f" (it calls {match.group(1)})" if match else ""
            return ("its pytorch_model.bin holds code or objects besides weights" + what
                    + ", so it was refused: loading it could run that code")
    return None


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def is_unavailable_error(exc: BaseException) -> bool:
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


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    # Callers append their own sentence, so drop a trailing full stop to avoid "..".
    return text.splitlines()[0].rstrip(".") if text else type(exc).__name__
