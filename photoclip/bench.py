"""`photoclip bench`: how fast this machine indexes and searches, as ratios from one run.

Figures (all measured in the same run, on the same model and device):
  (a) model-only image throughput on preprocessed tensors;
  (b) decode throughput per core: what one indexer worker does per photo (read, hash, draft
      decode, orient, preprocess, thumbnail) on generated 12-MP JPEGs;
  (c) the whole index pipeline on those JPEGs (+ embed + catalog write + vector add);
  (d) pipeline efficiency = (c) / the ideal the cores allow with (a) and (b) perfectly overlapped;
  (e) the CPU fast path (bf16/int8) against fp32, with the minimum cosine between them;
  (f) search at scale on synthetic CLIP-like vectors: ANN p95 and recall@10 against exact
      search, and text-query latency (text encoding + ANN + catalog lookup): quiet, beside a
      CPU-bound process, and while the indexer runs in this process;
  (g) a cold `photoclip search` in a fresh process, torch against the ONNX text tower
      (bench_cold.py);
  (h) on CUDA: JPEGs decoded on the GPU, decode-only and the pipeline with GPU against CPU
      decoding (bench_gpu.py). The rounds of (c) decode with Pillow, as their ideal assumes.
"""

from __future__ import annotations

import logging
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from photoclip import bench_text
from photoclip.core import fastpath
from photoclip.core.catalog import Catalog
from photoclip.core.encoder import ClipEncoder, resolve_device
from photoclip.core.indexing import FileTask, prepare
from photoclip.core.library import Library
from photoclip.core.search import Searcher
from photoclip.core.types import Progress
from photoclip.core.vectors import VectorIndex

log = logging.getLogger(__name__)

PHOTO_SIZE = (4000, 3000)  # a 12-MP phone photo
DEFAULT_PHOTOS = 96  # per round: seconds each, so pipeline fill and drain stay small
DEFAULT_VECTORS = 200_000  # large enough for the ANN to matter, small enough to build in minutes
DEFAULT_QUERIES = 200
_ADD_CHUNK = 10_000


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def percentile_ms(samples: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(samples) * 1000.0, q)) if samples else 0.0


