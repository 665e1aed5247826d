"""JPEGs decoded on the GPU in batches (issue 23): the batching, pinned buffers, fallbacks to
Pillow and ordering, exercised on the CPU with a decoder that decodes with Pillow into tensors;
the GPU path's preprocessing (the same torch code, on the CPU) against the Pillow path's
embeddings; torchvision's real decoder where it loads; nvJPEG itself where CUDA is."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import skimage
import torch
from PIL import Image, ImageOps

from photoclip.core.indexing import FileTask, prepare
from photoclip.core.indexing.decode import Prepared
from photoclip.core.indexing.gpu_decode import (
    ENV_GPU_DECODE,
    GpuJpegs,
    JpegLater,
    model_input,
    torchvision_decoder,
    upright,
)
from photoclip.core.library import Library

DATA = Path(skimage.__file__).parent / "data"
REAL = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png",
        "hubble_deep_field.jpg")
REFUSE = b"refuse-me"  # a JPEG comment the fake decoder refuses, as nvJPEG refuses some files


class PillowTensors:
    """A stand-in for nvJPEG: decodes with Pillow into (3, H, W) uint8 tensors, all or nothing
    per call (as torchvision's decode_jpeg), and remembers what it was given."""

    def __init__(self, refuse_progressive: bool = False) -> None:
        self.calls: list[int] = []
        self.buffers: list[torch.Tensor] = []
        self.refuse_progressive = refuse_progressive

    def __call__(self, buffers: list[torch.Tensor]) -> list[torch.Tensor]:
        self.calls.append(len(buffers))
        out = []
        for buf in buffers:
            assert buf.dtype == torch.uint8
            assert buf.dim() == 1
            assert buf.device.type == "cpu"
            self.buffers.append(buf)
            data = buf.numpy().tobytes()
            if REFUSE in data:
                raise RuntimeError("nvjpeg: unsupported")
            with Image.open(io.BytesIO(data)) as img:
                if self.refuse_progressive and img.info.get("progressive"):
                    raise RuntimeError("nvjpeg: progressive")
                rgb = np.asarray(img.convert("RGB"))  # no draft, no EXIF: as nvJPEG
            out.append(torch.from_numpy(rgb.copy()).permute(2, 0, 1).contiguous())
        return out


def _jpeg(img: Image.Image, path: Path, orientation: int = 1, taken: str | None = None,
          **params: object) -> Path:
    exif = Image.Exif()
    if orientation != 1:
        exif[0x0112] = orientation
    if taken:
        exif[306] = taken
    img.save(path, "JPEG", quality=92, exif=exif.tobytes(), **params)
    return path


def _real(name: str) -> Image.Image:
    with Image.open(DATA / name) as img:
        return img.convert("RGB")


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def _gpu(encoder: object, decoder: PillowTensors | None = None) -> GpuJpegs:
    return GpuJpegs(encoder, decoder=decoder or PillowTensors(), device="cpu",  # type: ignore[arg-type]
                    pin=False)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_upright_turns_the_pixels_as_pillow_does(orientation: int) -> None:
    arr = np.random.default_rng(orientation).integers(0, 255, (5, 7, 3), dtype=np.uint8)
    img = Image.fromarray(arr)
    exif = img.getexif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    img.save(buf, "PNG", exif=exif.tobytes())
    expected = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(buf.getvalue()))))
    got = upright(torch.from_numpy(arr).permute(2, 0, 1), orientation).permute(1, 2, 0)
    assert np.array_equal(got.numpy(), expected)


