"""Decoding photos for indexing and thumbnails: small, upright, RGB, and cheap to produce.

The indexer decodes many files at once from worker threads, and each result only feeds a
224-px CLIP crop and a 256-px thumbnail (thumbnails.py), so decoding aims for "just big enough":
JPEGs are DCT-scaled by libjpeg while decoding and everything else is box-reduced right after.
Camera RAW files give their embedded JPEG preview (rawpy, the optional `raw` extra).

Anything a user's folders may hold is expected here: truncated, hostile or mislabelled files,
FIFOs and devices named like photos. Every failure is an ImageError with a reason a user can
read; nothing is opened that could block (see open_regular).
"""

from __future__ import annotations

import dataclasses
import errno
import functools
import importlib.util
import io
import logging
import os
import re
import stat
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

import numpy as np
from PIL import Image, UnidentifiedImageError, features

from photoclip.core.decodeguard import PixelBudget
from photoclip.core.errors import ImageError

logger = logging.getLogger(__name__)

_WHITE = (255, 255, 255)

# Formats we hand to Image.open: restricting it keeps Pillow from probing exotic plugins
# (EPS via Ghostscript, PSD, ...) on files that merely carry a photo extension. MPO is not
# listed: Pillow has no MPO opener, its JPEG opener returns MPO images itself.
_FORMATS: list[str] = ["JPEG", "PNG", "WEBP", "TIFF", "BMP", "GIF"]
_EXTENSIONS = {".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp", ".gif"}
_HEIF = importlib.util.find_spec("pillow_heif") is not None  # registered by open_formats()
if _HEIF:
    _FORMATS.append("HEIF")
    _EXTENSIONS |= {".heic", ".heif"}

if features.check_module("avif"):
    _FORMATS.append("AVIF")
    _EXTENSIONS.add(".avif")

# Camera RAW: decoded through their embedded preview by rawpy (LibRaw), the `raw` extra. They are
# listed whether or not rawpy is installed, so that without it each is recorded once with a
# reason naming the extra rather than silently ignored. Left out: ".raw" (mostly not photos)
# and ".x3f" (LibRaw dropped Sigma's format).
RAW_EXTENSIONS: frozenset[str] = frozenset({
    ".dng", ".cr2", ".cr3", ".crw", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".raf", ".orf",
    ".rw2", ".rwl", ".pef", ".srw", ".3fr", ".erf", ".kdc", ".dcr", ".mrw", ".mos", ".iiq",
})
_EXTENSIONS |= RAW_EXTENSIONS

IMAGE_EXTENSIONS: frozenset[str] = frozenset(_EXTENSIONS)

# The reason a RAW file fails without rawpy; the indexer retries exactly these once rawpy is
# there (installing the extra changes no file, so the usual "retry when it changes" would not).
RAW_NEEDS_EXTRA = "camera RAW needs the optional extra: pip install 'photoclip[raw]'"

# Largest image we decode, in pixels after JPEG DCT scaling: Pillow's own default refusal
# threshold (2 x MAX_IMAGE_PIXELS), kept even if something in the process raised or disabled
# Image.MAX_IMAGE_PIXELS. At 4 bytes a pixel that is ~700 MB for one decode thread.
MAX_DECODED_PIXELS = 178_956_970
# Pixels all decodes may hold at once: one image of the largest size we decode, at 4 bytes a
# pixel ~700 MB however many decode threads run. Tests put a smaller one here.
DECODE_BUDGET = PixelBudget(MAX_DECODED_PIXELS)

_ORIENTATION_TAG = 0x0112
_EXIF_IFD = 0x8769
_DATETIME_ORIGINAL = 36867
_DATETIME = 306

# Same table as ImageOps.exif_transpose. We transpose ourselves so that the reported
# width/height and the pixels come from one orientation value, and to skip the copy
# exif_transpose makes when there is nothing to do.
_TRANSPOSE: dict[int, Image.Transpose] = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

