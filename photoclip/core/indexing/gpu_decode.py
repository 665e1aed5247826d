"""JPEGs decoded on the GPU, in batches, when the encoder runs on CUDA (issue 23).

On a GPU the model embeds thousands of photos a second while Pillow decodes a 12-MP JPEG in
~40 ms of a core: the CPU decoders are the wall. With the optional `gpu` extra (torchvision,
whose `decode_jpeg(list, device="cuda")` runs nvJPEG) the indexer splits the work:

- a decode thread reads and hashes the file as always (decode.prepare), then, for a JPEG that
  qualifies (`defer`), reads only its header (size, mode, EXIF orientation and date) and copies
  the bytes into a pinned host buffer instead of decoding them;
- the indexing thread, before embedding a batch (`finish`), decodes the batch's JPEGs on the
  GPU in one call, turns them upright, resizes, crops and normalises them there exactly as the
  model's recipe says (`model_input`; the same code runs on the CPU in the tests), and makes the
  thumbnails from the same pixels.

Everything else stays with Pillow: non-JPEGs, CMYK, huge or unreadable headers in the decode
thread; and, per photo, any JPEG the GPU decoder refuses (torchvision gives no partial results,
so a failed batch is retried photo by photo, and only the refused ones are read again through
Pillow). Nothing here ever fails a batch. The decoder is injectable: the tests use one that
decodes with Pillow into tensors.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from photoclip.core.imaging import exif_taken_at
from photoclip.core.thumbnails import THUMB_SIZE, save_thumbnail

if TYPE_CHECKING:
    import torch

    from photoclip.core.encoder import Encoder, PreprocessRecipe
    from photoclip.core.indexing.decode import Prepared

log = logging.getLogger(__name__)

ENV_GPU_DECODE = "PHOTOCLIP_GPU_DECODE"  # "0": Pillow only, even on CUDA with torchvision
# Larger JPEGs go to Pillow, whose draft mode decodes them at 1/8 scale: a full-size decode of
# 50 MP is 150 MB of GPU memory per photo.
GPU_MAX_PIXELS = 50_000_000
# Most decoded pixels one decode call holds on the GPU (a batch is split to stay under it):
# 32 12-MP photos, 1.2 GB of uint8, freed before the next chunk.
CALL_MAX_PIXELS = 400_000_000
# A whole JPEG ends with its EOI marker; a GPU decoder may not refuse one cut short (Pillow
# does, with a reason), so only JPEGs whose last bytes hold EOI are deferred.
_EOI, _EOI_TAIL = b"\xff\xd9", 32
_GPU_MODES = frozenset({"RGB", "L"})  # CMYK and the rest: Pillow
_ORIENTATION = 0x0112
_INTERPOLATION = {Image.Resampling.BILINEAR: "bilinear", Image.Resampling.BICUBIC: "bicubic"}

# A JPEG decoder for a batch: file bytes as 1-D uint8 CPU tensors in, (3, H, W) uint8 RGB
# tensors out (stored orientation, on its device), all or nothing (it raises for the batch).
JpegDecoder = Callable[[list["torch.Tensor"]], list["torch.Tensor"]]


@dataclass(frozen=True)
class JpegLater:
    """A JPEG whose decode waits for its batch: what its header said, and its bytes."""

    buffer: torch.Tensor  # the file's bytes, uint8, pinned when the decoder is on CUDA
    stored: tuple[int, int]  # (width, height) as stored, before EXIF orientation
    orientation: int
    taken_at: str | None
    progressive: bool
    thumb: Path | None  # where its thumbnail goes, if one is to be made

    @property
    def upright(self) -> tuple[int, int]:
        w, h = self.stored
        return (h, w) if self.orientation in (5, 6, 7, 8) else (w, h)


def torchvision_decoder(device: str) -> tuple[JpegDecoder | None, str]:
    """torchvision's decode_jpeg on `device` (nvJPEG on CUDA), or None and why it cannot load."""
    try:
        from torchvision.io import ImageReadMode, decode_jpeg
    except Exception as exc:  # not installed, or a build whose C ops do not match this torch
        return None, f"torchvision cannot load ({type(exc).__name__}: {exc})"

    def decode(buffers: list[torch.Tensor]) -> list[torch.Tensor]:
        out = decode_jpeg(buffers, mode=ImageReadMode.RGB, device=device)
        return list(out) if isinstance(out, list | tuple) else [out]

    return decode, "torchvision.io.decode_jpeg"