def test_gpu_preprocessing_agrees_with_pillow_embeddings_on_real_photos(
        tmp_path: Path, tiny_encoder) -> None:
    """The model input made from full decodes by torch ops (what runs on the GPU, here on the
    CPU) gives the embeddings the Pillow path gives, photo by photo, turned ones included."""
    from photoclip.bench import make_photos

    paths = [_jpeg(_real(n), tmp_path / f"{i}.jpg", orientation=(1, 6, 3, 8, 1, 5)[i])
             for i, n in enumerate(REAL)]
    paths += make_photos(tmp_path / "twelve-mp", 1)  # a 12-MP phone-like photo
    thumbs = tmp_path / "thumbs"
    cpu = np.stack([prepare(FileTask(0, str(p), None), tiny_encoder, thumbs).pixels
                    for p in paths])
    gpu = _gpu(tiny_encoder)
    later = [gpu.defer(p.read_bytes(), None) for p in paths]
    assert all(isinstance(x, JpegLater) for x in later)
    images = [PillowTensors()([x.buffer])[0] for x in later]  # type: ignore[union-attr]
    pixels = model_input(images, [x.orientation for x in later],  # type: ignore[union-attr]
                         tiny_encoder.preprocessing).numpy()
    assert pixels.shape == cpu.shape
    a, b = tiny_encoder.encode_images(cpu), tiny_encoder.encode_images(pixels)
    cosines = [_cos(x, y) for x, y in zip(a, b, strict=True)]
    assert min(cosines) >= 0.995, cosines
    # and not by accident: another photo's embedding is far from it
    assert _cos(a[0], b[1]) < 0.99