# Modes Image.reduce handles natively and correctly. "P" is excluded because averaging
# palette indices gives garbage colours; "I;16*" and "1" are rejected by the C code.
_REDUCIBLE_MODES = frozenset({"RGB", "RGBA", "RGBX", "L", "LA", "CMYK", "YCbCr", "I", "F"})


@dataclass(frozen=True)
class Decoded:
    image: Image.Image
    width: int
    height: int
    taken_at: str | None


def is_image_path(path: str | os.PathLike[str]) -> bool:
    return os.path.splitext(os.fspath(path))[1].lower() in IMAGE_EXTENSIONS


def is_raw_path(path: str | os.PathLike[str]) -> bool:
    return os.path.splitext(os.fspath(path))[1].lower() in RAW_EXTENSIONS


@functools.cache
def raw_supported() -> bool:
    """Whether rawpy (the `raw` extra) can be imported."""
    try:
        import rawpy  # noqa: F401
    except ImportError:
        return False
    return True


class NotRegularFileError(OSError):
    """A path names a FIFO, socket or device: never opened, since reading one can block."""


def open_regular(path: str | os.PathLike[str]) -> IO[bytes]:
    """Open a regular file for reading without ever blocking on a FIFO or device.

    stat() first, so a FIFO or device is refused without being opened (opening a FIFO blocks
    until a writer comes, opening a tape drive may rewind it); then open non-blocking and check
    the descriptor again, in case the path was swapped in between. Raises OSError:
    FileNotFoundError, IsADirectoryError, PermissionError, NotRegularFileError, ...
    """
    st = os.stat(path)
    _require_regular(path, st.st_mode)
    flags = (os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
             | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0))
    fd = os.open(path, flags)
    try:
        _require_regular(path, os.fstat(fd).st_mode)
        # O_NONBLOCK has no effect on regular files, so reads behave as usual.
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _require_regular(path: str | os.PathLike[str], mode: int) -> None:
    if stat.S_ISREG(mode):
        return
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(errno.EISDIR, "is a directory, not a file", os.fspath(path))
    raise NotRegularFileError(
        errno.EINVAL, "not a regular file (a FIFO, socket or device)", os.fspath(path))


def read_error_reason(exc: OSError) -> str:
    """A user's words for why a file could not be opened or read."""
    if isinstance(exc, NotRegularFileError):
        return "not a regular file (a FIFO, socket or device)"
    if isinstance(exc, FileNotFoundError):
        return "file not found"
    if isinstance(exc, IsADirectoryError):
        return "is a directory, not a file"
    if isinstance(exc, PermissionError):
        return "permission denied"
    return f"cannot read file ({exc.strerror or exc})"


def decode(
    source: str | os.PathLike[str] | bytes, min_side: int = 224, *, name: str | None = None
) -> Decoded:
    """Decode a photo to an upright RGB image whose shortest side is in [min_side, ~2*min_side].

    Images smaller than `min_side` are returned at their own size, never upscaled.
    Raises ImageError for anything that is not a readable image. A camera RAW (known by the
    extension of the path, or of `name` for bytes) gives its embedded preview, with width and
    height those of the sensor's image.
    """
    if min_side < 1:
        raise ValueError(f"min_side must be positive, got {min_side}")

    if isinstance(source, bytes | bytearray | memoryview):
        label: object = name if name is not None else "<bytes>"
        if len(source) == 0:
            raise ImageError(label, "empty file (0 bytes)")
        if name is not None and is_raw_path(name):
            return _decode_raw(bytes(source), label, min_side)
        return _decode_stream(io.BytesIO(source), label, min_side)

    label = os.fspath(source)
    try:
        fp = open_regular(source)
    except OSError as exc:
        raise ImageError(label, read_error_reason(exc)) from None
    with fp:
        try:
            empty = os.fstat(fp.fileno()).st_size == 0
        except OSError:
            empty = False
        if empty:
            raise ImageError(label, "empty file (0 bytes)")
        if is_raw_path(label):
            return _decode_raw(fp, label, min_side)
        return _decode_stream(fp, label, min_side)


# --- internals ------------------------------------------------------------------------------


