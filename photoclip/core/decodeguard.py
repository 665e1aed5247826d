"""What the decode threads share: how many decoded pixels the process holds at once
(PixelBudget), and where Pillow's warnings about odd files go (the log, not stderr).

imaging.DECODE_BUDGET is the budget the decoders share; the decode pool listens for waits on it
(reporting_budget_waits) so that waiting for memory does not count as a slow decode.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class PixelBudget:
    """Decoded pixels all decodes in the process may hold at once: a semaphore weighted by each
    image's pixel count (known from its header, before any pixel is decoded).

    The per-image limit alone lets N decode threads hold N large images (three 13,300-px
    squares took `add` to 1.9 GB); with the budget, large images take turns and small ones
    still decode side by side. An image larger than the whole budget waits until it can run
    alone. Turns are first come, first served, so a large image is not starved by small ones.

    A decode that has held its share for `patience_s` is not waited for any more: it is stuck
    (a hung network mount, a pathological file the indexer gives up on at about that time),
    and a stuck file must not stop every other decode. Not re-entrant: one hold per thread.
    """

    def __init__(self, capacity: int, patience_s: float = 30.0) -> None:
        self.capacity = capacity
        self.patience_s = patience_s
        self._cond = threading.Condition()
        self._held: dict[int, tuple[int, float]] = {}  # token -> (pixels, since)
        self._line: deque[int] = deque()  # tokens waiting for their turn, in order
        self._next = 0

    @contextmanager
    def hold(self, pixels: int) -> Iterator[None]:
        """Wait until `pixels` fit beside what the other decodes hold, hold them meanwhile."""
        pixels = max(0, pixels)
        waited = False
        with self._cond:
            self._next += 1
            token = self._next
            self._line.append(token)
            try:
                while True:
                    blocked_for = self._blocked_for(token, pixels)
                    if blocked_for is None:
                        break
                    if not waited:
                        waited = True
                        _report_wait(True)
                    self._cond.wait(blocked_for)
            finally:
                self._line.remove(token)
                self._cond.notify_all()  # the next in line may fit too
            self._held[token] = (pixels, time.monotonic())
        if waited:
            _report_wait(False)
        try:
            yield
        finally:
            with self._cond:
                del self._held[token]
                self._cond.notify_all()

    def in_use(self) -> int:
        """Pixels held now by decodes not yet given up on."""
        with self._cond:
            return self._live(time.monotonic())[0]

    def _live(self, now: float) -> tuple[int, float | None]:
        """(pixels held by decodes within their patience, seconds until the next of them runs
        out of it)."""
        live, soonest = 0, None
        for pixels, since in self._held.values():
            left = since + self.patience_s - now
            if left > 0:
                live += pixels
                soonest = left if soonest is None else min(soonest, left)
        return live, soonest

    def _blocked_for(self, token: int, pixels: int) -> float | None:
        """None when `token` may go now; else how long to wait before looking again."""
        live, soonest = self._live(time.monotonic())
        if self._line[0] == token and (live == 0 or live + pixels <= self.capacity):
            return None
        return soonest if soonest is not None else self.patience_s


_wait_listener = threading.local()


@contextmanager
def reporting_budget_waits(listener: Callable[[bool], None]) -> Iterator[None]:
    """While inside, this thread's waits for a PixelBudget call `listener(True)` when one
    starts and `listener(False)` when it ends (the decode pool stops a file's clock meanwhile:
    waiting for memory is not taking long to decode)."""
    previous = getattr(_wait_listener, "fn", None)
    _wait_listener.fn = listener
    try:
        yield
    finally:
        _wait_listener.fn = previous


def _report_wait(waiting: bool) -> None:
    listener = getattr(_wait_listener, "fn", None)
    if listener is not None:
        listener(waiting)
