"""Decoders share one memory budget: however many decode threads run, the decoded pixels held
at once stay within it (three photos just under the pixel limit took `add` to 1.9 GB when only
each image was bounded). Measured by counting what Pillow is decoding at each moment."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image, ImageFile

from photoclip.core import imaging
from photoclip.core.decodeguard import PixelBudget
from photoclip.core.indexing.decode import FileTask, Prepared
from photoclip.core.indexing.pool import DecodePool

SIDE = 1000  # each test image: 1,000,000 pixels


class LoadMeter:
    """Pixels inside Pillow's load() right now, and the most there ever were. Each load waits
    (briefly) for two more to join it, so that decodes that may overlap do."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.cond = threading.Condition()
        self.active = 0
        self.pixels = 0
        self.peak = 0
        self.loads = 0
        original = ImageFile.ImageFile.load
        meter = self

        def load(img: ImageFile.ImageFile) -> object:
            if not img.tile:  # decoded already: nothing to decode, nothing to count
                return original(img)
            n = img.size[0] * img.size[1]
            with meter.cond:
                meter.active += 1
                meter.loads += 1
                meter.pixels += n
                meter.peak = max(meter.peak, meter.pixels)
                meter.cond.notify_all()
                meter.cond.wait_for(lambda: meter.active >= 3, timeout=0.5)
            try:
                return original(img)
            finally:
                with meter.cond:
                    meter.active -= 1
                    meter.pixels -= n

        monkeypatch.setattr(ImageFile.ImageFile, "load", load)


@pytest.fixture
def big_pngs(tmp_path: Path) -> list[Path]:
    paths = []
    for i in range(6):
        path = tmp_path / f"big{i}.png"
        Image.new("RGB", (SIDE, SIDE), (i * 40, 90, 200)).save(path)
        paths.append(path)
    return paths


def _decode(task: FileTask) -> Prepared:
    decoded = imaging.decode(task.path, min_side=64)
    return Prepared(task, width=decoded.width, height=decoded.height)


def _run(paths: list[Path], workers: int = 4, timeout: float = 0) -> list[Prepared]:
    pool = DecodePool(workers, max_stuck=4, timeout=timeout)
    try:
        tasks = [FileTask(1, str(p), None) for p in paths]
        futures = [(pool.submit(_decode, t), t) for t in tasks]
        results = [pool.result(f, t) for f, t in futures]
    finally:
        pool.close(30)
    assert all(r is not None for r in results)
    return [r for r in results if r is not None]


def test_concurrent_decodes_stay_within_the_budget(monkeypatch, big_pngs):
    budget = PixelBudget(int(2.5 * SIDE * SIDE))  # room for two at once, not four
    monkeypatch.setattr(imaging, "DECODE_BUDGET", budget)
    meter = LoadMeter(monkeypatch)
    results = _run(big_pngs, workers=4)
    assert [(r.error, r.width) for r in results] == [(None, SIDE)] * len(big_pngs)
    assert meter.loads == len(big_pngs)
    assert meter.peak <= budget.capacity
    assert meter.peak == 2 * SIDE * SIDE  # and two did run side by side
    assert budget.in_use() == 0


def test_an_image_larger_than_the_whole_budget_runs_alone(monkeypatch, big_pngs):
    monkeypatch.setattr(imaging, "DECODE_BUDGET", PixelBudget(SIDE * SIDE // 2))
    meter = LoadMeter(monkeypatch)
    results = _run(big_pngs[:3], workers=3)
    assert [r.error for r in results] == [None] * 3
    assert meter.peak == SIDE * SIDE


def test_small_images_wait_their_turn_behind_a_large_one(monkeypatch):
    budget = PixelBudget(100)
    order: list[str] = []
    big_waiting = threading.Event()

    def take(name: str, pixels: int, hold: threading.Event | None = None) -> None:
        with budget.hold(pixels):
            order.append(name)
            if hold is not None:
                hold.wait(10)

    first_done = threading.Event()
    first = threading.Thread(target=take, args=("first", 60, first_done))
    first.start()
    while budget.in_use() != 60:
        time.sleep(0.001)
    big = threading.Thread(target=take, args=("big", 80))
    monkeypatch.setattr("photoclip.core.decodeguard._report_wait",
                        lambda waiting: big_waiting.set() if waiting else None)
    big.start()
    assert big_waiting.wait(10)
    small = threading.Thread(target=take, args=("small", 10))  # would fit beside "first"
    small.start()
    first_done.set()
    for t in (first, big, small):
        t.join(10)
    assert order == ["first", "big", "small"]  # first come, first served


def test_waiting_for_memory_is_not_counted_as_a_slow_decode(monkeypatch, big_pngs):
    budget = PixelBudget(SIDE * SIDE)
    monkeypatch.setattr(imaging, "DECODE_BUDGET", budget)
    pool = DecodePool(1, max_stuck=4, timeout=0.2)
    task = FileTask(1, str(big_pngs[0]), None)
    results: list[Prepared | None] = []
    try:
        with budget.hold(budget.capacity):  # someone else holds all of it, for a while
            fut = pool.submit(_decode, task)
            waiter = threading.Thread(target=lambda: results.append(pool.result(fut, task)))
            waiter.start()
            for _ in _until(lambda: fut.running() and pool.started_at(fut) is None):
                pass
            time.sleep(0.5)  # well past the decode timeout, all of it spent waiting
        waiter.join(30)
    finally:
        pool.close(30)
    assert len(results) == 1
    assert results[0] is not None
    assert results[0].error is None
    assert results[0].width == SIDE


def _until(ready: object) -> Iterator[None]:
    deadline = time.monotonic() + 10
    while not ready():  # type: ignore[operator]
        assert time.monotonic() < deadline, "never happened"
        time.sleep(0.005)
        yield