def _decode_stream(
    fp: IO[bytes],
    label: object,
    min_side: int,
    formats: tuple[str, ...] | None = None,
    default_orientation: int = 1,
) -> Decoded:
    try:
        img = Image.open(fp, formats=formats or open_formats())
    except Exception as exc:
        raise ImageError(label, _reason(exc)) from exc

    try:
        stored_w, stored_h = img.size
        if img.format in ("JPEG", "MPO"):
            # Both sides must stay >= min_side, so the choice of scale does not depend on
            # the EXIF orientation applied later.
            img.draft("RGB", (min_side, min_side))
        _check_pixels(img.size, (stored_w, stored_h), label)
        # The size is known from the header: wait for room before decoding any pixel.
        with DECODE_BUDGET.hold(img.size[0] * img.size[1]):
            img.load()
            # EXIF is read after load(): PNG may keep its eXIf chunk after the pixel data.
            exif = _read_exif(img, label)
            orientation = _orientation(exif)
            if orientation == 1:
                orientation = default_orientation
            taken_at = exif_taken_at(exif)
            # Shrink before converting when the mode allows it: fewer pixels to convert.
            out = _shrink(img, min_side) if img.mode in _REDUCIBLE_MODES else img
            out = _shrink(to_rgb(out), min_side)
            if out is not img:
                img.close()  # the full-size pixels go while their share is held
            method = _TRANSPOSE.get(orientation)
            if method is not None:
                out = out.transpose(method)
    except ImageError:
        raise
    except Exception as exc:
        raise ImageError(label, _reason(exc)) from exc

    width, height = (stored_h, stored_w) if orientation in (5, 6, 7, 8) else (stored_w, stored_h)
    return Decoded(image=out, width=width, height=height, taken_at=taken_at)


def _check_pixels(decoded: tuple[int, int], stored: tuple[int, int], label: object) -> None:
    if decoded[0] * decoded[1] > MAX_DECODED_PIXELS:
        raise ImageError(label, f"image too large ({stored[0] * stored[1]} pixels)")


# LibRaw's `flip` (dcraw's) as the EXIF orientation it stands for.
_FLIP_TO_ORIENTATION = {0: 1, 1: 2, 2: 4, 3: 3, 4: 5, 5: 8, 6: 6, 7: 7}


def _decode_raw(source: bytes | IO[bytes], label: object, min_side: int) -> Decoded:
    """A camera RAW through its embedded preview (the camera's own rendering, already at a
    useful size: decoding the sensor data would take seconds per photo for no better result).
    """
    if not raw_supported():
        raise ImageError(label, RAW_NEEDS_EXTRA)
    import rawpy

    data = source if isinstance(source, bytes) else source.read()
    try:
        with rawpy.imread(io.BytesIO(data)) as raw:
            sizes = raw.sizes
            orientation = _FLIP_TO_ORIENTATION.get(int(sizes.flip), 1)
            full = (int(sizes.width), int(sizes.height))
            try:
                thumb: Any = raw.extract_thumb()
            except (rawpy.LibRawNoThumbnailError, rawpy.LibRawUnsupportedThumbnailError):
                thumb = None
            decoded: Decoded | None = None
            if thumb is not None and thumb.format == rawpy.ThumbFormat.JPEG:
                try:
                    # The preview is usually stored unrotated; its own EXIF orientation, when
                    # it has one, wins over the RAW's.
                    decoded = _decode_stream(io.BytesIO(thumb.data), label, min_side,
                                             formats=("JPEG",), default_orientation=orientation)
                except ImageError as exc:
                    logger.debug("%s: unusable RAW preview (%s)", label, exc.reason)
                    thumb = None
                if decoded is not None and min(decoded.image.size) < min(min_side, *full):
                    # A thumbnail-sized preview (some older cameras) is too small to embed
                    # well: develop the sensor data instead.
                    decoded, thumb = None, None
            if decoded is None:
                decoded = _decode_raw_pixels(raw, thumb, label, min_side, orientation)
    except ImageError:
        raise
    except rawpy.LibRawError as exc:
        detail = exc.args[0] if exc.args else ""
        if isinstance(detail, bytes):  # LibRaw's messages arrive as bytes
            detail = detail.decode("utf-8", "replace")
        reason = str(detail).strip() or type(exc).__name__
        raise ImageError(label, f"cannot decode camera RAW ({reason})") from exc
    except Exception as exc:
        raise ImageError(label, _reason(exc)) from exc

    if full[0] > 0 and full[1] > 0:
        # The sensor's size, turned the way the preview came out (upright).
        w, h = full
        if (decoded.width >= decoded.height) != (w >= h):
            w, h = h, w
        decoded = dataclasses.replace(decoded, width=w, height=h)
    if decoded.taken_at is None:
        decoded = dataclasses.replace(decoded, taken_at=_raw_taken_at(data))
    return decoded


