from __future__ import annotations

import io
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, features

from photoclip.core import imaging, storage
from photoclip.core.errors import ImageError
from photoclip.core.imaging import (
    IMAGE_EXTENSIONS,
    Decoded,
    decode,
    is_image_path,
)
from photoclip.core.thumbnails import make_thumbnail, save_thumbnail

skimage = pytest.importorskip("skimage")
DATA = Path(skimage.__file__).parent / "data"
SAMPLE_FILES = sorted(p for p in DATA.iterdir() if is_image_path(p))
# float64 planar RGB: a valid TIFF that Pillow has no pixel mode for.
UNSUPPORTED_SAMPLES = {"multipage_rgb.tif"}

RED = (255, 0, 0)
BLUE = (0, 0, 255)
WHITE = (255, 255, 255)


def _encode(img: Image.Image, fmt: str, **params: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **params)
    return buf.getvalue()


def _mean_abs_diff(a: Image.Image, b: Image.Image) -> float:
    assert a.size == b.size
    arr_a = np.asarray(a.convert("RGB"), dtype=np.float32)
    arr_b = np.asarray(b.convert("RGB"), dtype=np.float32)
    return float(np.abs(arr_a - arr_b).mean())


def _smooth_photo(width: int, height: int) -> Image.Image:
    """Gradients plus low-frequency waves: photo-like content that survives any resampling."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    r = 255 * x / width
    g = 255 * y / height
    b = 127.5 + 127.5 * np.sin(x / width * 6 * np.pi) * np.cos(y / height * 4 * np.pi)
    rgb = np.stack([r, g, b], axis=-1).clip(0, 255).astype(np.uint8)
    return Image.fromarray(rgb)


def _halves(
    width: int, height: int, left: tuple[int, int, int], right: tuple[int, int, int]
) -> Image.Image:
    img = Image.new("RGB", (width, height), right)
    img.paste(left, (0, 0, width // 2, height))
    return img


def _assert_close(pixel: object, expected: tuple[int, ...], tol: int = 12) -> None:
    assert isinstance(pixel, tuple)
    assert all(abs(int(p) - e) <= tol for p, e in zip(pixel, expected, strict=True)), pixel


# --- extensions ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["a.jpg", "B.JPEG", "c.Png", "d.webp", "e.TIF", "f.tiff", "g.bmp", "h.gif"]
)
def test_is_image_path_accepts_photo_extensions_case_insensitively(name: str) -> None:
    assert is_image_path(name)
    assert is_image_path(Path("/photos/2021") / name)


@pytest.mark.parametrize("name", ["notes.txt", "movie.mp4", "jpg", ".jpg", "archive.jpg.zip"])
def test_is_image_path_rejects_other_files(name: str) -> None:
    assert not is_image_path(name)


def test_image_extensions_are_lowercase_with_dot() -> None:
    assert all(ext.startswith(".") and ext == ext.lower() for ext in IMAGE_EXTENSIONS)
    assert {".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp", ".gif"} <= IMAGE_EXTENSIONS
    assert (".avif" in IMAGE_EXTENSIONS) == features.check_module("avif")


def test_heic_is_listed_when_pillow_heif_is_installed() -> None:
    pytest.importorskip("pillow_heif")
    assert {".heic", ".heif"} <= IMAGE_EXTENSIONS


# --- real photos ----------------------------------------------------------------------------


def test_sample_photos_are_available() -> None:
    names = {p.name for p in SAMPLE_FILES}
    assert {"astronaut.png", "chelsea.png", "hubble_deep_field.jpg", "logo.png"} <= names


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda p: p.name)
def test_every_sample_photo_decodes_to_rgb_at_original_dimensions(path: Path) -> None:
    if path.name in UNSUPPORTED_SAMPLES:
        with pytest.raises(ImageError) as info:
            decode(path)
        assert info.value.path == str(path)
        return

    result = decode(path)

    with Image.open(path) as original:
        full_size = original.size
        reference = original.convert("RGBA" if original.mode in ("RGBA", "P") else "RGB")
    assert isinstance(result, Decoded)
    assert result.image.mode == "RGB"
    assert (result.width, result.height) == full_size
    if min(full_size) > 2 * 224:
        assert 224 <= min(result.image.size) <= 2 * 224
    else:
        assert result.image.size == full_size
    # Same aspect ratio (within a pixel of rounding) as the full-resolution photo.
    assert abs(result.image.width / result.image.height - full_size[0] / full_size[1]) < 0.02
    # And the same picture: compare against a full decode scaled to the same size.
    if reference.mode == "RGBA":
        flat = Image.new("RGB", reference.size, WHITE)
        flat.paste(reference, mask=reference.getchannel("A"))
        reference = flat
    expected = reference.resize(result.image.size, Image.Resampling.BOX)
    assert _mean_abs_diff(result.image, expected) < 6


@pytest.mark.parametrize(
    ("name", "size"),
    [
        ("astronaut.png", (512, 512)),
        ("chelsea.png", (451, 300)),
        ("coffee.png", (600, 400)),
        ("motorcycle_left.png", (741, 500)),
        ("hubble_deep_field.jpg", (1000, 872)),
        ("camera.png", (512, 512)),
    ],
)
def test_reports_known_full_resolution_dimensions(name: str, size: tuple[int, int]) -> None:
    result = decode(DATA / name)
    assert (result.width, result.height) == size
    assert result.taken_at is None


def test_grayscale_photo_becomes_gray_rgb() -> None:
    arr = np.asarray(decode(DATA / "camera.png").image)
    assert arr.shape[2] == 3
    assert np.array_equal(arr[..., 0], arr[..., 1])
    assert np.array_equal(arr[..., 1], arr[..., 2])


def test_multi_frame_files_use_the_first_frame() -> None:
    gif = DATA / "no_time_for_that_tiny.gif"
    with Image.open(gif) as original:
        assert getattr(original, "n_frames", 1) > 1
        first = original.convert("RGB")
    assert np.array_equal(np.asarray(decode(gif).image), np.asarray(first))

    with Image.open(DATA / "multipage.tif") as original:
        assert getattr(original, "n_frames", 1) > 1
        first = original.convert("RGB")
    assert np.array_equal(np.asarray(decode(DATA / "multipage.tif").image), np.asarray(first))


def test_decode_from_bytes_matches_decode_from_path() -> None:
    path = DATA / "hubble_deep_field.jpg"
    from_path = decode(path)
    from_bytes = decode(path.read_bytes(), name="hubble.jpg")
    assert (from_bytes.width, from_bytes.height) == (from_path.width, from_path.height)
    assert np.array_equal(np.asarray(from_bytes.image), np.asarray(from_path.image))


def test_decode_accepts_str_paths() -> None:
    assert decode(str(DATA / "chelsea.png")).width == 451


def test_concurrent_decodes_give_the_same_results() -> None:
    paths = [p for p in SAMPLE_FILES if p.name not in UNSUPPORTED_SAMPLES] * 3
    serial = [np.asarray(decode(p).image) for p in paths]
    with ThreadPoolExecutor(max_workers=8) as pool:
        parallel = [np.asarray(r.image) for r in pool.map(decode, paths)]
    assert all(np.array_equal(a, b) for a, b in zip(serial, parallel, strict=True))


# --- staying small ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def big_jpeg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("big") / "12mp.jpg"
    _smooth_photo(4000, 3000).save(path, quality=92)
    return path


def test_large_jpeg_is_dct_scaled_not_fully_decoded(big_jpeg: Path) -> None:
    result = decode(big_jpeg, min_side=224)

    assert (result.width, result.height) == (4000, 3000)
    # 1/8 scale is exactly what libjpeg produces when decoding in draft mode; a full
    # decode followed by any reduction would not land on 500x375.
    assert result.image.size == (500, 375)
    assert 224 <= min(result.image.size) <= 2 * 224


def test_dct_scaled_jpeg_looks_like_a_full_decode(big_jpeg: Path) -> None:
    result = decode(big_jpeg, min_side=224)
    with Image.open(big_jpeg) as full:
        expected = full.convert("RGB").resize(result.image.size, Image.Resampling.BOX)
    assert _mean_abs_diff(result.image, expected) < 3


@pytest.mark.parametrize(("min_side", "expected"), [(500, (1000, 750)), (1000, (2000, 1500))])
def test_dct_scale_keeps_both_sides_at_least_min_side(
    big_jpeg: Path, min_side: int, expected: tuple[int, int]
) -> None:
    assert decode(big_jpeg, min_side=min_side).image.size == expected


def test_large_png_is_reduced_to_about_twice_min_side(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    original = _smooth_photo(2400, 1600)
    original.save(path)

    result = decode(path, min_side=224)

    assert (result.width, result.height) == (2400, 1600)
    assert 224 <= min(result.image.size) <= 2 * 224
    assert abs(result.image.width / result.image.height - 1.5) < 0.02
    expected = original.resize(result.image.size, Image.Resampling.BOX)
    assert _mean_abs_diff(result.image, expected) < 3


def test_small_images_are_not_upscaled() -> None:
    tiny = _encode(Image.new("RGB", (40, 30), RED), "PNG")
    result = decode(tiny)
    assert result.image.size == (40, 30)
    assert (result.width, result.height) == (40, 30)


def test_min_side_must_be_positive() -> None:
    with pytest.raises(ValueError, match="min_side"):
        decode(DATA / "chelsea.png", min_side=0)


# --- orientation -----------------------------------------------------------------------------


def _oriented_jpeg(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return _encode(_halves(400, 300, RED, BLUE), "JPEG", exif=exif, quality=95)


@pytest.mark.parametrize(
    ("orientation", "size", "red_at", "blue_at"),
    [
        (1, (400, 300), (10, 150), (390, 150)),
        (3, (400, 300), (390, 150), (10, 150)),  # upside down: red half ends up on the right
        (6, (300, 400), (150, 10), (150, 390)),  # rotate 90 CW: the left half is now on top
        (8, (300, 400), (150, 390), (150, 10)),  # rotate 90 CCW: the left half is at the bottom
    ],
)
def test_exif_orientation_is_applied(
    orientation: int,
    size: tuple[int, int],
    red_at: tuple[int, int],
    blue_at: tuple[int, int],
) -> None:
    result = decode(_oriented_jpeg(orientation), name="phone.jpg")

    assert (result.width, result.height) == size
    assert result.image.size == size
    _assert_close(result.image.getpixel(red_at), RED, tol=30)
    _assert_close(result.image.getpixel(blue_at), BLUE, tol=30)


def test_orientation_swaps_reported_size_of_dct_scaled_jpeg(tmp_path: Path) -> None:
    path = tmp_path / "portrait.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6
    _smooth_photo(4000, 3000).save(path, exif=exif)

    result = decode(path)

    assert (result.width, result.height) == (3000, 4000)
    assert result.image.size == (375, 500)


@pytest.mark.parametrize("orientation", [0, 9, 65535])
def test_invalid_orientation_is_ignored(orientation: int) -> None:
    result = decode(_oriented_jpeg(orientation), name="odd.jpg")
    assert (result.width, result.height) == (400, 300)
    _assert_close(result.image.getpixel((10, 150)), RED, tol=30)


# --- colour modes ----------------------------------------------------------------------------


def test_cmyk_jpeg_becomes_rgb_with_the_right_colour() -> None:
    cmyk_red = Image.new("CMYK", (300, 240), (0, 255, 255, 0))
    result = decode(_encode(cmyk_red, "JPEG", quality=95), name="print.jpg")
    assert result.image.mode == "RGB"
    _assert_close(result.image.getpixel((150, 120)), RED, tol=30)


def test_palette_png_transparency_becomes_white() -> None:
    img = Image.new("P", (300, 300), 0)
    img.putpalette([0, 0, 0, 0, 200, 0])  # index 0 black (transparent), 1 green
    img.paste(1, (150, 0, 300, 300))
    result = decode(_encode(img, "PNG", transparency=0), name="icon.png")
    _assert_close(result.image.getpixel((10, 10)), WHITE, tol=0)
    _assert_close(result.image.getpixel((290, 10)), (0, 200, 0), tol=0)


def test_palette_png_with_partial_alpha_blends_onto_white() -> None:
    img = Image.new("P", (300, 300), 0)
    img.putpalette([0, 0, 0, 0, 0, 0])
    img.paste(1, (150, 0, 300, 300))
    # tRNS with several entries arrives as bytes: index 0 fully clear, index 1 half.
    result = decode(_encode(img, "PNG", transparency=bytes([0, 128])), name="fade.png")
    _assert_close(result.image.getpixel((10, 10)), WHITE, tol=0)
    _assert_close(result.image.getpixel((290, 10)), (127, 127, 127), tol=2)


def test_gif_transparency_becomes_white() -> None:
    img = Image.new("P", (300, 300), 0)
    img.putpalette([0, 0, 0, 255, 0, 0])
    img.paste(1, (0, 0, 150, 300))
    result = decode(_encode(img, "GIF", transparency=0), name="anim.gif")
    _assert_close(result.image.getpixel((10, 10)), RED, tol=0)
    _assert_close(result.image.getpixel((290, 10)), WHITE, tol=0)


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_fully_transparent_pixels_become_white_not_black(mode: str) -> None:
    img = Image.new(mode, (300, 300), (0,) * len(mode))  # black with alpha 0
    result = decode(_encode(img, "PNG"), name="clear.png")
    _assert_close(result.image.getpixel((150, 150)), WHITE, tol=0)


def test_half_transparent_black_becomes_mid_gray() -> None:
    img = Image.new("RGBA", (300, 300), (0, 0, 0, 128))
    result = decode(_encode(img, "PNG"), name="shadow.png")
    _assert_close(result.image.getpixel((150, 150)), (127, 127, 127), tol=2)


def test_transparent_webp_becomes_white() -> None:
    img = Image.new("RGBA", (300, 300), (0, 0, 255, 0))
    img.paste((255, 0, 0, 255), (0, 0, 150, 300))
    result = decode(_encode(img, "WEBP", lossless=True), name="sticker.webp")
    _assert_close(result.image.getpixel((10, 10)), RED, tol=0)
    _assert_close(result.image.getpixel((290, 10)), WHITE, tol=0)


def test_grayscale_png_with_colour_key_transparency_becomes_white() -> None:
    img = Image.new("L", (300, 300), 0)
    img.paste(80, (150, 0, 300, 300))
    result = decode(_encode(img, "PNG", transparency=0), name="key.png")
    _assert_close(result.image.getpixel((10, 10)), WHITE, tol=0)
    _assert_close(result.image.getpixel((290, 10)), (80, 80, 80), tol=0)


def test_16_bit_png_is_scaled_by_bit_depth_not_clipped() -> None:
    arr = np.zeros((300, 300), dtype=np.uint16)
    arr[:, 100:200] = 32768
    arr[:, 200:] = 65535
    img = Image.fromarray(arr)
    assert img.mode == "I;16"
    data = _encode(img, "PNG")
    with Image.open(io.BytesIO(data)) as check:
        assert check.mode.startswith("I")

    result = decode(data, name="scan.png")

    assert result.image.mode == "RGB"
    _assert_close(result.image.getpixel((50, 10)), (0, 0, 0), tol=0)
    _assert_close(result.image.getpixel((150, 10)), (128, 128, 128), tol=1)
    _assert_close(result.image.getpixel((250, 10)), WHITE, tol=0)


@pytest.mark.parametrize("mode", ["I;16", "I;16B"])
def test_16_bit_tiff_is_scaled_by_bit_depth(mode: str) -> None:
    arr = np.full((300, 300), 65535, dtype=np.uint16)
    arr[:, :150] = 32768
    # Built from raw bytes: Pillow's I;16 -> I;16B convert() clips to 8 bits.
    img = Image.frombytes(
        mode, (300, 300), arr.astype(">u2" if mode == "I;16B" else "<u2").tobytes()
    )
    data = _encode(img, "TIFF")
    with Image.open(io.BytesIO(data)) as check:
        assert check.mode == mode

    result = decode(data, name="scan.tif")

    _assert_close(result.image.getpixel((10, 10)), (128, 128, 128), tol=1)
    _assert_close(result.image.getpixel((290, 10)), WHITE, tol=0)


def test_32_bit_integer_image_is_stretched_to_its_range() -> None:
    arr = np.zeros((300, 300), dtype=np.int32)
    arr[:, 150:] = 1_000_000
    result = decode(_encode(Image.fromarray(arr), "TIFF"), name="sensor.tif")
    _assert_close(result.image.getpixel((10, 10)), (0, 0, 0), tol=0)
    _assert_close(result.image.getpixel((290, 10)), WHITE, tol=0)


def test_float_image_in_unit_range_maps_to_0_255() -> None:
    arr = np.zeros((300, 300), dtype=np.float32)
    arr[:, 100:200] = 0.5
    arr[:, 200:] = 1.0
    result = decode(_encode(Image.fromarray(arr), "TIFF"), name="unit.tif")
    _assert_close(result.image.getpixel((50, 10)), (0, 0, 0), tol=0)
    _assert_close(result.image.getpixel((150, 10)), (128, 128, 128), tol=1)
    _assert_close(result.image.getpixel((250, 10)), WHITE, tol=0)


def test_float_image_outside_unit_range_is_stretched() -> None:
    arr = np.full((300, 300), -50.0, dtype=np.float32)
    arr[:, 150:] = 4000.0
    arr[0, 0] = np.nan  # must not poison the whole image
    result = decode(_encode(Image.fromarray(arr), "TIFF"), name="depth.tif")
    _assert_close(result.image.getpixel((10, 10)), (0, 0, 0), tol=0)
    _assert_close(result.image.getpixel((290, 10)), WHITE, tol=0)


@pytest.mark.parametrize("mode", ["1", "L", "YCbCr", "LAB", "HSV", "RGBX", "PA", "La", "RGBa"])
def test_other_pixel_modes_convert_to_rgb(mode: str) -> None:
    # These cannot all be written to disk, so feed the converter directly.
    source = Image.new("RGB", (20, 10), (200, 50, 30)).convert(mode)
    rgb = imaging.to_rgb(source)
    assert rgb.mode == "RGB"
    assert rgb.size == (20, 10)


def test_bmp_decodes() -> None:
    result = decode(_encode(Image.new("RGB", (300, 240), BLUE), "BMP"), name="old.bmp")
    _assert_close(result.image.getpixel((150, 120)), BLUE, tol=0)


# --- EXIF dates ------------------------------------------------------------------------------


def _jpeg_with_dates(original: str | None = None, digitized_plain: str | None = None) -> bytes:
    exif = Image.Exif()
    if original is not None:
        exif.get_ifd(0x8769)[36867] = original
    if digitized_plain is not None:
        exif[306] = digitized_plain
    return _encode(Image.new("RGB", (64, 64)), "JPEG", exif=exif)


def test_date_taken_comes_from_datetime_original() -> None:
    data = _jpeg_with_dates("2021:06:15 14:30:05", "2022:01:01 00:00:00")
    assert decode(data, name="a.jpg").taken_at == "2021-06-15T14:30:05"


def test_date_taken_falls_back_to_datetime() -> None:
    data = _jpeg_with_dates(None, "2019:12:31 23:59:59")
    assert decode(data, name="a.jpg").taken_at == "2019-12-31T23:59:59"


@pytest.mark.parametrize(
    "garbage", ["0000:00:00 00:00:00", "not a date", "2021:13:45 99:00:00", ""]
)
def test_garbage_date_is_none(garbage: str) -> None:
    assert decode(_jpeg_with_dates(garbage), name="a.jpg").taken_at is None


def test_garbage_original_date_falls_back_to_datetime() -> None:
    data = _jpeg_with_dates("    :  :     :  :  ", "2019:12:31 23:59:59")
    assert decode(data, name="a.jpg").taken_at == "2019-12-31T23:59:59"


def test_date_in_png_exif_is_read() -> None:
    exif = Image.Exif()
    exif.get_ifd(0x8769)[36867] = "2020:02:29 12:00:00"
    # As bytes: PNG's encoder skips an Exif object whose top-level IFD is empty.
    data = _encode(Image.new("RGB", (64, 64)), "PNG", exif=exif.tobytes())
    assert decode(data, name="a.png").taken_at == "2020-02-29T12:00:00"


def test_no_exif_means_no_date() -> None:
    assert decode(_encode(Image.new("RGB", (64, 64)), "JPEG"), name="a.jpg").taken_at is None


# --- failures --------------------------------------------------------------------------------


def test_truncated_jpeg_is_an_image_error(tmp_path: Path) -> None:
    data = (DATA / "hubble_deep_field.jpg").read_bytes()
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: len(data) // 2])

    with pytest.raises(ImageError) as info:
        decode(path)

    assert info.value.reason == "truncated file"
    assert str(path) in str(info.value)


def test_truncated_png_is_an_image_error() -> None:
    data = (DATA / "astronaut.png").read_bytes()
    with pytest.raises(ImageError, match="truncated file"):
        decode(data[: len(data) // 2], name="cut.png")


def test_empty_file_is_an_image_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.jpg"
    path.touch()
    with pytest.raises(ImageError) as info:
        decode(path)
    assert info.value.reason == "empty file (0 bytes)"
    assert info.value.path == str(path)


def test_empty_bytes_is_an_image_error() -> None:
    with pytest.raises(ImageError, match=r"^upload\.jpg: empty file \(0 bytes\)$"):
        decode(b"", name="upload.jpg")


def test_text_file_named_jpg_is_not_an_image(tmp_path: Path) -> None:
    path = tmp_path / "notes.jpg"
    path.write_text("shopping list: milk, eggs\n" * 20)
    with pytest.raises(ImageError) as info:
        decode(path)
    assert info.value.reason.startswith("not an image file")


def test_missing_file_is_an_image_error(tmp_path: Path) -> None:
    path = tmp_path / "gone.jpg"
    with pytest.raises(ImageError) as info:
        decode(path)
    assert info.value.reason == "file not found"
    assert str(path) in str(info.value)


def test_directory_is_an_image_error(tmp_path: Path) -> None:
    folder = tmp_path / "album.jpg"
    folder.mkdir()
    with pytest.raises(ImageError, match="directory"):
        decode(folder)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs POSIX non-root")
def test_unreadable_file_is_an_image_error(tmp_path: Path) -> None:
    path = tmp_path / "secret.jpg"
    path.write_bytes(_encode(Image.new("RGB", (8, 8)), "JPEG"))
    path.chmod(0)
    with pytest.raises(ImageError, match="permission denied"):
        decode(path)


def test_errors_from_bytes_name_the_source() -> None:
    with pytest.raises(ImageError) as info:
        decode(b"definitely not pixels", name="/photos/IMG_0001.JPG")
    assert info.value.path == "/photos/IMG_0001.JPG"
    assert str(info.value).startswith("/photos/IMG_0001.JPG: not an image file")


def test_errors_from_unnamed_bytes_still_have_a_label() -> None:
    with pytest.raises(ImageError, match="not an image file"):
        decode(b"definitely not pixels")


def test_formats_outside_the_photo_list_are_refused() -> None:
    # Pillow can read PPM, but a photo library should not try every plugin on every file.
    with pytest.raises(ImageError, match="not an image file"):
        decode(_encode(Image.new("RGB", (64, 64)), "PPM"), name="a.ppm")


def test_decompression_bomb_is_an_image_error(monkeypatch: pytest.MonkeyPatch) -> None:
    data = _encode(Image.new("RGB", (300, 300)), "PNG")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)
    with pytest.raises(ImageError, match=r"image too large \(90000 pixels\)"):
        decode(data, name="bomb.png")


# --- thumbnails ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "expected"),
    [((1000, 500), (256, 128)), ((500, 1000), (128, 256)), ((300, 300), (256, 256))],
)
def test_thumbnail_fits_and_keeps_aspect(size: tuple[int, int], expected: tuple[int, int]) -> None:
    thumb = make_thumbnail(_smooth_photo(*size))
    assert thumb.mode == "RGB"
    assert thumb.size == expected


def test_thumbnail_of_small_image_is_not_upscaled_and_is_a_new_image() -> None:
    original = Image.new("RGB", (100, 40), RED)
    thumb = make_thumbnail(original)
    assert thumb.size == (100, 40)
    assert thumb is not original


def test_thumbnail_flattens_transparency_onto_white() -> None:
    thumb = make_thumbnail(Image.new("RGBA", (600, 300), (0, 0, 0, 0)), size=64)
    assert thumb.size == (64, 32)
    _assert_close(thumb.getpixel((10, 10)), WHITE, tol=0)


def test_thumbnail_of_real_photo_resembles_it() -> None:
    decoded = decode(DATA / "coffee.png", min_side=256)
    thumb = make_thumbnail(decoded.image)
    assert max(thumb.size) == 256
    expected = decoded.image.resize(thumb.size, Image.Resampling.BOX)
    assert _mean_abs_diff(thumb, expected) < 6


def test_save_thumbnail_writes_a_jpeg_atomically(tmp_path: Path) -> None:
    dest = tmp_path / "cache" / "ab" / "abcdef.jpg"
    save_thumbnail(decode(DATA / "chelsea.png").image, dest)

    assert os.listdir(dest.parent) == ["abcdef.jpg"]
    with Image.open(dest) as thumb:
        assert thumb.format == "JPEG"
        assert thumb.size == (256, 170)


def test_save_thumbnail_replaces_an_existing_file(tmp_path: Path) -> None:
    dest = tmp_path / "t.jpg"
    save_thumbnail(Image.new("RGB", (400, 400), RED), dest)
    save_thumbnail(Image.new("RGB", (400, 200), BLUE), dest, size=100)

    assert os.listdir(tmp_path) == ["t.jpg"]
    with Image.open(dest) as thumb:
        assert thumb.size == (100, 50)
        _assert_close(thumb.convert("RGB").getpixel((50, 25)), BLUE, tol=10)


def test_failed_save_leaves_no_temp_file_and_keeps_the_old_thumbnail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dest = tmp_path / "t.jpg"
    save_thumbnail(Image.new("RGB", (300, 300), RED), dest)
    before = dest.read_bytes()

    def broken_replace(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(storage.os, "replace", broken_replace)
    with pytest.raises(OSError, match="No space left"):
        save_thumbnail(Image.new("RGB", (300, 300), BLUE), dest)

    assert os.listdir(tmp_path) == ["t.jpg"]
    assert dest.read_bytes() == before


# --- HEIC / AVIF -----------------------------------------------------------------------------


def test_heic_round_trips(tmp_path: Path) -> None:
    pillow_heif = pytest.importorskip("pillow_heif")
    original = _smooth_photo(640, 480)
    path = tmp_path / "IMG_0001.HEIC"
    pillow_heif.from_pillow(original).save(path, quality=90)

    result = decode(path)

    assert (result.width, result.height) == (640, 480)
    assert result.image.mode == "RGB"
    expected = original.resize(result.image.size, Image.Resampling.BOX)
    assert _mean_abs_diff(result.image, expected) < 6


@pytest.mark.skipif(not features.check_module("avif"), reason="Pillow built without AVIF")
def test_avif_round_trips(tmp_path: Path) -> None:
    original = _smooth_photo(640, 480)
    path = tmp_path / "photo.avif"
    original.save(path, quality=90)

    result = decode(path)

    assert (result.width, result.height) == (640, 480)
    expected = original.resize(result.image.size, Image.Resampling.BOX)
    assert _mean_abs_diff(result.image, expected) < 6


def test_heic_orientation_is_applied_once(tmp_path: Path) -> None:
    # libheif rotates HEIC pixels itself and pillow-heif resets the EXIF tag to 1, so a
    # second rotation here would turn every portrait iPhone photo sideways.
    pytest.importorskip("pillow_heif")
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "portrait.heic"
    _halves(400, 300, RED, BLUE).save(path, format="HEIF", exif=exif.tobytes(), quality=95)

    result = decode(path)

    assert (result.width, result.height) == (300, 400)
    assert result.image.size == (300, 400)
    _assert_close(result.image.getpixel((150, 10)), RED, tol=30)
    _assert_close(result.image.getpixel((150, 390)), BLUE, tol=30)
