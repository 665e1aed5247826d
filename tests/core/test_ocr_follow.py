"""The text pass beside the watcher (core/ocr/follow.py): it waits for the indexer, gives way
to it between photos and goes on later, and follows the setting being turned on and off."""

from __future__ import annotations

import threading
import time

from photoclip.core.ocr.follow import TextFollower
from photoclip.core.types import Progress


class Pass:
    """A text pass over a shared to-do list: each step reads one photo."""

    def __init__(self, todo: list[str], done: list[str], step: threading.Event | None = None):
        self.todo, self.done, self.step = todo, done, step

    def run(self, cancel=None):
        total = len(self.todo)
        yield Progress("ocr", 0, total, message=f"reading text 0/{total}")
        i = 0
        while self.todo:
            if cancel is not None and cancel.is_set():
                return
            if self.step is not None:
                self.step.wait(10)
                self.step.clear()
            self.done.append(self.todo.pop(0))
            i += 1
            yield Progress("ocr", i, total, message=f"reading text {i}/{total}")
        yield Progress("ocr", i, total, finished=True, message="done")


def _wait(predicate, timeout=20.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_it_waits_for_the_indexer_and_gives_way_between_photos():
    todo, done = ["a", "b", "c", "d"], []
    busy = threading.Event()
    busy.set()
    step = threading.Event()
    heard: list[Progress] = []
    follower = TextFollower(lambda: Pass(todo, done, step) if todo else None,
                            busy=busy.is_set)
    follower.listen(heard.append)
    try:
        follower.poke()
        time.sleep(0.7)
        assert done == []  # the indexer is busy: nothing read yet
        busy.clear()
        step.set()
        assert _wait(lambda: done == ["a"])
        busy.set()  # a batch arrives: it stops after the photo in hand
        step.set()
        assert _wait(lambda: any(p.extra.get("waiting") for p in heard))
        stopped_at = list(done)
        assert len(stopped_at) <= 2
        busy.clear()
        while not _wait(lambda: not todo, timeout=0.2):
            step.set()
        assert done == ["a", "b", "c", "d"]  # each read once, in order, none skipped
        assert _wait(lambda: follower.passes >= 1)
    finally:
        follower.stop()


def test_turning_it_off_stops_the_pass_and_on_starts_it_without_new_photos():
    todo, done = ["a", "b", "c"], []
    on = threading.Event()
    step = threading.Event()
    follower = TextFollower(lambda: Pass(todo, done, step) if on.is_set() and todo else None,
                            enabled=on.is_set)
    try:
        follower.poke()
        time.sleep(0.5)
        assert done == []
        on.set()  # the window's Settings: nothing pokes it, it notices by itself
        step.set()
        assert _wait(lambda: done == ["a"])
        on.clear()
        step.set()
        time.sleep(0.5)
        step.set()
        time.sleep(0.5)
        assert len(done) <= 2  # off: it stopped after the photo in hand
    finally:
        follower.stop()
