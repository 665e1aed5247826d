"""The text pass as it runs by itself (after indexing, beside the watcher) and fenced off from
a recogniser that crashes or hangs on a hostile photo (a child process, core/ocr/worker.py)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from ocr_fakes import BLANK, CRASH, HANG
from PIL import Image

from photoclip.core.library import Library
from photoclip.core.ocr import OcrJob, TextStore
from photoclip.core.ocr.worker import IsolatedReader

GREEN = (10, 200, 10)
FAKE = "ocr_fakes:hostile"


def _photos(folder: Path, colours: dict[str, tuple[int, int, int]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, colour in colours.items():
        Image.new("RGB", (64, 48), colour).save(folder / f"{name}.png")
    return folder


def _library(tmp_path: Path, tiny_clip_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Library:
    monkeypatch.setattr("photoclip.core.ocr.door.available", lambda: True)
    lib = Library(tmp_path / "lib", model=str(tiny_clip_dir), device="cpu")
    lib.ocr.factory = FAKE
    lib.ocr.timeout_s = 5.0
    return lib


def _states(lib: Library) -> dict[str, tuple[str, str | None]]:
    """photo file name -> (state, reason) of its text."""
    store = TextStore(lib.catalog)
    out = {}
    for p in lib.catalog.browse():
        got = store.get(p.hash or "")
        if got is not None:
            out[Path(p.path).stem] = (got.state, got.error)
    return out


def test_a_crash_or_hang_in_the_runtime_costs_one_photo_not_the_app(tmp_path):
    """A photo on which the native runtime aborts, and one on which it never answers, are
    each recorded as failed with the reason; the photos after them are still read."""
    reader = IsolatedReader(FAKE, timeout_s=5.0)
    files = _photos(tmp_path / "p", {"a_crash": CRASH, "b_fine": GREEN, "c_hang": HANG,
                                    "d_blank": BLANK})
    try:
        crash = files / "a_crash.png"
        with pytest.raises(Exception, match=r"text reader crashed \(killed by SIGABRT\)"):
            reader.read_photo(str(crash), True)
        state, lines = reader.read_photo(str(files / "b_fine.png"), True)
        assert (state, [ln.text for ln in lines]) == ("text", ["colour 10-200-10"])
        with pytest.raises(Exception, match="text reader hung"):
            reader.read_photo(str(files / "c_hang.png"), True)
        assert reader.read_photo(str(files / "d_blank.png"), True) == ("none", [])
        assert reader.restarts == 2
    finally:
        reader.close()


def test_the_pass_records_hostile_photos_once_and_goes_on(tmp_path, tiny_clip_dir,
                                                          monkeypatch):
    lib = _library(tmp_path, tiny_clip_dir, monkeypatch)
    with lib:
        lib.add_roots([str(_photos(tmp_path / "p", {"a": CRASH, "b": GREEN, "c": HANG}))])
        for _ in lib.indexer(read_text=False).run():
            pass
        job = OcrJob(lib.catalog, lib.ocr.reader)
        for _ in job.run():
            pass
        states = _states(lib)
        assert states["b"] == ("text", None)
        assert states["a"][0] == "failed"
        assert "crashed" in (states["a"][1] or "")
        assert states["c"][0] == "failed"
        assert "hung" in (states["c"][1] or "")
        again = OcrJob(lib.catalog, lib.ocr.reader)
        assert again.pending() == []  # each failure recorded once, not retried every pass


@pytest.mark.usefixtures("ocr_on")
def test_indexing_reads_text_after_embedding_when_the_setting_is_on(tmp_path, tiny_clip_dir,
                                                                    monkeypatch):
    lib = _library(tmp_path, tiny_clip_dir, monkeypatch)
    with lib:
        assert lib.settings.ocr is True  # a user's new library reads text
        lib.add_roots([str(_photos(tmp_path / "p", {"g": GREEN, "w": BLANK}))])
        jobs = [p.job for p in lib.indexer().run()]
        # Embedding first, then the text pass, in the one progress stream `add` shows.
        assert jobs.index("ocr") > max(i for i, j in enumerate(jobs) if j == "index")
        assert _states(lib) == {"g": ("text", None), "w": ("none", None)}
        hits = lib.searcher().search('text:"colour 10-200"', top=5)
        assert [Path(h.path).stem for h in hits] == ["g"]


def test_with_the_setting_off_nothing_is_read(tmp_path, tiny_clip_dir, monkeypatch):
    lib = _library(tmp_path, tiny_clip_dir, monkeypatch)  # the suite's default: off
    with lib:
        assert lib.settings.ocr is False
        lib.add_roots([str(_photos(tmp_path / "p", {"g": GREEN}))])
        assert "ocr" not in {p.job for p in lib.indexer().run()}
        assert _states(lib) == {}


@pytest.mark.usefixtures("ocr_on")
def test_while_watching_new_photos_are_read_once_the_indexer_is_idle(tmp_path, tiny_clip_dir,
                                                                     monkeypatch):
    lib = _library(tmp_path, tiny_clip_dir, monkeypatch)
    folder = _photos(tmp_path / "p", {"first": GREEN})
    with lib:
        lib.add_roots([str(folder)])
        watcher = lib.watcher(polling=True, poll_interval_s=0.2)
        follower = lib.ocr.follower
        assert follower is not None
        seen: list[str] = []
        read = threading.Event()

        def heard(p):
            seen.append(p.message)
            if p.finished and "second" in _states(lib):
                read.set()

        follower.listen(heard)
        stop = threading.Event()
        events = []

        def watch() -> None:
            for p in watcher.run(stop):
                events.append(p)
                if p.job == "watch" and p.extra.get("event") == "catch-up":
                    _photos(folder, {"second": (10, 150, 150)})

        thread = threading.Thread(target=watch, daemon=True)
        thread.start()
        try:
            assert read.wait(60), seen
        finally:
            stop.set()
            thread.join(30)
        states = _states(lib)
        assert states["first"] == ("text", None)
        assert states["second"] == ("text", None)
        assert any(m.startswith("reading text") for m in seen)


def test_stored_boxes_are_in_the_photos_own_pixels(tmp_path):
    """The reader decodes a large photo reduced; the boxes it returns are scaled back to the
    photo's pixels, so the preview can draw them over any size it shows."""
    from ocr_fakes import hostile

    from photoclip.core.ocr.worker import read_photo

    path = tmp_path / "big.jpg"
    Image.new("RGB", (4000, 3000), GREEN).save(path, quality=90)
    state, lines = read_photo(hostile(), str(path), skip=True)
    assert state == "text"
    xs = [x for x, _ in lines[0].box]
    # The fake's box is (1..20) in the image it was handed, a 2000x1500 draft decode.
    assert max(xs) == 40
