"""Fuzzing the loader: whatever bytes a file holds, decode() returns an upright RGB image or
raises ImageError, and it returns. Plus real photos through every format we read."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, features

from photoclip.core.errors import ImageError
from photoclip.core.imaging import IMAGE_EXTENSIONS, Decoded, decode

skimage = pytest.importorskip("skimage")
DATA = Path(skimage.__file__).parent / "data"
# A decode of these small inputs takes milliseconds; far longer means a hang.
HANG_S = 20.0
FUZZ = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])


def _encode(img: Image.Image, fmt: str, **params: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **params)
    return buf.getvalue()


def _seed_files() -> dict[str, bytes]:
    """Small valid files of each format, the starting points of the mutations."""
    photo = Image.open(DATA / "chelsea.png").convert("RGB").resize((48, 32))
    seeds = {
        ".jpg": _encode(photo, "JPEG", quality=80),
        ".png": _encode(photo.convert("RGBA"), "PNG"),
        ".gif": _encode(photo.convert("P"), "GIF"),
        ".webp": _encode(photo, "WEBP"),
        ".tif": _encode(photo, "TIFF", compression="tiff_lzw"),
        ".bmp": _encode(photo, "BMP"),
    }
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x0132] = "2020:01:02 03:04:05"
    seeds[".exif.jpg"] = _encode(photo, "JPEG", exif=exif.tobytes())
    return seeds


SEEDS = _seed_files()


def decode_or_error(data: bytes, name: str) -> Decoded | ImageError:
    """decode() in a daemon thread: the test fails (instead of hanging) if it never returns."""
    out: list[object] = []

    def work() -> None:
        try:
            out.append(decode(data, min_side=32, name=name))
        except ImageError as exc:
            out.append(exc)
        except BaseException as exc:  # reported below: anything else is a bug
            out.append(exc)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    thread.join(HANG_S)
    assert not thread.is_alive(), f"decode of {len(data)} bytes as {name} did not return"
    result = out[0]
    if isinstance(result, BaseException) and not isinstance(result, ImageError):
        raise AssertionError(f"decode raised {type(result).__name__}: {result}") from result
    assert isinstance(result, Decoded | ImageError)
    return result


def check(result: Decoded | ImageError) -> None:
    if isinstance(result, ImageError):
        assert result.reason  # a reason a user can read
        return
    assert result.image.mode == "RGB"
    assert min(result.image.size) >= 1
    assert result.width >= 1
    assert result.height >= 1


# --- random bytes and mutations ---------------------------------------------------------------

EXTENSIONS = sorted(IMAGE_EXTENSIONS)


@FUZZ
@given(data=st.binary(max_size=2048), ext=st.sampled_from(EXTENSIONS))
def test_random_bytes_never_escape_as_anything_but_image_error(data: bytes, ext: str) -> None:
    check(decode_or_error(data, f"random{ext}"))


@st.composite
def mutated(draw: st.DrawFn) -> tuple[bytes, str]:
    ext = draw(st.sampled_from(sorted(SEEDS)))
    data = bytearray(SEEDS[ext])
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["flip", "set", "cut", "insert", "delete", "repeat"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set" and data:
            # 0x00 and 0xFF bytes make sizes and counts zero or huge: the dangerous cases
            data[at] = draw(st.sampled_from([0x00, 0xFF, 0x7F, 0x80, draw(st.integers(0, 255))]))
        elif kind == "cut":
            del data[at:]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=64))
        elif kind == "delete":
            del data[at:at + draw(st.integers(1, 64))]
        elif kind == "repeat":
            data[at:at] = data[at:at + draw(st.integers(1, 256))] * draw(st.integers(2, 8))
    return bytes(data), ext.removeprefix(".exif")


@FUZZ
@given(sample=mutated())
def test_mutated_photos_decode_or_fail_cleanly(sample: tuple[bytes, str]) -> None:
    data, ext = sample
    check(decode_or_error(data, f"mutated{ext}"))


@FUZZ
@given(sample=mutated(), ext=st.sampled_from([".jpg", ".png", ".heic", ".dng", ".nef"]))
def test_a_photo_under_the_wrong_extension_decodes_or_fails_cleanly(
        sample: tuple[bytes, str], ext: str) -> None:
    check(decode_or_error(sample[0], f"renamed{ext}"))


@pytest.mark.parametrize("ext", sorted(SEEDS))
def test_the_seed_files_themselves_decode(ext: str) -> None:
    result = decode_or_error(SEEDS[ext], f"seed{ext.removeprefix('.exif')}")
    assert isinstance(result, Decoded)
    expected = (32, 48) if ext == ".exif.jpg" else (48, 32)  # orientation 6 turns it
    assert (result.width, result.height) == expected


# --- real photos through every format -----------------------------------------------------------

PHOTOS = ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png",
          "camera.png"]
FORMATS = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "TIFF": ".tif", "BMP": ".bmp",
           "GIF": ".gif", "HEIF": ".heic", "AVIF": ".avif"}
# Mean absolute difference (0-255) allowed against the original after a lossy round trip; GIF
# has 256 colours, AVIF and HEIF at their default quality blur fine texture.
TOLERANCE = {"JPEG": 6, "PNG": 0.5, "WEBP": 8, "TIFF": 0.5, "BMP": 0.5, "GIF": 14, "HEIF": 8,
             "AVIF": 9}


@pytest.mark.parametrize("fmt", sorted(FORMATS))
@pytest.mark.parametrize("name", PHOTOS)
def test_real_photos_survive_every_format(tmp_path: Path, name: str, fmt: str) -> None:
    if fmt == "AVIF" and not features.check_module("avif"):
        pytest.skip("this Pillow has no AVIF support")
    if fmt == "HEIF":
        pytest.importorskip("pillow_heif")
    original = Image.open(DATA / name)
    original = original.convert("RGB" if original.mode != "L" else "L")
    path = tmp_path / f"photo{FORMATS[fmt]}"
    original.save(path, format=fmt)
    decoded = decode(path, min_side=10_000)  # no scaling: compare pixel for pixel
    assert decoded.image.mode == "RGB"
    assert (decoded.width, decoded.height) == original.size
    assert decoded.image.size == original.size
    diff = np.abs(np.asarray(decoded.image, dtype=np.float32)
                  - np.asarray(original.convert("RGB"), dtype=np.float32)).mean()
    assert diff <= TOLERANCE[fmt], f"{name} as {fmt}: mean difference {diff:.2f}"
