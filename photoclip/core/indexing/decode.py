"""One photo, read once: hashed, decoded, turned into model input and a thumbnail.

`prepare()` is exactly what one indexer worker does per file (the benchmark measures it as
such). It runs in decode threads, so it never raises for a bad file: every failure is a reason
in the result, which the indexer records.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from photoclip.core.catalog import FileState
from photoclip.core.decodeguard import decoding
from photoclip.core.encoder import Encoder
from photoclip.core.errors import ImageError
from photoclip.core.imaging import Decoded, decode, open_regular, read_error_reason
from photoclip.core.indexing.content import file_hash, hash_stream
from photoclip.core.indexing.scan import FileId
from photoclip.core.thumbnails import THUMB_SIZE, is_intact, save_thumbnail, thumbnail_path

log = logging.getLogger(__name__)

# Files up to this size are read once into memory (hash and decode share the bytes); larger ones
# are hashed as a stream and decoded from the file, so a stray disk image named .jpg cannot
# take gigabytes per decode thread.
READ_WHOLE_MAX = 256 << 20


@dataclass(frozen=True)
class FileTask:
    """One file to read, as the scan found it."""

    root_id: int
    path: str
    known: FileState | None  # the catalog's row for this path, if any
    remember: bool = False  # a new photo a later deletion may turn out to be a move of
    size: int = 0  # as the scan saw it: what a file that is never read is recorded with
    mtime_ns: int = 0
    error: str | None = None  # known to fail without reading it (a name the catalog can't hold)
    ident: FileId | None = None  # (device, inode) as the scan saw it


@dataclass
class Prepared:
    """What reading one file gave: model input and metadata, or why there is none."""

    task: FileTask
    size: int = 0
    mtime_ns: int = 0
    hash: str | None = None
    pixels: np.ndarray | None = None  # model input (3,S,S)
    width: int | None = None
    height: int | None = None
    taken_at: str | None = None
    error: str | None = None
    unchanged: bool = False  # same content as the catalog already has
    vanished: bool = False  # deleted or moved away since the scan: its own event or scan follows
    later: object | None = None  # a JPEG left for its batch's GPU decode (gpu_decode.py)


def prepare(task: FileTask, encoder: Encoder, thumbnails: Path | None = None,
            defer: Callable[[bytes, Path | None], object | None] | None = None) -> Prepared:
    """Read `task`'s file once, hash it, and unless the catalog has this content embedded
    already, decode it into `encoder`'s input; write its thumbnail under `thumbnails` (if
    given) when that is missing or damaged. `defer(bytes, thumbnail or None)` may take the
    decode over for later (GPU JPEG batches): what it returns is `later`, and no pixels."""
    res = Prepared(task, size=task.size, mtime_ns=task.mtime_ns)
    if task.error is not None:
        res.error = task.error
        return res
    read = _read(task, res)
    if read is None:
        return res
    data, digest = read
    thumb = None if thumbnails is None else thumbnail_path(thumbnails, digest)
    remake_thumb = thumb is not None and not is_intact(thumb)
    known = task.known
    if known is not None and known.hash == digest and known.has_embedding:
        res.unchanged = True  # touched, not edited: no need to decode or embed again
        if remake_thumb:
            assert thumb is not None
            _thumbnail_only(task.path, data, thumb)
        return res
    if defer is not None and data is not None:
        res.later = defer(data, thumb if remake_thumb else None)
        if res.later is not None:
            return res
    min_side = max(encoder.image_size, THUMB_SIZE if thumbnails is not None else 0)
    try:
        decoded = _decode(task.path, data, min_side)
    except ImageError as exc:
        res.error = exc.reason
        return res
    except Exception as exc:  # a decoder bug must cost one photo, not the job
        log.exception("unexpected error decoding %s", task.path)
        res.error = f"unexpected decoder error ({type(exc).__name__}: {exc})"
        return res
    res.width, res.height, res.taken_at = decoded.width, decoded.height, decoded.taken_at
    res.pixels = encoder.preprocess(decoded.image)
    if remake_thumb:
        assert thumb is not None
        _save(decoded, thumb, task.path)
    return res


def _read(task: FileTask, res: Prepared) -> tuple[bytes | None, str] | None:
    """The file's bytes (None if too large to hold: decode from the path) and content hash;
    None, with `res` saying why, if it cannot be read or changed while it was."""
    try:
        f = open_regular(task.path)
    except (FileNotFoundError, NotADirectoryError):
        res.vanished = True
        return None
    except OSError as exc:
        res.error = read_error_reason(exc)
        return None
    data: bytes | None = None
    with f:
        try:
            before = os.fstat(f.fileno())
            if before.st_size > READ_WHOLE_MAX:
                digest = res.hash = hash_stream(f)
            else:
                data = f.read()
                digest = res.hash = file_hash(data)
            after = os.fstat(f.fileno())
        except OSError as exc:
            res.error = f"cannot read file ({exc.strerror or exc})"
            return None
    # Recorded with the stat from before the read: if it changed, the next scan sees a
    # different size or mtime and reads it again.
    res.size, res.mtime_ns = before.st_size, before.st_mtime_ns
    if ((after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns)
            or (data is not None and len(data) != before.st_size)):
        res.hash = None
        res.error = "file changed while being read (it is read again once it changes)"
        return None
    return data, digest


def _decode(path: str, data: bytes | None, min_side: int) -> Decoded:
    with decoding(path):  # Pillow's warnings about the file name it in the log
        if data is None:
            return decode(path, min_side=min_side)
        return decode(data, min_side=min_side, name=path)


def _thumbnail_only(path: str, data: bytes | None, thumb: Path) -> None:
    """An unchanged photo whose thumbnail is missing or damaged: decode for that alone."""
    try:
        decoded = _decode(path, data, THUMB_SIZE)
    except Exception as exc:  # the photo is indexed; only its thumbnail is lost
        log.warning("cannot remake the thumbnail of %s: %s", path, exc)
        return
    _save(decoded, thumb, path)


def _save(decoded: Decoded, thumb: Path, path: str) -> None:
    try:
        save_thumbnail(decoded.image, thumb, THUMB_SIZE)
    except OSError as exc:
        log.warning("cannot write thumbnail for %s: %s", path, exc)
