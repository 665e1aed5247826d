"""`photoclip bench` on CUDA: JPEGs decoded on the GPU (core/indexing/gpu_decode.py).

Figures, on the bench's 12-MP JPEGs, only when the model runs on CUDA:
  - gpu_decode_images_per_s: decode-only on the device (nvJPEG in batches, upright, resize,
    crop, normalise, the model input copied back), the file bytes already in pinned memory;
  - pipeline_gpu_decode_images_per_s against pipeline_cpu_decode_images_per_s: the whole
    `add` pipeline (read, hash, decode, embed, write) with GPU decoding and with Pillow only;
  - pipeline_gpu_decode_vs_ceiling: the former over the slower of the model alone and the GPU
    decoder alone (the issue's goal: >= 0.9, or >= 2,000 photos/s on an H100).
Elsewhere it says why there are none ("gpu_decode_skipped").
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from photoclip.core.encoder import ClipEncoder
from photoclip.core.indexing import FileTask, prepare
from photoclip.core.indexing.decode import Prepared
from photoclip.core.indexing.gpu_decode import GpuJpegs
from photoclip.core.library import Library

DECODE_BATCH = 64  # photos per decode call in the decode-only figure


def gpu_decode_figures(enc: ClipEncoder, photos: list[Path], tmp: Path, batch_size: int,
                       model_rate: float | None = None,
                       cancel: threading.Event | None = None,
                       jpegs: Callable[[], GpuJpegs] | None = None) -> dict[str, Any]:
    """The GPU-decode figures for `enc` on `photos` (all of them in one folder). `jpegs` makes
    the GpuJpegs to use (tests: a stand-in decoder on the CPU); default: the indexer's own,
    which decodes on the GPU only when `enc` runs on CUDA and torchvision loads."""
    make = jpegs or (lambda: GpuJpegs(enc))
    probe = make()
    if not probe.active():
        return {"gpu_decode_skipped": probe.why_not}
    r: dict[str, Any] = {}
    rate = _decode_only(probe, enc, photos)
    r["gpu_decode_images_per_s"] = round(rate, 1)
    rates = {}
    for name, on in (("gpu", True), ("cpu", False)):
        if cancel is not None and cancel.is_set():
            return r
        lib = Library(tmp / f"lib-decode-{name}", encoder=enc)
        lib.settings.batch_size = batch_size
        lib.add_roots([str(photos[0].parent)])
        indexer = lib.indexer(read_text=False)
        used = make() if on else None
        indexer.gpu_jpegs = used
        for _ in indexer.run(cancel=cancel):
            pass
        if indexer.report.indexed != len(photos):
            lib.close()
            raise RuntimeError(f"bench pipeline ({name} decode) indexed "
                               f"{indexer.report.indexed} of {len(photos)} photos")
        rates[name] = indexer.report.rate
        if used is not None:
            r["pipeline_gpu_decoded_photos"] = used.decoded_on_gpu
            r["pipeline_gpu_decode_fell_back"] = used.fell_back
            used.close()
        lib.close()
    r["pipeline_gpu_decode_images_per_s"] = round(rates["gpu"], 2)
    r["pipeline_cpu_decode_images_per_s"] = round(rates["cpu"], 2)
    r["pipeline_gpu_vs_cpu_decode"] = round(rates["gpu"] / rates["cpu"], 3)
    if model_rate:
        ceiling = min(model_rate, rate)
        r["pipeline_gpu_decode_ceiling_images_per_s"] = round(ceiling, 1)
        r["pipeline_gpu_decode_vs_ceiling"] = round(rates["gpu"] / ceiling, 3)
    return r


def _decode_only(gpu: GpuJpegs, enc: ClipEncoder, photos: list[Path]) -> float:
    """Photos/s through GpuJpegs.finish alone (no thumbnails), after one warm-up batch."""
    laters = [gpu.defer(p.read_bytes(), None) for p in photos]
    if any(later is None for later in laters):
        raise RuntimeError("a bench photo is not a JPEG the GPU decoder takes")

    def one_pass(items: list[Any]) -> None:
        for s in range(0, len(items), DECODE_BATCH):
            batch = [Prepared(FileTask(0, str(p), None), later=later)
                     for p, later in items[s : s + DECODE_BATCH]]
            gpu.finish(batch, lambda r: prepare(r.task, enc))

    pairs = list(zip(photos, laters, strict=True))
    one_pass(pairs[:DECODE_BATCH])  # warm-up: decoder handles, kernels
    start = time.perf_counter()
    one_pass(pairs)  # finish() copies the model input to the host: synchronised
    return len(pairs) / (time.perf_counter() - start)
