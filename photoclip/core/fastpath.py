"""Choose the CPU fast path (bf16 or int8) by measuring it on this machine against fp32.

A fast path is only taken if it is clearly faster AND its embeddings stay within cosine 0.99 of
fp32 on the user's own model: quantised CLIP has been reported to lose retrieval quality, so
nothing is assumed. The result is cached per model in the library settings; fp32 stays one
setting away.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw

from photoclip.core.encoder import ClipEncoder
from photoclip.core.types import Progress

log = logging.getLogger(__name__)

MIN_COSINE = 0.99  # below this, rankings visibly change; the bar for "same results"
MIN_SPEEDUP = 1.15  # smaller gains are within run-to-run noise on a busy desktop
CANDIDATES = ("bf16", "int8")
JOB = "fastpath"  # the Progress.job of the measurement


@dataclass(frozen=True)
class FastPathResult:
    choice: str  # "fp32" when no candidate qualified
    fp32_images_per_s: float
    images_per_s: dict[str, float] = field(default_factory=dict)
    min_cosine: dict[str, float] = field(default_factory=dict)

    @property
    def speedup(self) -> float:
        if self.choice == "fp32" or self.fp32_images_per_s <= 0:
            return 1.0
        return self.images_per_s[self.choice] / self.fp32_images_per_s

    @property
    def summary(self) -> str:
        if self.choice == "fp32":
            return "CPU fast path: none matches fp32 closely and clearly faster; fp32 it is"
        return (f"CPU fast path: {self.choice}, {self.speedup:.1f}x fp32 (used from the model's "
                "next load on)")


def calibration_images(n: int, size: int, seed: int = 0) -> list[Image.Image]:
    """Photo-like test cards: gradients, shapes and texture, not white noise (a model's error on
    noise says little about its error on photos)."""
    rng = np.random.default_rng(seed)
    images = []
    for _ in range(n):
        base = np.linspace(0, 1, size, dtype=np.float32)
        c0, c1 = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
        grad = (c0[None, None, :] * base[None, :, None]
                + c1[None, None, :] * (1 - base[:, None, None]))
        noise = rng.normal(0, 12, (size, size, 3))
        img = Image.fromarray(np.clip(grad + noise, 0, 255).astype(np.uint8))
        draw = ImageDraw.Draw(img)
        for _ in range(4):
            x0, y0 = rng.integers(0, size - 8, 2)
            x1, y1 = x0 + rng.integers(8, size // 2), y0 + rng.integers(8, size // 2)
            fill = tuple(int(v) for v in rng.integers(0, 255, 3))
            if rng.random() < 0.5:
                draw.ellipse((int(x0), int(y0), int(x1), int(y1)), fill=fill)
            else:
                draw.rectangle((int(x0), int(y0), int(x1), int(y1)), fill=fill)
        images.append(img)
    return images


def images_per_second(encoder: ClipEncoder, batch: np.ndarray, min_seconds: float = 1.0) -> float:
    """Throughput of encode_images on a preprocessed batch, after one warm-up call."""
    encoder.encode_images(batch[: max(1, len(batch) // 4)])
    done, start = 0, time.perf_counter()
    while True:
        encoder.encode_images(batch)
        done += len(batch)
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            return done / elapsed


def calibrate(
    model: str,
    batch_size: int = 16,
    min_seconds: float = 1.0,
    progress: Callable[[str], None] | None = None,
    reference: ClipEncoder | None = None,
) -> FastPathResult:
    """Measure fp32 and each candidate on `model` (or the loaded fp32 CPU encoder `reference`)
    and choose. The candidates are copies of the reference's weights, not new loads."""
    say = progress or (lambda _m: None)
    job = measure(model, batch_size, min_seconds, reference)
    while True:
        try:
            step = next(job)
        except StopIteration as done:
            result: FastPathResult = done.value
            return result
        say(step.message)


def measure(
    model: str,
    batch_size: int = 16,
    min_seconds: float = 1.0,
    reference: ClipEncoder | None = None,
) -> Generator[Progress, None, FastPathResult]:
    """`calibrate` as a job: one Progress per precision measured; returns the result (so a
    front end can run it in the background, after the work the user asked for)."""
    total = 1 + len(CANDIDATES)
    fp32 = reference
    if fp32 is None:
        yield Progress(JOB, 0, total, message="loading the model in fp32 ...")
        fp32 = ClipEncoder(model, device="cpu", batch_size=batch_size)
    if fp32.device != "cpu" or fp32.precision != "fp32":
        raise ValueError("the CPU fast path is measured against an fp32 encoder on the CPU")
    batch = np.stack([fp32.preprocess(im)
                      for im in calibration_images(batch_size, fp32.image_size)])
    yield Progress(JOB, 0, total, message="measuring fp32 ...")
    fp32_rate = images_per_second(fp32, batch, min_seconds)
    ref = fp32.encode_images(batch)
    rates: dict[str, float] = {}
    cosines: dict[str, float] = {}
    for n, name in enumerate(CANDIDATES, start=1):
        yield Progress(JOB, n, total, message=f"measuring {name} ...")
        cand: ClipEncoder | None = None
        try:
            cand = fp32.at_precision(name)
            rates[name] = images_per_second(cand, batch, min_seconds)
            cosines[name] = float(np.min(np.sum(ref * cand.encode_images(batch), axis=1)))
        except Exception as exc:  # an unsupported kernel on this CPU rules the candidate out
            log.warning("CPU fast path %s unavailable: %s", name, exc)
        finally:
            cand = None  # free the copy before the next one is loaded
    qualified = [n for n in rates
                 if cosines[n] >= MIN_COSINE and rates[n] >= MIN_SPEEDUP * fp32_rate]
    choice = max(qualified, key=lambda n: rates[n]) if qualified else "fp32"
    result = FastPathResult(choice, fp32_rate, rates, cosines)
    log.info("CPU fast path: %s (fp32 %.1f img/s; %s)", choice, fp32_rate,
             ", ".join(f"{n} {rates[n]:.1f} img/s cos {cosines[n]:.4f}" for n in rates))
    yield Progress(JOB, total, total, finished=True, message=result.summary)
    return result