def _read_header(data: bytes, max_pixels: int) -> tuple[tuple[int, int], int, str | None,
                                                          bool] | None:
    """(stored size, orientation, taken_at, progressive) of a JPEG the GPU can take, else None.
    Only the header and markers are read, no pixel."""
    if data[:2] != b"\xff\xd8" or _EOI not in data[-_EOI_TAIL:]:
        return None  # not a JPEG, or cut short (or trailing data: a motion photo's video)
    try:
        with Image.open(io.BytesIO(data), formats=("JPEG",)) as img:
            if img.format != "JPEG" or img.mode not in _GPU_MODES:
                return None
            w, h = img.size
            if not 0 < w * h <= max_pixels:
                return None
            progressive = bool(img.info.get("progressive") or img.info.get("progression"))
            try:
                exif: Image.Exif | None = img.getexif()
            except Exception:
                exif = None
    except Exception:
        return None  # Pillow decides and says what is wrong with it
    orientation = exif.get(_ORIENTATION) if exif is not None else None
    if not (isinstance(orientation, int) and 1 <= orientation <= 8):
        orientation = 1
    return (w, h), orientation, exif_taken_at(exif), progressive


def upright(image: torch.Tensor, orientation: int) -> torch.Tensor:
    """(C, H, W) turned as EXIF `orientation` says, as Pillow's transposes in imaging.py do."""
    import torch

    if orientation == 2:
        return image.flip(-1)
    if orientation == 3:
        return image.flip(-2, -1)
    if orientation == 4:
        return image.flip(-2)
    if orientation == 5:
        return image.transpose(-2, -1)
    if orientation == 6:
        return torch.rot90(image, -1, dims=(-2, -1))
    if orientation == 7:
        return image.transpose(-2, -1).flip(-2, -1)
    if orientation == 8:
        return torch.rot90(image, 1, dims=(-2, -1))
    return image


