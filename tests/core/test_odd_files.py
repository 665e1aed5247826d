"""Odd files in a photo folder: every pixel mode in every format, broken, truncated and hostile
files, special files, symlink loops, odd names, files that vanish or change under the indexer.

The indexer must finish, index every good file, record every bad one as failed with a reason,
never raise, never block, and never decode the same unchanged file twice.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import shutil
import socket
import stat
import struct
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import skimage
from PIL import Image, ImageFile, features

from photoclip.cli import main as cli_main
from photoclip.core import imaging, indexing
from photoclip.core.errors import ImageError, PhotoclipError
from photoclip.core.imaging import decode
from photoclip.core.indexing import NAME_NOT_UTF8, catalog_path, walk_images
from photoclip.core.indexing import content as content_mod
from photoclip.core.indexing import decode as decode_mod
from photoclip.core.indexing import pipeline as pipeline_mod
from photoclip.core.library import Library

DATA = Path(skimage.__file__).parent / "data"
MODES = ["1", "L", "LA", "La", "P", "PA", "RGB", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr",
         "LAB", "HSV", "I", "I;16", "I;16L", "I;16B", "I;16N", "F"]
FORMATS = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "TIFF": ".tif", "BMP": ".bmp",
           "GIF": ".gif", "HEIF": ".heic", "AVIF": ".avif"}
POSIX = os.name == "posix"


# --- building odd files ----------------------------------------------------------------------


def _encode(img: Image.Image, fmt: str, **params: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **params)
    return buf.getvalue()


def _gradient(width: int = 40, height: int = 30) -> Image.Image:
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([x * 255 // width, y * 255 // height, (x + y) * 127 // (width + height)], -1)
    return Image.fromarray(rgb.astype(np.uint8))


def _in_mode(mode: str) -> Image.Image:
    base = _gradient()
    if mode.startswith("I;16"):
        wide = Image.fromarray(np.asarray(base.convert("L")).astype(np.uint16) * 257)
        return wide if mode == "I;16" else wide.convert(mode)
    if mode == "PA":
        return base.convert("P").convert("PA")
    return base.convert(mode)


def _readable_by_pillow(data: bytes) -> bool:
    try:
        with Image.open(io.BytesIO(data), formats=imaging.open_formats()) as im:
            im.load()
    except Exception:
        return False
    return True


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr)
            + _chunk(b"IDAT", zlib.compress(b"\0" * 64)) + _chunk(b"IEND", b""))


def gif_claiming(width: int, height: int) -> bytes:
    screen = struct.pack("<HHBBB", width, height, 0, 0, 0)
    image = b"," + struct.pack("<HHHHB", 0, 0, width, height, 0)
    return b"GIF89a" + screen + image + b"\x02\x02\x44\x01\x00;"


def jpeg_claiming(width: int, height: int) -> bytes:
    data = bytearray(_encode(_gradient(16, 16), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def tiff_claiming(width: int, height: int) -> bytes:
    entries = [(256, 4, 1, width), (257, 4, 1, height), (258, 3, 1, 8), (259, 3, 1, 1),
               (262, 3, 1, 1), (273, 4, 1, 8), (277, 3, 1, 1), (278, 4, 1, height),
               (279, 4, 1, min(width * height, 2**32 - 1))]
    ifd = struct.pack("<H", len(entries))
    for tag, typ, count, value in entries:
        ifd += struct.pack("<HHII", tag, typ, count, value)
    return b"II*\0" + struct.pack("<I", 8 + 16) + b"\0" * 16 + ifd + b"\0\0\0\0"


def jpeg_with_orientation(value: int | str) -> bytes:
    if isinstance(value, int):
        exif = Image.Exif()
        exif[0x0112] = value
        blob = exif.tobytes()
    else:  # Pillow will not write the tag as text: hand-made, one ASCII entry in IFD0
        text = value.encode() + b"\0"
        entry = struct.pack("<HHI", 0x0112, 2, len(text)) + text.ljust(4, b"\0")
        blob = b"Exif\0\0II*\0" + struct.pack("<IH", 8, 1) + entry + b"\0\0\0\0"
    return _encode(_gradient(48, 24), "JPEG", exif=blob)


def animated(fmt: str) -> bytes:
    frames = [Image.new("RGB", (32, 24), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    return _encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100)


def make_dng(preview: Image.Image, raw_size: tuple[int, int] = (64, 48),
             orientation: int = 1, date: str = "2019:07:04 12:34:56") -> bytes:
    """A minimal DNG: IFD0 holds a JPEG preview (and the orientation and date), its SubIFD a
    16-bit Bayer mosaic, as cameras and Adobe's converter write them."""
    jpeg = _encode(preview.convert("RGB"), "JPEG", quality=90)
    width, height = raw_size
    cfa = np.random.default_rng(0).integers(0, 4000, (height, width)).astype("<u2").tobytes()
    byte, ascii_, short, long_, srational = 1, 2, 3, 4, 10

    def text(value: str) -> tuple[int, int, bytes]:
        raw = value.encode() + b"\0"
        return ascii_, len(raw), raw

    def shorts(*v: int) -> bytes:
        return struct.pack(f"<{len(v)}H", *v)

    def longs(*v: int) -> bytes:
        return struct.pack(f"<{len(v)}I", *v)

    identity = b"".join(struct.pack("<ii", int(v == 1) * 10000, 10000) for v in
                        (1, 0, 0, 0, 1, 0, 0, 0, 1))

    def entries(ifd1: int, jpeg_at: int, cfa_at: int) -> tuple[list, list]:
        pw, ph = preview.size
        first = [(254, long_, 1, longs(1)), (256, long_, 1, longs(pw)),
                 (257, long_, 1, longs(ph)), (258, short, 3, shorts(8, 8, 8)),
                 (259, short, 1, shorts(7)), (262, short, 1, shorts(6)),
                 (271, *text("Canon")), (272, *text("Canon EOS 5D")),
                 (273, long_, 1, longs(jpeg_at)), (274, short, 1, shorts(orientation)),
                 (277, short, 1, shorts(3)), (278, long_, 1, longs(ph)),
                 (279, long_, 1, longs(len(jpeg))), (306, *text(date)),
                 (330, long_, 1, longs(ifd1)), (50706, byte, 4, bytes([1, 4, 0, 0])),
                 (50707, byte, 4, bytes([1, 1, 0, 0])), (50708, *text("Canon EOS 5D")),
                 (50721, srational, 9, identity), (50778, short, 1, shorts(21))]
        raw = [(254, long_, 1, longs(0)), (256, long_, 1, longs(width)),
               (257, long_, 1, longs(height)), (258, short, 1, shorts(16)),
               (259, short, 1, shorts(1)), (262, short, 1, shorts(32803)),
               (273, long_, 1, longs(cfa_at)), (277, short, 1, shorts(1)),
               (278, long_, 1, longs(height)), (279, long_, 1, longs(len(cfa))),
               (33421, short, 2, shorts(2, 2)), (33422, byte, 4, bytes([0, 1, 1, 2])),
               (50717, long_, 1, longs(4095))]
        return first, raw

    def pack(items: list, at: int) -> tuple[bytes, bytes]:
        extra_at = at + 2 + 12 * len(items) + 4
        out, extra = struct.pack("<H", len(items)), b""
        for tag, typ, count, value in sorted(items):
            if len(value) <= 4:
                out += struct.pack("<HHI", tag, typ, count) + value.ljust(4, b"\0")
            else:
                out += struct.pack("<HHII", tag, typ, count, extra_at + len(extra))
                extra += value + b"\0" * (len(value) % 2)
        return out + b"\0\0\0\0", extra

    first, raw = entries(0, 0, 0)
    ifd0, extra0 = pack(first, 8)
    ifd1_at = 8 + len(ifd0) + len(extra0)
    ifd1, extra1 = pack(raw, ifd1_at)
    jpeg_at = ifd1_at + len(ifd1) + len(extra1)
    cfa_at = jpeg_at + len(jpeg) + len(jpeg) % 2
    first, raw = entries(ifd1_at, jpeg_at, cfa_at)
    ifd0, extra0 = pack(first, 8)
    ifd1, extra1 = pack(raw, ifd1_at)
    return (b"II*\0" + longs(8) + ifd0 + extra0 + ifd1 + extra1 + jpeg
            + b"\0" * (len(jpeg) % 2) + cfa)