def make_photos(folder: Path, n: int, size: tuple[int, int] = PHOTO_SIZE,
                seed: int = 0) -> list[Path]:
    """Photo-like JPEGs (smooth gradients, shapes, sensor-like noise) of camera size. Each file
    differs, so none is skipped as a copy of another."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    w, h = size
    # Built small and scaled up, then given full-resolution grain: real photos carry detail
    # down to the pixel, which is what makes their JPEGs 3-5 MB and slow to entropy-decode
    # (a smooth upscale alone gives 1.2 MB files that decode 3-4x faster than a phone's).
    # One grain field, shifted per photo, keeps the set-up cheap.
    small = (w // 8, h // 8)
    grain = rng.normal(0, 9, (h, w)).astype(np.int16)[..., None]
    paths = []
    for i in range(n):
        yy, xx = np.mgrid[0 : small[1], 0 : small[0]].astype(np.float32)
        c0, c1 = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
        t = (xx / small[0] * 0.6 + yy / small[1] * 0.4)[..., None]
        arr = c0 * (1 - t) + c1 * t + rng.normal(0, 10, (small[1], small[0], 3))
        img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
        draw = ImageDraw.Draw(img)
        for _ in range(6):
            x0, y0 = int(rng.integers(0, small[0] - 20)), int(rng.integers(0, small[1] - 20))
            x1 = x0 + int(rng.integers(10, small[0] // 3))
            y1 = y0 + int(rng.integers(10, small[1] // 3))
            draw.ellipse((x0, y0, x1, y1), fill=tuple(int(v) for v in rng.integers(0, 255, 3)))
        smooth = np.asarray(img.resize(size, Image.Resampling.BILINEAR), dtype=np.int16)
        shift = (int(rng.integers(0, h)), int(rng.integers(0, w)))
        photo = Image.fromarray(np.clip(smooth + np.roll(grain, shift, axis=(0, 1)), 0, 255)
                                .astype(np.uint8))
        path = folder / f"IMG_{i:05d}.jpg"
        photo.save(path, quality=90)
        paths.append(path)
    return paths


def clip_like_vectors(n: int, dim: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors shaped like a photo library's CLIP embeddings, and matching queries.

    Real embeddings are clustered (bursts, trips, recurring subjects) and have a low intrinsic
    dimension; uniform random 512-d vectors are a worst case no ANN handles and no library
    produces. So: one cluster per ~200 photos, cluster centres and offsets drawn in a 48-d latent
    space (fewer for tiny models), mapped into `dim` dimensions by a random orthonormal map,
    plus a little isotropic noise. Queries are fresh draws around random centres (a text query
    lands near a theme).
    """
    rng = np.random.default_rng(seed)
    latent = min(48, max(2, dim // 2))  # tiny test models have few dimensions
    clusters = max(8, n // 200)
    basis, _ = np.linalg.qr(rng.standard_normal((dim, latent)).astype(np.float32))
    centres = rng.standard_normal((clusters, latent)).astype(np.float32)

    def draw(count: int, spread: float) -> np.ndarray:
        which = rng.integers(0, clusters, count)
        z = centres[which] + spread * rng.standard_normal((count, latent)).astype(np.float32)
        x = z @ basis.T + 0.05 * rng.standard_normal((count, dim)).astype(np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        return x.astype(np.float32)

    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 50_000):
        out[start : start + 50_000] = draw(min(50_000, n - start), 0.45)
    return out, draw(DEFAULT_QUERIES, 0.6)


def _rss_mb() -> float:
    # ru_maxrss: peak resident set size; kilobytes on Linux, bytes on macOS.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if os.uname().sysname == "Darwin" else peak / 1024


def _current_rss_mb() -> float:
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / (1024 * 1024)
    except (OSError, ValueError):
        return _rss_mb()


@dataclass
class Bench:
    model: str
    device: str = "auto"
    photos: int = DEFAULT_PHOTOS
    vectors: int = DEFAULT_VECTORS
    queries: int = DEFAULT_QUERIES
    batch_size: int = 16
    rounds: int = 3
    workdir: Path | None = None
    result: dict[str, Any] = field(default_factory=dict)

    def run(self, cancel: threading.Event | None = None) -> Iterator[Progress]:
        with tempfile.TemporaryDirectory(prefix="photoclip-bench-", dir=self.workdir) as tmp:
            yield from self._run(Path(tmp), cancel)

    def _run(self, tmp: Path, cancel: threading.Event | None) -> Iterator[Progress]:
        steps = 7
        r = self.result
        device = resolve_device(self.device)
        r["device"] = device
        r["cores"] = usable_cores()

        # (e) the CPU fast path, measured against fp32 (also settles which precision we use)
        yield Progress("bench", 0, steps, message="CPU fast path vs fp32")
        fast = fastpath.calibrate(self.model, batch_size=min(self.batch_size, 16))
        r["fast_path"] = fast.choice
        r["fast_path_vs_fp32"] = round(fast.speedup, 3)
        r["fast_path_cosine"] = round(fast.min_cosine.get(fast.choice, 1.0), 5)
        r["fp32_images_per_s"] = round(fast.fp32_images_per_s, 2)
        r["fast_path_candidates"] = {
            n: {"images_per_s": round(fast.images_per_s[n], 2),
                "min_cosine": round(fast.min_cosine[n], 5)} for n in fast.images_per_s}
        precision = fast.choice if device == "cpu" else "fp32"
        enc = ClipEncoder(self.model, device=device, batch_size=self.batch_size,
                          precision=precision)
        enc.load()
        r["model"] = enc.model_id
        r["precision"] = enc.precision
        if cancel is not None and cancel.is_set():
            return

        # (a), (b), (c) in interleaved rounds. A desktop's speed drifts by a third within a
        # minute (frequency scaling, thermal limits, other processes), so a ceiling measured
        # once and a pipeline measured later would make the efficiency say more about the
        # drift than about the pipeline. Each round measures all three back to back and gives
        # its own efficiency; the figures reported are those of the median round (headline()).
        cards = fastpath.calibration_images(self.batch_size, enc.image_size)
        batch = np.stack([enc.preprocess(im) for im in cards])
        yield Progress("bench", 1, steps, message=f"generating {self.photos} 12-MP JPEGs")
        photos = make_photos(tmp / "photos", self.photos)
        if cancel is not None and cancel.is_set():
            return
        cores = r["cores"]
        decode_sample = photos[: max(1, len(photos) // 4)]
        rounds: list[dict[str, float]] = []
        for i in range(self.rounds):
            yield Progress("bench", 2, steps, message=f"index pipeline, round {i + 1} of "
                           f"{self.rounds}: model, decode, pipeline")
            # (a) model only, on preprocessed tensors
            model_rate = fastpath.images_per_second(enc, batch, min_seconds=1.0)
            # (b) decode per core: exactly one indexer worker's per-photo work, one thread
            probe_lib = Library(tmp / f"probe-{i}", encoder=enc)
            probe = probe_lib.indexer(read_text=False)  # CLIP only: OCR has its own step
            start = time.perf_counter()
            for p in decode_sample:
                res = prepare(FileTask(0, str(p), None), probe.encoder, probe.thumbnails)
                if res.error:
                    raise RuntimeError(f"bench photo failed to decode: {res.error}")
            decode_rate = len(decode_sample) / (time.perf_counter() - start)
            probe_lib.close()
            # (c) the whole pipeline, as `photoclip add` runs it
            lib = Library(tmp / f"lib-{i}", encoder=enc)
            lib.settings.batch_size = self.batch_size
            lib.add_roots([str(tmp / "photos")])
            rss_before = _current_rss_mb()
            indexer = lib.indexer(read_text=False)
            indexer.gpu_jpegs = None  # the CPU decoders, as `ideal` counts them; (h): the GPU's
            for _ in indexer.run(cancel=cancel):
                pass
            if cancel is not None and cancel.is_set():
                lib.close()
                return
            if indexer.report.indexed != len(photos):
                raise RuntimeError(f"bench pipeline indexed {indexer.report.indexed} of "
                                   f"{len(photos)} photos")
            pipeline_rate = indexer.report.rate
            lib.close()
            r["pipeline_rss_growth_mb"] = round(_current_rss_mb() - rss_before, 1)
            # (d) against the ideal: on a CPU the model and the decoders share the cores, so
            # the per-photo costs add up; on a GPU the model runs beside the decoders.
            if device == "cpu":
                ideal = 1.0 / (1.0 / model_rate + 1.0 / (decode_rate * cores))
            else:
                ideal = min(model_rate, decode_rate * cores)
            rounds.append({"model_only_images_per_s": round(model_rate, 2),
                           "decode_images_per_s_per_core": round(decode_rate, 2),
                           "pipeline_images_per_s": round(pipeline_rate, 2),
                           "ideal_images_per_s": round(ideal, 2),
                           "pipeline_efficiency": round(pipeline_rate / ideal, 3)})

        r.update(headline(rounds))
        r["pipeline_rounds"] = rounds
        r["pipeline_peak_rss_mb"] = round(_rss_mb(), 1)
        if device.startswith("cuda"):  # (h)
            from photoclip.bench_gpu import gpu_decode_figures
            r.update(gpu_decode_figures(enc, photos, tmp, self.batch_size,
                                        r["model_only_images_per_s"], cancel))
        if cancel is not None and cancel.is_set():
            return

        # (f) search at scale
        yield Progress("bench", 3, steps, message=f"building an index of {self.vectors} vectors")
        data, queries = clip_like_vectors(self.vectors, enc.dim)
        queries = queries[: self.queries]
        rss0 = _current_rss_mb()
        index = VectorIndex(tmp / "ann.hnsw", enc.dim, "bench")
        start = time.perf_counter()
        for s in range(0, len(data), _ADD_CHUNK):
            index.add(np.arange(s, min(s + _ADD_CHUNK, len(data))), data[s : s + _ADD_CHUNK])
            if cancel is not None and cancel.is_set():
                return
        r["ann_build_s"] = round(time.perf_counter() - start, 1)
        r["ann_ram_bytes_per_vector"] = round(
            (_current_rss_mb() - rss0) * 1024 * 1024 / max(1, len(data)))

        yield Progress("bench", 4, steps, message="search latency and recall")
        ann_times, hits = [], 0
        for q in queries:
            t0 = time.perf_counter()
            found = index.search(q, 10)
            ann_times.append(time.perf_counter() - t0)
            exact = np.argpartition(-(data @ q), 10)[:10]
            hits += len({i for i, _ in found} & set(exact.tolist()))
        r["ann_p50_ms"] = round(percentile_ms(ann_times, 50), 3)
        r["ann_p95_ms"] = round(percentile_ms(ann_times, 95), 3)
        r["ann_recall_at_10"] = round(hits / (10 * len(queries)), 4)
        r["vectors"] = len(data)

        catalog = Catalog(tmp / "scale.sqlite3")
        _fill_catalog(catalog, len(data))
        searcher = Searcher(catalog, enc, index)
        n_queries = min(len(queries), 100)
        text_times = time_queries(searcher, n_queries)
        r["text_query_p50_ms"] = round(percentile_ms(text_times, 50), 2)
        r["text_query_p95_ms"] = round(percentile_ms(text_times, 95), 2)
        # The same queries beside a CPU-bound process (one core's worth of other work), and
        # while the indexer embeds in this process (the window: typing while it indexes).
        # Each pass asks other words: a query asked before is answered from the searcher's
        # cache of query vectors and would time no text encoding.
        with cpu_hog():
            beside = time_queries(searcher, n_queries, "busy")
        r["text_query_p95_beside_cpu_load_ms"] = round(percentile_ms(beside, 95), 2)
        indexing = time_queries_while_indexing(searcher, n_queries, enc, tmp, self.batch_size)
        r["text_query_p95_while_indexing_ms"] = round(percentile_ms(indexing, 95), 2)
        r["text_queries_while_indexing"] = len(indexing)
        catalog.close()
        yield Progress("bench", 5, steps, message="cold text query: torch vs ONNX text tower")
        from photoclip.bench_cold import cold_query_figures
        r.update(cold_query_figures(self.model, device, tmp))
        yield Progress("bench", 6, steps, message="reading text (OCR), 12-MP photos")
        r.update(bench_text.measure(tmp, r["cores"], cancel))  # photoclip/bench_text.py
        yield Progress("bench", steps, steps, finished=True, message="done")


HOG_MAX_S = 120.0  # a CPU hog outlives no bench: it stops itself after this long

_HOG = """
import sys, time
end = time.monotonic() + float(sys.argv[1])
x = 0
while time.monotonic() < end:
    for i in range(100_000):
        x += i * i
"""


@contextmanager
def cpu_hog(seconds: float = HOG_MAX_S) -> Iterator[subprocess.Popen[bytes]]:
    """A CPU-bound process beside this one while the block runs; stopped on leaving it, and
    by itself after `seconds` whatever happens to this process."""
    proc = subprocess.Popen([sys.executable, "-c", _HOG, str(seconds)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    try:
        time.sleep(0.2)  # let it reach its loop
        yield proc
    finally:
        proc.kill()
        proc.wait()


def time_queries(searcher: Searcher, n: int, words: str = "",
                  keep_going: Any = None) -> list[float]:
    """Wall time of up to n text queries, none asked before in this run if `words` differ
    between calls; stops early when keep_going() turns false."""
    times = []
    for i in range(n):
        if keep_going is not None and not keep_going():
            break
        t0 = time.perf_counter()
        if not searcher.search(f"{words} photo number {i} of a trip".strip(), top=20):
            raise RuntimeError("the synthetic catalog returned no hits")
        times.append(time.perf_counter() - t0)
    return times


def time_queries_while_indexing(searcher: Searcher, n: int, enc: ClipEncoder, tmp: Path,
                                 batch_size: int) -> list[float]:
    """Text queries while an indexer (same process, same model) indexes the bench photos into
    a fresh library; only the queries that started while it ran count."""
    lib = Library(tmp / "lib-while-querying", encoder=enc)
    lib.settings.batch_size = batch_size
    lib.add_roots([str(tmp / "photos")])
    indexer = lib.indexer(read_text=False)
    started = threading.Event()

    def index() -> None:
        for _ in indexer.run():
            started.set()
        started.set()

    worker = threading.Thread(target=index, name="bench-indexer", daemon=True)
    worker.start()
    try:
        started.wait(60)
        return time_queries(searcher, n, "indexing", keep_going=worker.is_alive)
    finally:
        worker.join()
        lib.close()


ROUND_KEYS = ("model_only_images_per_s", "decode_images_per_s_per_core",
              "pipeline_images_per_s", "ideal_images_per_s", "pipeline_efficiency")


def headline(rounds: list[dict[str, float]]) -> dict[str, Any]:
    """The headline figures: every one from the same round, the one whose efficiency is the
    median (the lower middle one for an even count), so that pipeline / ideal is the
    efficiency reported beside them. Medians taken key by key could each come from another
    round, and a headline rate from one round beside an efficiency from another says nothing
    about either."""
    order = sorted(range(len(rounds)), key=lambda i: rounds[i]["pipeline_efficiency"])
    pick = order[(len(order) - 1) // 2]
    chosen = rounds[pick]
    out: dict[str, Any] = {key: chosen[key] for key in ROUND_KEYS}
    out["pipeline_vs_model"] = round(chosen["pipeline_images_per_s"]
                                     / chosen["model_only_images_per_s"], 3)
    out["pipeline_headline_round"] = pick
    return out


def _fill_catalog(catalog: Catalog, n: int) -> None:
    """n photo rows whose ids are the synthetic vectors' labels 0..n-1, so the text-query
    timing includes the real catalog lookup of every hit."""
    root = catalog.add_root("/bench")
    with catalog.transaction() as c:
        c.executemany(
            "INSERT INTO photos(id, root_id, path, size, mtime_ns, hash) VALUES (?,?,?,?,?,?)",
            ((i, root.id, f"/bench/{i:07d}.jpg", 1, 0, None) for i in range(n)),
        )