def _folder(root: Path) -> dict[str, str]:
    """A folder the GPU path must sort out: what each file is."""
    root.mkdir()
    kinds = {}
    for i in range(9):
        src = _real(REAL[i % 4])
        x, y = (i * 13) % 60, (i * 7) % 60
        crop = src.crop((x, y, x + 300, y + 220))
        name = f"j{i}.jpg"
        _jpeg(crop, root / name, orientation=6 if i == 2 else 1,
              taken="2021:05:04 10:11:12" if i == 3 else None)
        kinds[name] = "jpeg"
    _real("coffee.png").crop((0, 0, 200, 150)).save(root / "p.png")
    kinds["p.png"] = "png"
    _real("chelsea.png").convert("CMYK").save(root / "cmyk.jpg", "JPEG")
    kinds["cmyk.jpg"] = "cmyk"
    _jpeg(_real("astronaut.png").crop((0, 0, 260, 200)), root / "prog.jpg", progressive=True)
    kinds["prog.jpg"] = "progressive"
    # nvJPEG says no; Pillow reads it
    _real("rocket.jpg").crop((0, 0, 240, 180)).save(root / "refused.jpg", "JPEG",
                                                      comment=REFUSE)
    kinds["refused.jpg"] = "refused"
    whole = (root / "j0.jpg").read_bytes()
    (root / "cut.jpg").write_bytes(whole[: len(whole) // 3])  # neither decoder can
    kinds["cut.jpg"] = "truncated"
    return kinds


def _index(tmp_path: Path, name: str, encoder: object, root: Path,
           gpu: GpuJpegs | None) -> dict[str, tuple]:
    """Index `root` into a fresh library; per file name: status, size, date, vector, whether
    its thumbnail is there."""
    lib = Library(tmp_path / name, encoder=encoder)  # type: ignore[arg-type]
    lib.settings.batch_size = 4
    lib.add_roots([str(root)])
    indexer = lib.indexer(read_text=False)
    indexer.gpu_jpegs = gpu
    list(indexer.run())
    model = encoder.model_id  # type: ignore[attr-defined]
    rows = lib.catalog.query("SELECT id, path, status, width, height, taken_at, hash FROM photos")
    vecs = lib.catalog.embeddings_of(model, [r[0] for r in rows])
    out = {}
    for pid, path, status, w, h, taken, digest in rows:
        thumb = lib.paths.thumbnails / digest[:2] / f"{digest}.jpg" if digest else None
        out[Path(path).name] = (status, w, h, taken, vecs.get(pid),
                                thumb is not None and thumb.exists())
    lib.close()
    return out


def test_indexing_with_gpu_jpegs_gives_what_pillow_gives(tmp_path: Path, tiny_encoder) -> None:
    """Every photo indexed as the Pillow path indexes it (same size, date, thumbnail, an
    embedding at cosine >= 0.995, each with its own photo: order kept through the batches);
    PNG and CMYK never reach the GPU decoder, the refused JPEG falls back to Pillow alone, and
    the truncated one fails with Pillow's reason without failing its batch."""
    kinds = _folder(tmp_path / "photos")
    fake = PillowTensors()
    gpu = _gpu(tiny_encoder, fake)
    on_gpu = _index(tmp_path, "gpu", tiny_encoder, tmp_path / "photos", gpu)
    pillow = _index(tmp_path, "cpu", tiny_encoder, tmp_path / "photos", None)
    assert on_gpu.keys() == pillow.keys() == kinds.keys()
    for name, kind in kinds.items():
        g, c = on_gpu[name], pillow[name]
        assert g[0] == c[0] == ("failed" if kind == "truncated" else "ok"), (name, g, c)
        assert g[1:4] == c[1:4], name  # width, height (upright), taken_at
        assert g[5] == c[5] == (kind != "truncated"), name  # thumbnail
        if kind != "truncated":
            assert _cos(g[4], c[4]) >= 0.995, name
    assert on_gpu["j2.jpg"][1:3] == (220, 300)  # turned by its EXIF orientation
    assert on_gpu["j3.jpg"][3] == "2021-05-04T10:11:12"
    # batches, not photo by photo; nothing but JPEGs the GPU takes was handed to it
    assert max(fake.calls) > 1
    handed = {bytes(b.numpy().tobytes()) for b in fake.buffers}
    root = tmp_path / "photos"
    for name in ("p.png", "cmyk.jpg"):
        assert (root / name).read_bytes() not in handed
    assert (root / "refused.jpg").read_bytes() in handed
    # 9 plain + progressive decoded there; the refused one went back to Pillow; the truncated
    # one (no end marker) never left it
    assert gpu.decoded_on_gpu == 10
    assert gpu.fell_back == 1
    assert (root / "cut.jpg").read_bytes() not in handed


def test_a_refused_batch_is_retried_photo_by_photo_in_order(tmp_path: Path,
                                                             tiny_encoder) -> None:
    fake = PillowTensors()
    gpu = _gpu(tiny_encoder, fake)
    names = []
    for i in range(5):
        img = _real(REAL[i % 4]).crop((i, 0, 200 + i, 150))
        p = tmp_path / f"{i}.jpg"
        img.save(p, "JPEG", **({"comment": REFUSE} if i == 2 else {}))
        names.append(p)
    batch = []
    for p in names:
        later = gpu.defer(p.read_bytes(), None)
        assert later is not None
        batch.append(Prepared(FileTask(0, str(p), None), later=later))
    fallen: list[str] = []

    def fallback(r: Prepared) -> Prepared:
        fallen.append(r.task.path)
        return prepare(r.task, tiny_encoder)

    gpu.finish(batch, fallback)
    assert fake.calls == [5, 1, 1, 1, 1, 1]  # the batch, then each photo once
    assert fallen == [str(names[2])]
    assert all(r.later is None and r.pixels is not None for r in batch)
    for r, p in zip(batch, names, strict=True):
        alone = prepare(FileTask(0, str(p), None), tiny_encoder).pixels
        a, b = tiny_encoder.encode_images(np.stack([r.pixels, alone]))
        assert _cos(a, b) >= 0.995  # its own photo's input, in its own place


def _deferred(gpu: GpuJpegs, tmp_path: Path, n: int) -> list[Prepared]:
    batch = []
    for i in range(n):
        p = _jpeg(_real(REAL[i % 4]).crop((i, 0, 180 + i, 140)), tmp_path / f"d{i}.jpg")
        batch.append(Prepared(FileTask(0, str(p), None), later=gpu.defer(p.read_bytes(), None)))
    return batch


def test_a_large_batch_is_decoded_in_chunks_in_order(tmp_path: Path, tiny_encoder,
                                                     monkeypatch) -> None:
    from photoclip.core.indexing import gpu_decode

    monkeypatch.setattr(gpu_decode, "CALL_MAX_PIXELS", 180 * 140 * 2)  # two photos a call
    fake = PillowTensors()
    gpu = _gpu(tiny_encoder, fake)
    batch = _deferred(gpu, tmp_path, 5)
    gpu.finish(batch, lambda r: pytest.fail("nothing was refused"))
    assert fake.calls == [2, 2, 1]
    alone = np.stack([prepare(r.task, tiny_encoder).pixels for r in batch])
    a = tiny_encoder.encode_images(np.stack([r.pixels for r in batch]))
    b = tiny_encoder.encode_images(alone)
    assert [_cos(x, y) >= 0.995 for x, y in zip(a, b, strict=True)] == [True] * 5


def test_a_failure_on_the_device_hands_the_photos_to_pillow(tmp_path: Path, tiny_encoder,
                                                            monkeypatch) -> None:
    """Out of GPU memory while resizing: the photos are decoded by Pillow, the batch goes on."""
    from photoclip.core.indexing import gpu_decode

    def no_memory(*a: object) -> None:
        raise RuntimeError("CUDA out of memory")

    monkeypatch.setattr(gpu_decode, "model_input", no_memory)
    gpu = _gpu(tiny_encoder)
    batch = _deferred(gpu, tmp_path, 3)
    gpu.finish(batch, lambda r: prepare(r.task, tiny_encoder))
    assert gpu.fell_back == 3
    assert gpu.decoded_on_gpu == 0
    assert all(r.pixels is not None and r.error is None and r.width == 180 for r in batch)


def test_progressive_jpegs_go_to_pillow_once_the_decoder_refused_one(tmp_path: Path,
                                                                     tiny_encoder) -> None:
    gpu = _gpu(tiny_encoder, PillowTensors(refuse_progressive=True))
    p = _jpeg(_real("coffee.png"), tmp_path / "p.jpg", progressive=True)
    first = gpu.defer(p.read_bytes(), None)
    assert first is not None
    r = Prepared(FileTask(0, str(p), None), later=first)
    gpu.finish([r], lambda r: prepare(r.task, tiny_encoder))
    assert r.pixels is not None
    assert gpu.fell_back == 1
    assert gpu.defer(p.read_bytes(), None) is None  # Pillow decodes the next one directly


def test_only_jpegs_the_gpu_takes_are_deferred(tmp_path: Path, tiny_encoder) -> None:
    gpu = _gpu(tiny_encoder)
    img = _real("chelsea.png")
    png = io.BytesIO()
    img.save(png, "PNG")
    cmyk = io.BytesIO()
    img.convert("CMYK").save(cmyk, "JPEG")
    gray = io.BytesIO()
    img.convert("L").save(gray, "JPEG")
    rgb = _jpeg(img, tmp_path / "x.jpg").read_bytes()
    assert gpu.defer(png.getvalue(), None) is None
    assert gpu.defer(cmyk.getvalue(), None) is None
    assert gpu.defer(b"\xff\xd8 not a jpeg", None) is None
    assert gpu.defer(rgb[: len(rgb) // 2], None) is None  # cut short: Pillow says why
    assert gpu.defer(gray.getvalue(), None) is not None
    later = gpu.defer(rgb, tmp_path / "t.jpg")
    assert later is not None
    assert later.buffer.numpy().tobytes() == rgb  # the file's bytes, as read
    assert not later.buffer.is_pinned()  # pinned only for a CUDA decoder
    assert later.thumb == tmp_path / "t.jpg"
    small = GpuJpegs(tiny_encoder, decoder=PillowTensors(), max_pixels=1000)
    assert small.defer(rgb, None) is None  # too large to decode whole: Pillow's draft mode


def test_off_unless_the_model_runs_on_cuda(tiny_encoder, monkeypatch) -> None:
    gpu = GpuJpegs(tiny_encoder)
    assert gpu.defer(b"\xff\xd8", None) is None
    assert not gpu.active()
    assert "not CUDA" in (gpu.why_not or "")

    class OnCuda:
        device = "cuda"

    monkeypatch.setenv(ENV_GPU_DECODE, "0")
    off = GpuJpegs(OnCuda())  # type: ignore[arg-type]
    assert not off.active()
    assert ENV_GPU_DECODE in (off.why_not or "")


def _torchvision(device: str):
    decoder, why = torchvision_decoder(device)
    if decoder is None:
        pytest.skip(f"torchvision's decoder cannot run here: {why}")
    return decoder


def test_torchvision_cpu_decoder_agrees_with_pillow(tmp_path: Path, tiny_encoder) -> None:
    """torchvision's own decode_jpeg (its CPU decoder) through the same path."""
    decoder = _torchvision("cpu")
    paths = [_jpeg(_real(n), tmp_path / f"{i}.jpg", orientation=(1, 6)[i % 2])
             for i, n in enumerate(REAL)]
    gpu = GpuJpegs(tiny_encoder, decoder=decoder, device="cpu", pin=False)
    batch = [Prepared(FileTask(0, str(p), None), later=gpu.defer(p.read_bytes(), None))
             for p in paths]
    gpu.finish(batch, lambda r: prepare(r.task, tiny_encoder))
    assert gpu.decoded_on_gpu == len(paths)
    cpu = np.stack([prepare(FileTask(0, str(p), None), tiny_encoder, tmp_path / "t").pixels
                    for p in paths])
    a = tiny_encoder.encode_images(cpu)
    b = tiny_encoder.encode_images(np.stack([r.pixels for r in batch]))
    assert min(_cos(x, y) for x, y in zip(a, b, strict=True)) >= 0.995


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_nvjpeg_batches_pinned_and_agreeing(tmp_path: Path, tiny_clip_dir: Path) -> None:
    """On a GPU: nvJPEG through the indexer, pinned buffers, the Pillow path's embeddings."""
    from photoclip.core.encoder import ClipEncoder

    _torchvision("cuda")
    encoder = ClipEncoder(str(tiny_clip_dir), device="cuda", batch_size=8)
    kinds = _folder(tmp_path / "photos")
    gpu = GpuJpegs(encoder)
    assert gpu.active(), gpu.why_not
    later = gpu.defer((tmp_path / "photos" / "j0.jpg").read_bytes(), None)
    assert later is not None
    assert later.buffer.is_pinned()
    on_gpu = _index(tmp_path, "gpu", encoder, tmp_path / "photos", gpu)
    pillow = _index(tmp_path, "cpu", encoder, tmp_path / "photos", None)
    assert gpu.decoded_on_gpu >= 9
    for name, kind in kinds.items():
        assert on_gpu[name][:4] == pillow[name][:4], name
        if kind != "truncated":
            assert _cos(on_gpu[name][4], pillow[name][4]) >= 0.995, name


def test_bench_gpu_figures_with_a_stand_in_decoder(tmp_path: Path, tiny_encoder) -> None:
    """`bench`'s GPU-decode figures, their code run on the CPU with the stand-in decoder; with
    the model on the CPU and no stand-in it says why there are none."""
    from photoclip.bench import make_photos
    from photoclip.bench_gpu import gpu_decode_figures

    photos = make_photos(tmp_path / "photos", 6, size=(640, 480))
    r = gpu_decode_figures(tiny_encoder, photos, tmp_path, 4, model_rate=1000.0,
                           jpegs=lambda: _gpu(tiny_encoder))
    assert r["pipeline_gpu_decoded_photos"] == 6
    assert r["pipeline_gpu_decode_fell_back"] == 0
    for key in ("gpu_decode_images_per_s", "pipeline_gpu_decode_images_per_s",
                "pipeline_cpu_decode_images_per_s", "pipeline_gpu_vs_cpu_decode",
                "pipeline_gpu_decode_vs_ceiling"):
        assert r[key] > 0, key
    assert r["pipeline_gpu_decode_ceiling_images_per_s"] == min(1000.0,
                                                                r["gpu_decode_images_per_s"])
    skipped = gpu_decode_figures(tiny_encoder, photos, tmp_path / "again", 4)
    assert "not CUDA" in skipped["gpu_decode_skipped"]