class Corpus:
    """Files written into a folder, each with what the indexer should make of it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        # path -> ("ok" | "failed" | "absent", words the failure reason must contain)
        self.expect: dict[str, tuple[str, str | None]] = {}

    def add(self, name: str | bytes, data: bytes, expect: str = "ok",
            reason: str | None = None, folder: Path | None = None) -> str:
        base = os.fsencode(folder or self.root)
        path = os.fsdecode(os.path.join(base, os.fsencode(name)))
        with open(path, "wb") as f:
            f.write(data)
        self.expect[catalog_path(path)] = (expect, reason)
        return path

    def names(self, status: str) -> set[str]:
        return {p for p, (s, _) in self.expect.items() if s == status}


def build_corpus(root: Path, outside: Path) -> Corpus:
    corpus = Corpus(root)
    root.mkdir()
    # every pixel mode in every format Pillow writes it in (and reads back itself)
    for mode in MODES:
        img = _in_mode(mode)
        for fmt, ext in FORMATS.items():
            try:
                data = _encode(img, fmt)
            except (OSError, ValueError, KeyError, TypeError, Warning):
                continue  # this format cannot hold this mode (or its writer is deprecated)
            if _readable_by_pillow(data):
                corpus.add(f"mode-{mode.replace(';', '_')}{ext}", data)
    # 16-bit PNG and TIFF, multi-frame files, odd EXIF orientations
    wide = Image.fromarray((np.arange(48 * 32, dtype=np.uint16) * 40).reshape(32, 48))
    corpus.add("sixteen.png", _encode(wide, "PNG"))
    corpus.add("sixteen.tif", _encode(wide, "TIFF"))
    corpus.add("animated.gif", animated("GIF"))
    corpus.add("animated.webp", animated("WEBP"))
    corpus.add("animated.png", animated("PNG"))
    corpus.add("pages.tif", animated("TIFF"))
    for value in (0, 9, 255, 65535, "6"):
        corpus.add(f"orientation-{value}.jpg", jpeg_with_orientation(value))
    corpus.add("exif-garbage.jpg", _encode(_gradient(), "JPEG", exif=b"Exif\0\0garbage!"))
    corpus.add("real photo.jpg", (DATA / "rocket.jpg").read_bytes())

    # broken headers and contents that are not images at all
    corpus.add("empty.jpg", b"", "failed", "empty file")
    corpus.add("one-byte.png", b"\x89", "failed", "not an image")
    corpus.add("notes.jpg", b"shopping list: eggs, milk\n", "failed", "not an image")
    corpus.add("page.gif", b"<html><body>404</body></html>", "failed", "not an image")
    corpus.add("netpbm.png", _encode(_gradient(), "PPM"), "failed", "not an image")
    corpus.add("archive.tif", b"PK\x03\x04" + bytes(200), "failed", "not an image")
    corpus.add("soi-then-junk.jpg", b"\xff\xd8\xff" + random.Random(1).randbytes(300), "failed")
    png = bytearray(_encode(_gradient(), "PNG"))
    png[29] ^= 0xFF  # the IHDR checksum
    corpus.add("bad-crc.png", bytes(png), "failed")
    corpus.add("gif-junk.gif", b"GIF89a" + random.Random(2).randbytes(100), "failed")
    corpus.add("riff-junk.webp", b"RIFF\xff\xff\xff\x7fWEBPVP8 " + bytes(40), "failed")
    corpus.add("tiff-nowhere.tif", b"II*\0\xff\xff\xff\x7f" + bytes(40), "failed")
    corpus.add("zero-size.jpg", jpeg_claiming(0, 0), "failed")
    corpus.add("heic-junk.heic", b"\0\0\0\x18ftypheic" + bytes(64), "failed")
    # truncations at seeded random offsets, well before the end
    rng = random.Random(8)
    photo = Image.open(DATA / "astronaut.png").convert("RGB").resize((160, 120))
    for fmt in ("JPEG", "PNG", "GIF", "WEBP", "TIFF", "BMP"):
        data = _encode(photo, fmt)
        for n in range(3):
            cut = rng.randrange(40, len(data) * 6 // 10)
            corpus.add(f"truncated-{n}{FORMATS[fmt]}", data[:cut], "failed")
    # decompression bombs: tiny files declaring enormous images
    corpus.add("bomb.png", png_claiming(100_000, 100_000), "failed", "image too large")
    corpus.add("bomb.gif", gif_claiming(65_535, 65_535), "failed", "image too large")
    corpus.add("bomb.jpg", jpeg_claiming(60_000, 60_000), "failed", "image too large")
    corpus.add("bomb.tif", tiff_claiming(100_000, 100_000), "failed", "image too large")

    # names: any Unicode, and bytes that are not UTF-8 at all
    good = _encode(_gradient(), "JPEG")
    for name in ("фото кота.jpg", "猫の写真.png", "صورة.webp", "🐈‍⬛ cat.jpg",
                 "tab\tand\nnewline.jpg", "cafe\u0301.jpg", "caf\u00e9.jpg", "back\\slash.jpg",
                 "x" * 200 + ".jpg"):
        corpus.add(name, good if name.endswith(".jpg") else _encode(
            _gradient(), "PNG" if name.endswith(".png") else "WEBP"))
    if POSIX:
        corpus.add(b"caf\xe9 latin-1.jpg", good, "failed", "not valid UTF-8")
        odd_dir = os.path.join(os.fsencode(root), b"\xff\xfe folder")
        os.mkdir(odd_dir)
        corpus.add("inside.jpg", good, "failed", "not valid UTF-8",
                   folder=Path(os.fsdecode(odd_dir)))
    # a folder whose name looks like a photo
    (root / "album.jpg").mkdir()
    corpus.add("in-album.png", _encode(_gradient(), "PNG"), folder=root / "album.jpg")

    # special files: never opened, never listed
    if hasattr(os, "mkfifo"):
        os.mkfifo(root / "pipe.jpg")
    if hasattr(socket, "AF_UNIX") and len(str(root / "sock.png")) < 100:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.bind(str(root / "sock.png"))
    if POSIX:
        with contextlib.suppress(OSError):  # not root: no device node, nothing to check
            os.mknod(root / "device.jpg", 0o600 | stat.S_IFCHR, os.makedev(1, 3))
    # symlinks: loops, dangling, a file loop, one folder outside the root linked twice
    if POSIX:
        os.symlink(root, root / "loop-to-root")
        os.symlink(root.parent, root / "loop-to-parent")
        (root / "sub").mkdir()
        os.symlink(root / "sub", root / "sub" / "self")
        os.symlink(root / "nowhere.jpg", root / "dangling.jpg")
        os.symlink(root / "b-loop.jpg", root / "a-loop.jpg")
        os.symlink(root / "a-loop.jpg", root / "b-loop.jpg")
        outside.mkdir()
        (outside / "linked.png").write_bytes(_encode(_gradient(), "PNG"))
        os.symlink(outside, root / "a-link")
        os.symlink(outside, root / "sub" / "b-link")
        os.symlink(root, outside / "back")  # and a loop from out there
        corpus.expect[str(root / "a-link" / "linked.png")] = ("ok", None)
    # a file nobody may read (not enforced for root)
    locked = corpus.add("locked.jpg", good)
    os.chmod(locked, 0)
    if not os.access(locked, os.R_OK):
        corpus.expect[locked] = ("failed", "permission denied")
    # moved away between the scan and the read; replaced by a FIFO; written while read
    corpus.add("doomed.jpg", good, "absent")
    corpus.add("swapped.jpg", good, "failed", "not a regular file")
    corpus.add("growing.jpg", good, "failed", "changed while being read")
    return corpus


# --- hooks into the run ----------------------------------------------------------------------


class _Growing:
    """A file another program appends to while the indexer reads it."""

    def __init__(self, f, path: str) -> None:
        self._f, self._path = f, path

    def fileno(self) -> int:
        return self._f.fileno()

    def read(self, *args: int) -> bytes:
        data = self._f.read(*args)
        with open(self._path, "ab") as writer:
            writer.write(b"\0" * 100)
        st = os.stat(self._path)
        os.utime(self._path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
        return data

    def __enter__(self) -> _Growing:
        return self

    def __exit__(self, *exc: object) -> None:
        self._f.close()


@pytest.fixture
def hooks(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Count decodes; after the scan, delete doomed.jpg and turn swapped.jpg into a FIFO; make
    growing.jpg grow while it is read (first time only)."""
    calls: dict[str, list[str]] = {"decoded": [], "opened": []}
    real_walk, real_decode, real_open = (pipeline_mod.walk_images, decode_mod.decode,
                                         decode_mod.open_regular)
    grown: set[str] = set()

    def walk(root: str, skip=(), *args, **kwargs) -> Iterator[tuple[str, int, int]]:
        found = list(real_walk(root, skip, *args, **kwargs))
        for path, _, _ in found:
            name = os.path.basename(path)
            if name == "doomed.jpg":
                os.unlink(path)
            elif name == "swapped.jpg":
                os.unlink(path)
                os.mkfifo(path)
        yield from found

    def counting_decode(source, *args, **kwargs):
        calls["decoded"].append(kwargs.get("name") or os.fspath(source))
        return real_decode(source, *args, **kwargs)

    def open_growing(path):
        calls["opened"].append(os.fspath(path))
        f = real_open(path)
        if os.path.basename(path) == "growing.jpg" and path not in grown:
            grown.add(path)
            return _Growing(f, path)
        return f

    monkeypatch.setattr(pipeline_mod, "walk_images", walk)
    monkeypatch.setattr(decode_mod, "decode", counting_decode)
    monkeypatch.setattr(decode_mod, "open_regular", open_growing)
    monkeypatch.setattr(content_mod, "open_regular", open_growing)
    return calls