def _resize(image: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    """(C, H, W) uint8 or float -> float (C, h, w) in [0, 255], rounded as Pillow's uint8 are."""
    import torch.nn.functional as F

    x = image[None].float()
    if tuple(x.shape[-2:]) != size:
        x = F.interpolate(x, size=size, mode=mode, antialias=True, align_corners=False)
    return x[0].clamp_(0, 255).round_()


def model_input(images: Sequence[torch.Tensor], orientations: Sequence[int],
                recipe: PreprocessRecipe) -> torch.Tensor:
    """Decoded (3, H, W) uint8 images -> (N, 3, S, S) float32 model input on their device: the
    Pillow path's geometry (preprocess.preprocess_image) in torch ops: upright, resize (shortest
    side, or exact), centre crop padded with zeros, (x / 255 - mean) / std."""
    import torch

    crop_h, crop_w = recipe.crop
    mode = _INTERPOLATION.get(recipe.resample, "bicubic")
    out = []
    for image, orientation in zip(images, orientations, strict=True):
        image = upright(image, orientation)
        height, width = int(image.shape[-2]), int(image.shape[-1])
        if isinstance(recipe.resize_to, int):
            short, long = (width, height) if width <= height else (height, width)
            new_short, new_long = recipe.resize_to, int(recipe.resize_to * long / short)
            new_w, new_h = (new_short, new_long) if width <= height else (new_long, new_short)
        else:
            new_h, new_w = recipe.resize_to
        x = _resize(image, (new_h, new_w), mode)
        top, left = (new_h - crop_h) // 2, (new_w - crop_w) // 2
        canvas = x.new_zeros((3, crop_h, crop_w))
        y0, x0 = max(0, top), max(0, left)
        y1, x1 = min(new_h, top + crop_h), min(new_w, left + crop_w)
        canvas[:, y0 - top : y1 - top, x0 - left : x1 - left] = x[:, y0:y1, x0:x1]
        out.append(canvas)
    batch = torch.stack(out)
    mean = torch.tensor(recipe.mean, device=batch.device).view(1, 3, 1, 1)
    std = torch.tensor(recipe.std, device=batch.device).view(1, 3, 1, 1)
    return (batch / 255.0 - mean) / std


def thumbnail_pixels(image: torch.Tensor, orientation: int, size: int = THUMB_SIZE) -> np.ndarray:
    """(H, W, 3) uint8 on the host: the upright image fitting in size x size (never upscaled),
    as thumbnails.make_thumbnail sizes it."""
    image = upright(image, orientation)
    h, w = int(image.shape[-2]), int(image.shape[-1])
    if max(w, h) > size:
        scale = size / max(w, h)
        h, w = max(1, min(size, round(h * scale))), max(1, min(size, round(w * scale)))
    small = _resize(image, (h, w), "bicubic").to("cpu", dtype=_uint8())
    return small.permute(1, 2, 0).contiguous().numpy()


def _uint8() -> Any:
    import torch

    return torch.uint8


class GpuJpegs:
    """The indexer's JPEG batches for `encoder`. `decoder` None: torchvision's nvJPEG when the
    encoder runs on CUDA (settled at the first JPEG to decode, when the model is loaded
    anyway); given: that decoder, on `device` (tests). `pin`: copy file bytes into pinned
    memory (default: when the device is CUDA)."""

    def __init__(self, encoder: Encoder, *, decoder: JpegDecoder | None = None, device: str = "cpu",
                 pin: bool | None = None, max_pixels: int = GPU_MAX_PIXELS) -> None:
        self.encoder = encoder
        self.max_pixels = max_pixels
        self._decoder = decoder
        self.device = device
        self.pin = pin
        self._settled = decoder is not None
        self._lock = threading.Lock()
        self.progressive_ok = True  # False once the decoder refused a progressive JPEG
        self.why_not: str | None = None  # why GPU decoding is off, once settled
        self.decoded_on_gpu = 0  # photos this object decoded on its device
        self.fell_back = 0  # JPEGs it handed back to Pillow after the decoder refused them
        self._savers: ThreadPoolExecutor | None = None

    def active(self) -> bool:
        """Whether JPEGs are decoded here (settles the choice on first call)."""
        with self._lock:
            if not self._settled:
                self._settled = True
                self._decoder, self.why_not = self._choose()
                if self._decoder is None:
                    log.info("JPEGs are decoded by Pillow: %s", self.why_not)
                else:
                    log.info("JPEGs are decoded on %s (nvJPEG, in batches)", self.device)
            return self._decoder is not None

    def _choose(self) -> tuple[JpegDecoder | None, str | None]:
        if os.environ.get(ENV_GPU_DECODE, "1") == "0":
            return None, f"{ENV_GPU_DECODE}=0"
        device = str(getattr(self.encoder, "device", "cpu"))
        if not device.startswith("cuda"):
            return None, f"the model runs on {device}, not CUDA"
        decoder, why = torchvision_decoder(device)
        if decoder is None:
            return None, f"{why}; pip install 'photoclip[gpu]' for GPU JPEG decoding"
        self.device = device
        return decoder, None

    # -- in a decode thread -----------------------------------------------------------------

    def defer(self, data: bytes, thumb: Path | None) -> JpegLater | None:
        """The JPEG in `data` set aside for its batch's GPU decode, or None: Pillow decodes it
        now (not a JPEG the GPU takes, or GPU decoding is off)."""
        if not self.active():
            return None
        head = _read_header(data, self.max_pixels)
        if head is None:
            return None
        stored, orientation, taken_at, progressive = head
        if progressive and not self.progressive_ok:
            return None
        import torch

        pin = self.device.startswith("cuda") if self.pin is None else self.pin
        buffer = torch.empty(len(data), dtype=torch.uint8, pin_memory=pin)
        buffer.numpy()[:] = np.frombuffer(data, dtype=np.uint8)
        return JpegLater(buffer, stored, orientation, taken_at, progressive, thumb)

    # -- in the indexing thread, before the batch is embedded --------------------------------

    def finish(self, batch: list[Prepared], fallback: Callable[[Prepared], Prepared]) -> None:
        """Decode the batch's deferred JPEGs on the device and fill in their model input, size,
        date and thumbnail, in place and in order; each one the decoder refuses, and every one
        of a chunk whose preparation fails on the device (out of memory), is replaced by
        `fallback(item)` (Pillow, reading the file again). Decoded in chunks of at most
        CALL_MAX_PIXELS, each freed before the next."""
        todo = [(r, r.later) for r in batch if isinstance(r.later, JpegLater)]
        start = 0
        while start < len(todo):
            end, pixels = start, 0
            while end < len(todo) and (end == start or pixels + _area(todo[end][1])
                                       <= CALL_MAX_PIXELS):
                pixels += _area(todo[end][1])
                end += 1
            self._finish_chunk(todo[start:end], fallback)
            start = end

    def _finish_chunk(self, chunk: list[tuple[Prepared, JpegLater]],
                      fallback: Callable[[Prepared], Prepared]) -> None:
        for r, _ in chunk:
            r.later = None
        images = self._decode([it for _, it in chunk])
        done = [(r, it, im) for (r, it), im in zip(chunk, images, strict=True)
                if im is not None]
        refused = [(r, it) for (r, it), im in zip(chunk, images, strict=True) if im is None]
        saves = []
        if done:
            try:
                recipe = self.encoder.preprocessing  # type: ignore[attr-defined]
                host = model_input([d[2] for d in done], [d[1].orientation for d in done],
                                   recipe).to("cpu").numpy()
                thumbs = [(r, it.thumb, thumbnail_pixels(im, it.orientation))
                          for r, it, im in done if it.thumb is not None]
            except Exception as exc:  # e.g. out of GPU memory: Pillow takes the chunk
                log.warning("preparing %d photos on %s failed (%s); Pillow decodes them",
                            len(done), self.device, exc)
                refused += [(r, it) for r, it, _ in done]
                done, thumbs = [], []
            del images
            self.decoded_on_gpu += len(done)
            for i, (r, it, _) in enumerate(done):
                r.pixels = host[i]
                r.width, r.height = it.upright
                r.taken_at = it.taken_at
            for r, dest, small in thumbs:
                saves.append(self._saver().submit(_save, small, dest, r.task.path))
        for r, it in refused:
            self.fell_back += 1
            if it.progressive:
                self.progressive_ok = False
            fresh = fallback(r)
            for f in dataclasses.fields(fresh):
                setattr(r, f.name, getattr(fresh, f.name))
        for fut in saves:
            fut.result()  # written before the batch is committed, as on the Pillow path

    def _decode(self, items: list[JpegLater]) -> list[torch.Tensor | None]:
        """Decoded images in order; None for each one the decoder refuses. A chunk the decoder
        refuses (no partial results) is decoded again photo by photo."""
        try:
            return self._call(items)
        except Exception as exc:
            log.debug("GPU JPEG batch refused (%s): decoding it photo by photo", exc)
        images: list[torch.Tensor | None] = []
        for item in items:
            try:
                images.extend(self._call([item]))
            except Exception as one:
                log.info("GPU JPEG decode refused a photo (%s); Pillow reads it", one)
                images.append(None)
        return images

    def _call(self, items: list[JpegLater]) -> list[torch.Tensor | None]:
        assert self._decoder is not None
        images = self._decoder([it.buffer for it in items])
        if len(images) != len(items):
            raise RuntimeError(f"decoder gave {len(images)} images for {len(items)}")
        # A decode whose size is not the header's is not the photo: Pillow decides.
        return [im if tuple(im.shape) == (3, it.stored[1], it.stored[0]) else None
                for im, it in zip(images, items, strict=True)]

    def _saver(self) -> ThreadPoolExecutor:
        if self._savers is None:
            self._savers = ThreadPoolExecutor(min(8, os.cpu_count() or 2),
                                              thread_name_prefix="thumbnail")
        return self._savers

    def close(self) -> None:
        if self._savers is not None:
            self._savers.shutdown(wait=True)
            self._savers = None


def _area(item: JpegLater) -> int:
    return item.stored[0] * item.stored[1]


def _save(pixels: np.ndarray, dest: Path | None, path: str) -> None:
    assert dest is not None
    try:
        save_thumbnail(Image.fromarray(pixels, "RGB"), dest, THUMB_SIZE)
    except OSError as exc:
        log.warning("cannot write thumbnail for %s: %s", path, exc)