def _decode_raw_pixels(raw: Any, thumb: Any, label: object, min_side: int,
                       orientation: int) -> Decoded:
    """No usable JPEG preview: a bitmap preview, else the sensor data at half size."""
    import rawpy

    if thumb is not None and thumb.format == rawpy.ThumbFormat.BITMAP:
        img = Image.fromarray(thumb.data)
        size = img.size
        method = _TRANSPOSE.get(orientation)  # a bitmap preview is unrotated, like a JPEG one
    else:
        sizes = raw.sizes
        _check_pixels((sizes.iwidth, sizes.iheight), (sizes.width, sizes.height), label)
        with DECODE_BUDGET.hold(sizes.iwidth * sizes.iheight):
            full = Image.fromarray(
                raw.postprocess(half_size=True, use_camera_wb=True, output_bps=8))
            size, img = full.size, _shrink(full, min_side)
            del full
        method = None  # LibRaw applied the flip itself
    out = _shrink(to_rgb(_shrink(img, min_side)), min_side)
    if method is not None:
        out = out.transpose(method)
    return Decoded(image=out, width=size[0], height=size[1], taken_at=None)


def _raw_taken_at(data: bytes) -> str | None:
    """Most RAW formats are TIFF underneath: read the date from their first IFD's EXIF (the
    tags only; no pixels are decoded)."""
    try:
        with Image.open(io.BytesIO(data), formats=("TIFF",)) as img:
            return exif_taken_at(img.getexif())
    except Exception:
        return None


@functools.cache
def open_formats() -> tuple[str, ...]:
    """The formats photoclip opens (for Image.open), that this Pillow build can open; registers
    pillow-heif the first time (its import costs ~50 ms, which a text query never needs)."""
    if _HEIF:
        import pillow_heif

        pillow_heif.register_heif_opener()
    Image.init()  # every plugin, once: Image.open raises KeyError for an unregistered name
    return tuple(fmt for fmt in _FORMATS if fmt in Image.OPEN)