class FifoGuard:
    """Unblocks anyone stuck opening the FIFOs (by opening them for writing) after a while, and
    remembers it: the test then fails instead of hanging forever."""

    def __init__(self, fifos: list[Path], after: float = 20.0) -> None:
        self.fifos, self.tripped = fifos, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, args=(after,), daemon=True)

    def _watch(self, after: float) -> None:
        while not self._stop.wait(after):
            for fifo in self.fifos:
                try:
                    fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
                except OSError:
                    continue  # ENXIO: nobody is waiting to read it (as it should be)
                self.tripped.append(str(fifo))
                os.close(fd)

    def __enter__(self) -> FifoGuard:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# --- the corpus test ---------------------------------------------------------------------------


def _rows(lib: Library) -> dict[str, tuple[str, str | None]]:
    rows = lib.catalog.query("SELECT path, status, error FROM photos")
    return {p: (s, e) for p, s, e in rows}


@pytest.mark.slow
def test_the_indexer_survives_an_odd_image_collection(tmp_path, tiny_encoder, hooks):
    corpus = build_corpus(tmp_path / "photos", tmp_path / "elsewhere")
    lib = Library(tmp_path / "lib", encoder=tiny_encoder)
    lib.add_roots([str(corpus.root)])
    fifos = [corpus.root / "pipe.jpg", corpus.root / "swapped.jpg"]

    with FifoGuard(fifos) as guard:
        indexer = lib.indexer()
        steps = list(indexer.run())
    assert guard.tripped == [], "a FIFO was opened"
    assert steps[-1].finished
    assert lib.catalog.last_job("index")["state"] == "done"

    rows = _rows(lib)
    ok = {p for p, (s, _) in rows.items() if s == "ok"}
    failed = {p: e for p, (s, e) in rows.items() if s == "failed"}
    assert ok == corpus.names("ok")
    assert set(failed) == corpus.names("failed")
    for path, error in failed.items():
        words = corpus.expect[path][1]
        assert error, path
        assert words is None or words in error, (path, error)
    # nothing special, dangling or looping made it in; the outside folder came in once
    assert not corpus.names("absent") & set(rows)
    assert not [p for p in rows if "loop" in p or "pipe" in p or "sock" in p or "device" in p]
    assert len(ok) >= 100
    assert indexer.report.indexed == len(ok)
    assert indexer.report.failed == len(failed)
    assert len(lib.vectors) == len(ok)
    if POSIX:
        odd = [p for p in failed if "\\x" in p]
        assert odd
        assert all(failed[p] == NAME_NOT_UTF8 for p in odd)

    # growing.jpg changed since it was recorded, so it alone is read again: and now indexed
    hooks["decoded"].clear()
    hooks["opened"].clear()
    indexer = lib.indexer()
    list(indexer.run())
    growing = str(corpus.root / "growing.jpg")
    assert hooks["decoded"] == [growing]
    assert _rows(lib)[growing] == ("ok", None)
    assert indexer.report.removed == 1  # swapped.jpg is a FIFO now: no longer a photo

    # and a third run reads nothing at all
    hooks["decoded"].clear()
    hooks["opened"].clear()
    indexer = lib.indexer()
    list(indexer.run())
    assert hooks["opened"] == []
    assert hooks["decoded"] == []
    assert indexer.report.indexed == indexer.report.failed == 0
    lib.close()


