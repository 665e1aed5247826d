"""Decode threads the indexer can walk away from, so no one file can stall a run.

Each file gets DECODE_TIMEOUT_S to be read and decoded, counted from when a thread picks it up;
after that it is recorded as failed and the run moves on.
"""

from __future__ import annotations

import functools
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future

from photoclip.core.cpugate import CpuGate
from photoclip.core.decodeguard import reporting_budget_waits
from photoclip.core.indexing.decode import FileTask, Prepared

log = logging.getLogger(__name__)

# The longest one file may take to read and decode before it is recorded as failed and the run
# moves on. A 100-MP PNG decodes in ~3 s on one slow core; 10x that is pathological.
DECODE_TIMEOUT_S = 30.0
# Decodes abandoned after the timeout that may still be running at once (each holds a thread
# and up to one image's memory). More stuck than this means the disk, not a file, has stopped
# answering (a hung network mount): the run stops instead of piling up threads.
MAX_STUCK_DECODES = 4


class DecodePool:
    """Decode threads the indexer can walk away from.

    A Python thread cannot be stopped, so a decode that overruns its time is abandoned: the
    indexer records the file as failed and moves on, and a new thread takes the stuck one's
    place, so throughput holds. The stuck thread finishes its decode in the background (its
    result is dropped) and then retires. At most `max_stuck` may be out at once. The threads are
    daemons: one stuck for good (a hung network mount) cannot keep the program from exiting,
    which a concurrent.futures pool would (its threads are joined at exit).
    """

    def __init__(self, workers: int, max_stuck: int, timeout: float = DECODE_TIMEOUT_S,
                 gate: CpuGate | None = None) -> None:
        self.timeout = timeout  # <= 0: no limit
        self._gate = gate or CpuGate()
        self._jobs: queue.SimpleQueue[
            tuple[Future[Prepared], Callable[[FileTask], Prepared], FileTask] | None] = (
            queue.SimpleQueue())
        self._lock = threading.Lock()
        self._max_stuck = max_stuck
        self._running: dict[Future[Prepared], tuple[float, threading.Thread]] = {}
        # Files waiting for room in the decode memory budget, with the time their clock had
        # run before: waiting for memory is not a slow decode, so their clock stops meanwhile.
        self._paused: dict[Future[Prepared], float] = {}
        self._stuck: set[Future[Prepared]] = set()  # their threads end when they come back
        self._threads: set[threading.Thread] = set()
        for _ in range(max(1, workers)):
            self._spawn()

    def submit(self, fn: Callable[[FileTask], Prepared], task: FileTask) -> Future[Prepared]:
        fut: Future[Prepared] = Future()
        self._jobs.put((fut, fn, task))
        return fut

    def started_at(self, fut: Future[Prepared]) -> float | None:
        """When a thread picked `fut` up (time.monotonic), or None if it has not (yet)."""
        with self._lock:
            entry = self._running.get(fut)
            if fut in self._paused:
                return None  # waiting for memory: its clock is stopped
        return None if entry is None else entry[0]

    def abandon(self, fut: Future[Prepared]) -> bool | None:
        """Stop counting on a running `fut` and start a stand-in for its thread: True. False
        when `max_stuck` decodes were stuck already (no stand-in: time to stop); None if it
        has just finished after all."""
        with self._lock:
            if fut not in self._running:
                return None
            room = len(self._stuck) < self._max_stuck
            self._stuck.add(fut)  # either way, close() must not wait for it
        if room:
            self._spawn()
        return room

    def result(self, fut: Future[Prepared], task: FileTask) -> Prepared | None:
        """The file's result, or a failure once its decode has run `timeout`; None when too
        many decodes are stuck to go on. The clock starts when a thread picks the file up,
        not while it waits in line, so a file never pays for the ones before it."""
        if self.timeout <= 0:  # no limit
            return fut.result()
        while True:
            began = self.started_at(fut)
            wait = self.timeout if began is None else began + self.timeout - time.monotonic()
            try:
                return fut.result(timeout=max(wait, 0.0))
            except TimeoutError:
                pass
            began = self.started_at(fut)
            if began is None or time.monotonic() - began < self.timeout:
                continue  # it was still waiting for a thread: its own clock has not run out
            verdict = self.abandon(fut)
            if verdict is None:
                continue  # it finished after all
            if not verdict:
                return None
            log.warning("gave up on %s: reading and decoding took longer than %g s",
                        task.path, self.timeout)
            return Prepared(task, size=task.size, mtime_ns=task.mtime_ns,
                            error=f"decode took longer than {self.timeout:g} s")

    def close(self, timeout: float) -> None:
        """Let the threads end once the queue is drained; wait (up to `timeout`) for those busy
        with a decode nobody gave up on, so no thumbnail is written after a run returns."""
        with self._lock:
            threads = list(self._threads)
            stuck = {self._running[f][1] for f in self._stuck if f in self._running}
        for _ in threads:
            self._jobs.put(None)
        deadline = time.monotonic() + timeout
        for thread in threads:
            if thread not in stuck:
                thread.join(max(0.0, deadline - time.monotonic()))

    def _pause(self, fut: Future[Prepared], waiting: bool) -> None:
        """Stop `fut`'s clock while it waits for memory; start it again where it was."""
        now = time.monotonic()
        with self._lock:
            entry = self._running.get(fut)
            if entry is None:
                return
            if waiting:
                self._paused[fut] = now - entry[0]
            else:
                self._running[fut] = (now - self._paused.pop(fut, 0.0), entry[1])

    def _spawn(self) -> None:
        thread = threading.Thread(target=self._work, name="decode", daemon=True)
        with self._lock:
            self._threads.add(thread)
        thread.start()

    def _work(self) -> None:
        me = threading.current_thread()
        while True:
            item = self._jobs.get()
            if item is None:
                break
            fut, fn, task = item
            # The model's turn on the CPU is not this file's time: its clock starts after.
            with self._gate.shared():
                if not fut.set_running_or_notify_cancel():
                    continue  # cancelled while it waited
                with self._lock:
                    self._running[fut] = (time.monotonic(), me)
                try:
                    with reporting_budget_waits(functools.partial(self._pause, fut)):
                        result = fn(task)
                except BaseException as exc:
                    fut.set_exception(exc)
                else:
                    fut.set_result(result)
            with self._lock:
                del self._running[fut]
                self._paused.pop(fut, None)
                if fut in self._stuck:
                    self._stuck.discard(fut)
                    break  # a stand-in has taken this thread's place
        with self._lock:
            self._threads.discard(me)