def _shrink(img: Image.Image, min_side: int) -> Image.Image:
    shortest = min(img.size)
    if shortest <= 2 * min_side:
        return img
    # Integer box reduction: cheap, antialiased, and floor(shortest/min_side) keeps the
    # result's shortest side in [min_side, 2*min_side).
    return img.reduce(shortest // min_side)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, Image.DecompressionBombError):
        match = re.search(r"\((\d+) pixels\)", str(exc))
        return f"image too large ({match.group(1)} pixels)" if match else "image too large"
    if isinstance(exc, UnidentifiedImageError):
        return "not an image file (or an unsupported format)"
    text = str(exc).strip()
    if "truncated" in text.lower():
        return "truncated file"
    # Warnings only arrive here when the process turns them into errors (-W error).
    if isinstance(exc, SyntaxError | ValueError | Warning):
        return f"corrupt image data ({text})" if text else "corrupt image data"
    if isinstance(exc, OSError):
        return f"cannot decode image ({text})" if text else "cannot decode image"
    return f"cannot decode image ({type(exc).__name__}: {text})"


def _read_exif(img: Image.Image, label: object) -> Image.Exif | None:
    try:
        return img.getexif()
    except Exception as exc:
        # Broken metadata must not cost the user the photo itself.
        logger.debug("%s: unreadable EXIF ignored (%s)", label, exc)
        return None


def _orientation(exif: Image.Exif | None) -> int:
    value = exif.get(_ORIENTATION_TAG) if exif is not None else None
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def exif_taken_at(exif: Image.Exif | None) -> str | None:  # ISO 8601, seconds
    if exif is None:
        return None
    try:
        exif_ifd = exif.get_ifd(_EXIF_IFD)
    except Exception:
        exif_ifd = {}
    for value in (
        exif_ifd.get(_DATETIME_ORIGINAL),
        exif.get(_DATETIME_ORIGINAL),
        exif.get(_DATETIME),
    ):
        parsed = _parse_exif_datetime(value)
        if parsed is not None:
            return parsed
    return None


def _parse_exif_datetime(value: object) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if not isinstance(value, str):
        return None
    text = value.strip("\x00 \t\r\n")[:19]
    # Some writers use '-' in the date part; the EXIF spec says ':'.
    for fmt in ("%Y:%m:%d %H:%M:%S", "%Y-%m-%d %H:%M:%S"):
        try:
            return datetime.strptime(text, fmt).isoformat(timespec="seconds")
        except ValueError:
            continue
    return None


def to_rgb(img: Image.Image) -> Image.Image:
    mode = img.mode
    if mode == "RGB":
        return img
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        return _high_depth_to_rgb(img)
    if mode == "P":
        palette_has_alpha = img.palette is not None and img.palette.mode == "RGBA"
        if "transparency" in img.info or palette_has_alpha:
            return _on_white(img.convert("RGBA"))
        return img.convert("RGB")
    if mode in ("RGBA", "LA"):
        return _on_white(img)
    if mode in ("PA", "RGBa", "La"):
        return _on_white(img.convert("LA" if mode == "La" else "RGBA"))
    if mode in ("1", "L", "RGB") and "transparency" in img.info:
        # A tRNS colour key (PNG): that exact colour is meant to be see-through.
        return _on_white(img.convert("RGBA"))
    return img.convert("RGB")


def _on_white(img: Image.Image) -> Image.Image:
    # White, not black: transparent logos and screenshots are designed for light pages,
    # and dropping alpha in Pillow leaves whatever colour the transparent pixels hold.
    background = Image.new("RGB", img.size, _WHITE)
    background.paste(img, mask=img.getchannel("A"))
    return background


def _high_depth_to_rgb(img: Image.Image) -> Image.Image:
    arr = np.asarray(img)
    if img.mode == "F":
        data = arr.astype(np.float32, copy=False)
        finite = data[np.isfinite(data)]
        lo = float(finite.min()) if finite.size else 0.0
        hi = float(finite.max()) if finite.size else 0.0
        if lo >= 0.0 and hi <= 1.0:
            # Already a [0, 1] intensity image; stretching it would exaggerate contrast.
            scaled = data * 255.0
        elif hi > lo:
            scaled = (data - lo) * (255.0 / (hi - lo))
        else:
            scaled = np.clip(data, 0.0, 255.0)
        eight = np.nan_to_num(scaled, nan=0.0, posinf=255.0, neginf=0.0)
        gray = np.clip(eight + 0.5, 0.0, 255.0).astype(np.uint8)
    elif img.mode.startswith("I;16") or (
        arr.size and int(arr.min()) >= 0 and int(arr.max()) <= 0xFFFF
    ):
        # 16-bit samples (also what a 16-bit PNG/TIFF yields as mode "I"): keep the top byte,
        # so full scale stays full scale instead of clipping at 255.
        gray = (arr.astype(np.uint32, copy=False) >> 8).astype(np.uint8)
    else:
        # Genuinely 32-bit (or signed) data has no fixed white point: stretch what is there.
        data64 = arr.astype(np.float64)
        lo, hi = float(data64.min()), float(data64.max())
        span = hi - lo if hi > lo else 1.0
        gray = np.clip((data64 - lo) * (255.0 / span) + 0.5, 0, 255).astype(np.uint8)
    return Image.fromarray(gray).convert("RGB")