def test_no_decoder_ever_loads_truncated_images_leniently() -> None:
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


# --- failures: recorded once, retried when the file changes ----------------------------------


def test_a_failed_file_is_not_read_again_until_it_changes(tmp_path, tiny_encoder, hooks):
    root = tmp_path / "photos"
    root.mkdir()
    broken = root / "broken.jpg"
    broken.write_bytes((DATA / "rocket.jpg").read_bytes()[:2000])
    shutil.copy(DATA / "chelsea.png", root / "cat.png")
    lib = Library(tmp_path / "lib", encoder=tiny_encoder)
    lib.add_roots([str(root)])
    list(lib.indexer().run())
    assert lib.catalog.photo_by_path(str(broken)).status == "failed"

    for _ in range(2):
        hooks["opened"].clear()
        indexer = lib.indexer()
        list(indexer.run())
        assert hooks["opened"] == []
        assert indexer.report.failed == 0

    broken.write_bytes((DATA / "rocket.jpg").read_bytes())  # the copy finished after all
    indexer = lib.indexer()
    list(indexer.run())
    assert hooks["opened"] == [str(broken)]
    assert indexer.report.indexed == 1
    photo = lib.catalog.photo_by_path(str(broken))
    assert (photo.status, photo.error) == ("ok", None)
    lib.close()


