"""The CPU gate: decodes share the cores, a model call has them alone, a stuck decode blocks
nothing for long."""

from __future__ import annotations

import random
import threading
import time

from photoclip.core.cpugate import CpuGate


def test_model_calls_never_overlap_decodes():
    gate = CpuGate(patience_s=30)
    state = {"decoding": 0, "model": 0, "overlaps": 0, "decodes": 0, "calls": 0}
    lock = threading.Lock()
    stop = threading.Event()

    def decoder(seed: int) -> None:
        rng = random.Random(seed)
        while not stop.is_set():
            with gate.shared():
                with lock:
                    state["decoding"] += 1
                    state["overlaps"] += state["model"]
                time.sleep(rng.uniform(0, 0.003))
                with lock:
                    state["decoding"] -= 1
                    state["decodes"] += 1

    threads = [threading.Thread(target=decoder, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    try:
        for _ in range(40):
            with gate.exclusive():
                with lock:
                    state["model"] += 1
                    state["overlaps"] += state["decoding"]
                time.sleep(0.002)
                with lock:
                    state["model"] -= 1
                    state["calls"] += 1
            time.sleep(0.001)
    finally:
        stop.set()
        for t in threads:
            t.join(10)
    assert state["calls"] == 40
    assert state["decodes"] > 40  # the decoders ran between model calls, side by side
    assert state["overlaps"] == 0


def test_a_stuck_decode_delays_the_model_once_then_never_again():
    gate = CpuGate(patience_s=0.05)
    release = threading.Event()
    entered = threading.Event()

    def stuck() -> None:
        with gate.shared():
            entered.set()
            release.wait(30)

    t = threading.Thread(target=stuck)
    t.start()
    assert entered.wait(5)
    finished = threading.Event()

    def model_calls() -> None:
        with gate.exclusive():
            pass
        gate.patience_s = 60.0  # were the stuck decode still waited for, this would hang
        with gate.exclusive():
            pass
        finished.set()

    m = threading.Thread(target=model_calls)
    m.start()
    try:
        assert finished.wait(10)
        # New decodes still run after the stuck one was given up on.
        with gate.shared():
            pass
    finally:
        release.set()
        t.join(10)
        m.join(10)
