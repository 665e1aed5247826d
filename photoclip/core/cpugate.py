"""Taking turns on the CPU: decoders share it, the model has it to itself.

On a CPU-only machine the decode workers and torch's intra-op threads run on the same cores.
Overlapping them does not add throughput (the total work is the same) but costs a lot of it:
torch splits each layer across all cores and waits at a barrier for the slowest thread, so a
single decode thread holding a core makes every layer of the batch wait for it. The index
pipeline therefore takes turns: decodes run side by side (one per core), and a model call
waits for the decodes in flight to finish, keeps new ones from starting, and runs alone.

That is a readers-writer lock with the writer preferred. On a GPU the model does not use the
cores, so the indexer does not take the exclusive side there.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


class CpuGate:
    """`patience_s`: how long a model call waits for the decodes in flight. A decode still
    running after that (a pathological file the indexer has given up on) is left to run
    beside the model, and later model calls do not wait for it again."""

    def __init__(self, patience_s: float = 1.0) -> None:
        self.patience_s = patience_s
        self._cond = threading.Condition()
        self._active: set[int] = set()
        self._stale: set[int] = set()
        self._next = 0
        self._exclusive = False
        self._waiting = 0  # exclusive callers waiting: new shared users hold back for them

    @contextmanager
    def shared(self) -> Iterator[None]:
        with self._cond:
            while self._exclusive or self._waiting:
                self._cond.wait()
            self._next += 1
            token = self._next
            self._active.add(token)
        try:
            yield
        finally:
            with self._cond:
                self._active.discard(token)
                self._stale.discard(token)
                self._cond.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._cond:
            self._waiting += 1
            try:
                deadline = time.monotonic() + self.patience_s
                while True:
                    if self._exclusive:
                        self._cond.wait()
                        continue
                    if not self._active - self._stale:
                        break
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        self._stale |= self._active
                        break
                    self._cond.wait(remaining)
            finally:
                self._waiting -= 1
            self._exclusive = True
        try:
            yield
        finally:
            with self._cond:
                self._exclusive = False
                self._cond.notify_all()