# --- the decode timeout ----------------------------------------------------------------------


@pytest.fixture
def slow_decoder(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """Files named slow*.jpg decode until the test releases them (at most 60 s)."""
    release = threading.Event()
    real = decode_mod.decode

    def decode_slowly(source, *args, **kwargs):
        name = os.path.basename(kwargs.get("name") or os.fspath(source))
        if name.startswith("slow"):
            release.wait(60)
        return real(source, *args, **kwargs)

    monkeypatch.setattr(decode_mod, "decode", decode_slowly)
    yield release
    release.set()


def _photos(root: Path, names: list[str]) -> None:
    root.mkdir()
    for n, name in enumerate(names):
        img = Image.open(DATA / ("chelsea.png", "coffee.png", "astronaut.png")[n % 3])
        img.convert("RGB").crop((n, n, 120 + n, 90 + n)).save(root / name, quality=90)


def test_a_decode_that_hangs_is_given_up_and_the_run_goes_on(tmp_path, tiny_encoder,
                                                              slow_decoder):
    root = tmp_path / "photos"
    names = [f"p{i:02d}.jpg" for i in range(12)] + ["slow.jpg"]
    _photos(root, names)
    lib = Library(tmp_path / "lib", encoder=tiny_encoder)
    lib.add_roots([str(root)])
    # One worker: without a stand-in for the stuck thread nothing after it could decode.
    indexer = indexing.Indexer(lib.catalog, tiny_encoder, lib.vectors, batch_size=4,
                                  workers=1, decode_timeout=0.5)
    steps = list(indexer.run())
    assert steps[-1].finished
    assert indexer.report.indexed == 12
    assert indexer.report.failed == 1
    slow = lib.catalog.photo_by_path(str(root / "slow.jpg"))
    assert (slow.status, slow.error) == ("failed", "decode took longer than 0.5 s")
    assert lib.catalog.last_job("index")["state"] == "done"

    # recorded, so not tried again while the file is the same
    again = indexing.Indexer(lib.catalog, tiny_encoder, lib.vectors, decode_timeout=0.5)
    list(again.run())
    assert again.report.indexed == again.report.failed == 0
    lib.close()


def test_too_many_stuck_decodes_stop_the_run_and_the_next_run_finishes(tmp_path, tiny_encoder,
                                                                        slow_decoder):
    root = tmp_path / "photos"
    names = ["a.jpg", "slow1.jpg", "slow2.jpg", "slow3.jpg"] + [f"z{i}.jpg" for i in range(6)]
    _photos(root, names)
    lib = Library(tmp_path / "lib", encoder=tiny_encoder)
    lib.add_roots([str(root)])
    indexer = indexing.Indexer(lib.catalog, tiny_encoder, lib.vectors, batch_size=2,
                                  workers=2, decode_timeout=0.3, max_stuck=1)
    steps = list(indexer.run())
    assert steps[-1].finished
    assert "is a drive not responding" in steps[-1].message
    job = lib.catalog.last_job("index")
    assert job["state"] == "failed"
    assert "took longer than 0.3 s" in job["message"]
    assert lib.catalog.photo_by_path(str(root / "slow1.jpg")).status == "failed"
    assert lib.catalog.photo_by_path(str(root / "slow2.jpg")) is None  # not reached: no verdict
    assert lib.catalog.photo_by_path(str(root / "z5.jpg")) is None

    slow_decoder.set()  # the drive answers again
    indexer = indexing.Indexer(lib.catalog, tiny_encoder, lib.vectors, decode_timeout=5)
    list(indexer.run())
    assert lib.catalog.last_job("index")["state"] == "done"
    assert lib.catalog.count_photos("ok") == len(names) - 1
    assert lib.catalog.photo_by_path(str(root / "slow1.jpg")).status == "failed"  # unchanged
    lib.close()


def test_the_decode_timeout_is_a_library_setting(tmp_path, tiny_encoder, slow_decoder):
    root = tmp_path / "photos"
    _photos(root, ["a.jpg", "slow.jpg", "b.jpg"])
    lib = Library(tmp_path / "lib", encoder=tiny_encoder)
    lib.settings.decode_timeout_s = 0.4
    lib.add_roots([str(root)])
    list(lib.indexer().run())
    assert lib.catalog.photo_by_path(str(root / "slow.jpg")).error == (
        "decode took longer than 0.4 s")
    assert lib.catalog.count_photos("ok") == 2
    lib.close()


def test_a_root_whose_name_is_not_utf8_is_refused_with_the_fix(tmp_path, tiny_encoder):
    bad = os.path.join(os.fsencode(tmp_path), b"caf\xe9")
    os.mkdir(bad)
    lib = Library(tmp_path / "lib", encoder=tiny_encoder)
    with pytest.raises(PhotoclipError, match="not valid UTF-8; rename it"):
        lib.add_roots([os.fsdecode(bad)])
    assert lib.catalog.roots() == []
    lib.close()


# --- scanning ----------------------------------------------------------------------------------


@pytest.mark.skipif(not POSIX, reason="symlinks and FIFOs as on POSIX")
def test_symlinked_folders_are_followed_once_and_loops_end(tmp_path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "a" / "b").mkdir(parents=True)
    (outside / "deep").mkdir(parents=True)
    for folder in (root / "a" / "b", outside / "deep"):
        (folder / "x.jpg").write_bytes(b"x")
    os.symlink(root, root / "a" / "b" / "up")       # a loop back to the root
    os.symlink(root / "a", root / "a" / "b" / "up2")  # a loop to a folder above
    os.symlink(outside, root / "link1")             # the same outside folder, twice
    os.symlink(outside, root / "a" / "link2")
    os.symlink(root, outside / "deep" / "back")     # and back in from outside
    os.symlink(tmp_path, root / "to-parent")        # up to a folder holding the root
    os.mkfifo(root / "pipe.jpg")
    found = sorted(os.path.relpath(p, root) for p, _, _ in walk_images(str(root)))
    assert found == ["a/b/x.jpg", "link1/deep/x.jpg"]


def test_decoding_a_fifo_or_a_device_by_path_refuses_without_opening_it(tmp_path):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs here")
    targets = [tmp_path / "pipe.jpg"]
    os.mkfifo(targets[0])
    if Path("/dev/zero").exists():
        targets.append(Path("/dev/zero"))  # opening is harmless, reading it never ends
    outcome: list[object] = []

    def work() -> None:
        for target in targets:
            try:
                decode(target)
            except ImageError as exc:
                outcome.append(exc.reason)

    with FifoGuard(targets[:1], after=10.0) as guard:
        thread = threading.Thread(target=work, daemon=True)
        thread.start()
        thread.join(30)
    assert not thread.is_alive()
    assert guard.tripped == []
    assert outcome == ["not a regular file (a FIFO, socket or device)"] * len(targets)


@pytest.mark.slow
def test_a_hundred_thousand_files_in_one_folder(tmp_path, tiny_encoder):
    """100,000 empty '.jpg' files (each a failure known from its size alone, so this is the
    cost of scanning and bookkeeping) and three photos, in one folder."""
    root = tmp_path / "photos"
    root.mkdir()
    for i in range(100_000):
        os.close(os.open(root / f"{i:06d}.jpg", os.O_CREAT | os.O_WRONLY, 0o644))
    for name in ("chelsea.png", "coffee.png", "rocket.jpg"):
        shutil.copy(DATA / name, root / name)
    lib = Library(tmp_path / "lib", encoder=tiny_encoder)
    lib.add_roots([str(root)])
    indexer = lib.indexer()
    steps = list(indexer.run())
    assert steps[-1].finished
    assert indexer.report.scanned == 100_003
    assert indexer.report.indexed == 3
    assert indexer.report.failed == 100_000
    assert lib.catalog.count_photos("failed") == 100_000
    groups = indexing.failure_summary(lib.catalog)
    assert [(g.reason, g.count) for g in groups] == [("empty file", 100_000)]
    indexer = lib.indexer()
    list(indexer.run())
    assert indexer.report.unchanged == 100_003
    lib.close()


# --- our own size limit, and names the catalog cannot store ----------------------------------


def test_our_pixel_limit_holds_even_when_pillows_is_switched_off(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    with pytest.raises(ImageError, match=r"image too large \(200000000 pixels\)"):
        decode(png_claiming(20_000, 10_000), name="panorama.png")
    # a big JPEG is fine: libjpeg scales it down while decoding, far under the limit
    monkeypatch.setattr(imaging, "MAX_DECODED_PIXELS", 200 * 150)  # 1/8 of 1600x1200
    big = _encode(_gradient(1600, 1200), "JPEG")
    assert decode(big, min_side=64, name="big.jpg").width == 1600


@pytest.mark.parametrize(("name", "stored"), [
    ("plain.jpg", "plain.jpg"),
    ("猫 café 🐈.jpg", "猫 café 🐈.jpg"),
    (os.fsdecode(b"caf\xe9.jpg"), "caf\\xe9.jpg"),
    (os.fsdecode(b"\xff\xfe/x.jpg"), "\\xff\\xfe/x.jpg"),
])
def test_catalog_paths_are_utf8_text(name, stored):
    assert catalog_path(name) == stored
    stored.encode("utf-8")  # what SQLite text can hold


@pytest.mark.skipif(not POSIX, reason="file names are bytes only on POSIX")
def test_a_watched_file_with_a_non_utf8_name_is_recorded_not_fatal(tmp_path, tiny_encoder):
    root = tmp_path / "photos"
    root.mkdir()
    path = os.fsdecode(os.path.join(os.fsencode(root), b"f\xf6to.jpg"))
    shutil.copy(DATA / "rocket.jpg", path)
    shutil.copy(DATA / "chelsea.png", root / "cat.png")
    lib = Library(tmp_path / "lib", encoder=tiny_encoder)
    lib.add_roots([str(root)])
    indexer = lib.indexer()
    # what the watcher hands over: the names as the OS gives them, surrogate escapes and all
    list(indexer.update([path, str(root / "cat.png")]))
    assert indexer.report.indexed == 1
    assert indexer.report.failed == 1
    photo = lib.catalog.photo_by_path(str(root / "f\\xf6to.jpg"))
    assert (photo.status, photo.error) == ("failed", NAME_NOT_UTF8)
    indexer = lib.indexer()
    list(indexer.update([path]))
    assert indexer.report.failed == 0  # recorded once, not again
    lib.close()


def test_status_text_survives_a_terminal_that_cannot_show_the_names(monkeypatch):
    from photoclip.cli import output

    class AsciiTerminal(io.StringIO):
        encoding = "ascii"

    monkeypatch.setattr("sys.stdout", AsciiTerminal())
    assert output.printable("/photos/猫 café.jpg") == "/photos/\\u732b caf\\xe9.jpg"
    assert output.printable("/photos/plain.jpg") == "/photos/plain.jpg"


@pytest.mark.skipif(not POSIX, reason="file names are bytes only on POSIX")
def test_status_lists_failures_by_reason_in_text_and_json(tmp_path, tiny_encoder, capsys,
                                                          monkeypatch):
    root = tmp_path / "photos"
    root.mkdir()
    shutil.copy(DATA / "chelsea.png", root / "cat.png")
    for i in range(5):
        (root / f"empty{i}.jpg").write_bytes(b"")
    (root / "broken.jpg").write_bytes((DATA / "rocket.jpg").read_bytes()[:3000])
    (root / "bomb.png").write_bytes(png_claiming(100_000, 100_000))
    with open(os.path.join(os.fsencode(root), b"\xe9t\xe9.jpg"), "wb") as f:
        f.write((DATA / "rocket.jpg").read_bytes())
    lib = Library(None, encoder=tiny_encoder)  # the library the CLI opens (PHOTOCLIP_LIBRARY)
    lib.add_roots([str(root)])
    list(lib.indexer().run())
    lib.close()

    assert cli_main(["status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["failed"] == 8
    groups = {g["reason"]: g for g in status["failures"]}
    assert groups["empty file"]["count"] == 5
    assert len(groups["empty file"]["examples"]) == 3
    assert groups["image too large"]["examples"] == [str(root / "bomb.png")]
    assert groups["truncated file"]["examples"] == [str(root / "broken.jpg")]
    assert groups[NAME_NOT_UTF8]["examples"] == [str(root / "\\xe9t\\xe9.jpg")]
    assert status["failures"][0]["reason"] == "empty file"  # most common first

    assert cli_main(["status"]) == 0
    out = capsys.readouterr().out
    assert "failed files, by reason:" in out
    assert "5  empty file" in out
    assert "... and 2 more" in out
    assert str(root / "broken.jpg") in out
    assert "\\xe9t\\xe9.jpg" in out


# --- camera RAW --------------------------------------------------------------------------------


def _halves() -> Image.Image:
    img = Image.new("RGB", (160, 120), (220, 30, 30))
    img.paste((30, 30, 220), (0, 0, 80, 120))  # left half blue
    return img


def test_raw_without_rawpy_fails_once_naming_the_extra_then_indexes_once_installed(
        tmp_path, tiny_encoder, monkeypatch, hooks):
    root = tmp_path / "photos"
    root.mkdir()
    (root / "shot.dng").write_bytes(make_dng(_halves()))
    shutil.copy(DATA / "chelsea.png", root / "cat.png")
    for module in (imaging, pipeline_mod):
        monkeypatch.setattr(module, "raw_supported", lambda: False)
    lib = Library(tmp_path / "lib", encoder=tiny_encoder)
    lib.add_roots([str(root)])
    list(lib.indexer().run())
    photo = lib.catalog.photo_by_path(str(root / "shot.dng"))
    assert photo.status == "failed"
    assert "pip install 'photoclip[raw]'" in photo.error

    hooks["opened"].clear()
    list(lib.indexer().run())
    assert hooks["opened"] == []  # not retried in a loop

    pytest.importorskip("rawpy")
    for module in (imaging, pipeline_mod):
        monkeypatch.setattr(module, "raw_supported", lambda: True)
    indexer = lib.indexer()
    list(indexer.run())
    assert indexer.report.indexed == 1
    photo = lib.catalog.photo_by_path(str(root / "shot.dng"))
    assert (photo.status, photo.width, photo.height) == ("ok", 64, 48)
    assert photo.taken_at == "2019-07-04T12:34:56"
    lib.close()


def test_raw_preview_is_decoded_upright_with_the_sensor_size():
    pytest.importorskip("rawpy")
    decoded = decode(make_dng(_halves(), orientation=6), min_side=64, name="IMG_0001.DNG")
    assert decoded.image.mode == "RGB"
    assert decoded.image.size == (120, 160)  # the preview, turned 90 degrees clockwise
    assert (decoded.width, decoded.height) == (48, 64)  # the sensor's 64x48, turned likewise
    top, bottom = decoded.image.getpixel((60, 5)), decoded.image.getpixel((60, 155))
    assert top[2] > 150 > top[0]  # the blue left half is now on top
    assert bottom[0] > 150 > bottom[2]
    assert decoded.taken_at == "2019-07-04T12:34:56"


def test_raw_files_from_a_path_and_broken_raws(tmp_path):
    pytest.importorskip("rawpy")
    path = tmp_path / "shot.dng"
    path.write_bytes(make_dng(_halves()))
    assert decode(path).image.size == (160, 120)
    for name, data in (("junk.nef", b"\0" * 5000), ("text.cr2", b"not a raw file at all"),
                       ("cut.dng", make_dng(_halves())[:300])):
        with pytest.raises(ImageError, match="RAW") as info:
            decode(data, name=name)
        assert info.value.reason


def test_raw_without_a_preview_is_developed_from_the_sensor_data(monkeypatch):
    rawpy = pytest.importorskip("rawpy")
    real_imread = rawpy.imread

    class NoPreview:
        """A RAW whose camera stored no preview (rawpy's type cannot be patched itself)."""

        def __init__(self, raw) -> None:
            self._raw = raw

        def __enter__(self) -> NoPreview:
            return self

        def __exit__(self, *exc: object) -> None:
            self._raw.close()

        def __getattr__(self, name: str) -> object:
            return getattr(self._raw, name)

        def extract_thumb(self) -> None:
            raise rawpy.LibRawNoThumbnailError("no thumbnail")

    monkeypatch.setattr(rawpy, "imread", lambda f: NoPreview(real_imread(f)))
    decoded = decode(make_dng(_halves(), raw_size=(64, 48), orientation=6), min_side=64,
                     name="a.dng")
    assert decoded.image.mode == "RGB"
    assert decoded.image.size == (24, 32)  # half size, turned by LibRaw itself
    assert (decoded.width, decoded.height) == (48, 64)


def test_a_raw_with_a_tiny_or_broken_preview_is_developed_instead():
    pytest.importorskip("rawpy")
    tiny = make_dng(_halves().resize((32, 24)), raw_size=(200, 150))
    decoded = decode(tiny, min_side=64, name="old-camera.nef")
    assert decoded.image.size == (100, 75)  # the sensor data at half size, not the 32x24
    broken = bytearray(make_dng(_halves(), raw_size=(200, 150)))
    soi = broken.index(b"\xff\xd8\xff")
    broken[soi:soi + 64] = bytes(64)
    decoded = decode(bytes(broken), min_side=64, name="broken-preview.dng")
    assert decoded.image.size == (100, 75)
    assert (decoded.width, decoded.height) == (200, 150)


@pytest.mark.parametrize("fmt", ["HEIF", "AVIF"])
def test_heif_and_avif_photos_are_indexed(tmp_path, tiny_encoder, fmt):
    if fmt == "AVIF" and not features.check_module("avif"):
        pytest.skip("this Pillow has no AVIF support")
    root = tmp_path / "photos"
    root.mkdir()
    photo = Image.open(DATA / "chelsea.png").convert("RGB")
    photo.save(root / f"cat{FORMATS[fmt]}", format=fmt)
    lib = Library(tmp_path / "lib", encoder=tiny_encoder)
    lib.add_roots([str(root)])
    indexer = lib.indexer()
    list(indexer.run())
    assert indexer.report.indexed == 1
    assert lib.catalog.photos_by_ids(lib.vectors.ids().tolist())
    lib.close()
