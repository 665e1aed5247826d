"""A first run downloads the model from the Hugging Face hub and says how far it got.

No network here, so the hub is faked one level below huggingface_hub's snapshot_download: its
API calls (repo info, file list) and its per-file download, which copies the tiny CLIP's files
into the cache in chunks and drives the progress bars snapshot_download hands it, as the real
one does. snapshot_download itself (patterns, cache layout, bar aggregation, offline fallback)
is the real thing, so this proves the encoder's use of it.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from photoclip.core.encoder import ClipEncoder, report_downloads
from photoclip.core.errors import ModelLoadError
from photoclip.core.library import Library

REPO = "photoclip-tests/tiny-clip"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
CHUNK = 1 << 20
# Listed by the fake repo like the other weight formats real CLIP repos carry; never needed.
UNWANTED = {"pytorch_model.bin": 3 * CHUNK, "flax_model.msgpack": 2 * CHUNK, "README.md": 10}


class FakeHub:
    def __init__(self, model_dir: Path) -> None:
        self.files = {p.name: p for p in model_dir.iterdir() if p.is_file()}
        self.online = True
        self.fetched: list[str] = []
        self.gate: threading.Event | None = None  # set: the weights download waits on it
        self.waiting = threading.Event()

    def size(self, name: str) -> int:
        return self.files[name].stat().st_size if name in self.files else UNWANTED[name]

    def api(self, **_: Any) -> SimpleNamespace:
        from huggingface_hub.hf_api import RepoFile
        from huggingface_hub.utils import OfflineModeIsEnabled

        def repo_info(repo_id: str, **_: Any) -> SimpleNamespace:
            if not self.online or repo_id != REPO:
                raise OfflineModeIsEnabled("no network in tests")
            return SimpleNamespace(sha=COMMIT)

        def list_repo_tree(repo_id: str, **_: Any) -> list[Any]:
            return [RepoFile(path=n, size=self.size(n), oid=f"{n:0>40}"[:40])
                    for n in [*self.files, *UNWANTED]]

        return SimpleNamespace(repo_info=repo_info, list_repo_tree=list_repo_tree)

    def download(self, repo_id: str, *, filename: str, cache_dir: str, revision: str,
                 tqdm_class: Any = None, **_: Any) -> str:
        from huggingface_hub.file_download import repo_folder_name

        target = (Path(cache_dir) / repo_folder_name(repo_id=repo_id, repo_type="model")
                  / "snapshots" / revision / filename)
        if target.exists():
            return str(target)  # cached: the real one returns without touching its bar
        self.fetched.append(filename)
        data = self.files[filename].read_bytes()
        target.parent.mkdir(parents=True, exist_ok=True)
        bar = tqdm_class(total=len(data), initial=0, unit="B", desc=filename)
        partial = target.with_suffix(".incomplete")
        with partial.open("wb") as out:
            for start in range(0, len(data), CHUNK):
                out.write(data[start : start + CHUNK])
                bar.update(len(data[start : start + CHUNK]))
                bar.update_transfer(len(data[start : start + CHUNK]))
                if self.gate is not None and filename.endswith(".safetensors"):
                    self.waiting.set()
                    self.gate.wait(timeout=60)  # the test looks at the window meanwhile
        bar.close()
        partial.rename(target)
        return str(target)


@pytest.fixture
def hub(tiny_clip_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeHub:
    import huggingface_hub._snapshot_download as snap
    from huggingface_hub import constants

    fake = FakeHub(tiny_clip_dir)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setattr(snap, "HfApi", fake.api)
    monkeypatch.setattr(snap, "hf_hub_download", fake.download)
    return fake


def _recorder() -> tuple[list[tuple[int, int]], Any]:
    seen: list[tuple[int, int]] = []
    lock = threading.Lock()

    def record(done: int, total: int) -> None:
        with lock:
            seen.append((done, total))

    return seen, record


def test_first_load_downloads_only_what_the_model_needs_and_reports_bytes(hub, tiny_encoder):
    seen, record = _recorder()
    encoder = ClipEncoder(REPO, device="cpu", download_progress=record)
    encoder.load()

    assert encoder.model_id == REPO  # embeddings stay keyed by the hub id, not the cache path
    assert "model.safetensors" in hub.fetched
    assert not set(UNWANTED) & set(hub.fetched)  # no second copy of the weights, no README
    expected = sum(hub.size(n) for n in hub.fetched)
    assert len(seen) > 3  # the weights arrive in several chunks, each one reported
    assert seen == sorted(seen)
    assert len(set(seen)) == len(seen)
    assert [t for _, t in seen] == sorted(t for _, t in seen)  # the total grows as files start
    assert all(0 < d <= t for d, t in seen)
    assert seen[-1] == (expected, expected)
    # It is the same model as the folder it was "uploaded" from.
    texts = ["a photo of a cat", "a dog"]
    np.testing.assert_allclose(encoder.encode_texts(texts), tiny_encoder.encode_texts(texts),
                               atol=1e-6)


def test_a_cached_model_loads_without_downloading_online_or_offline(hub):
    ClipEncoder(REPO, device="cpu").load()
    hub.fetched.clear()
    seen, record = _recorder()
    ClipEncoder(REPO, device="cpu", download_progress=record).load()
    hub.online = False
    ClipEncoder(REPO, device="cpu", download_progress=record).load()
    assert hub.fetched == []
    assert seen == []


def test_offline_and_not_cached_is_the_clear_error(hub):
    hub.online = False
    seen, record = _recorder()
    with pytest.raises(ModelLoadError) as info:
        ClipEncoder(REPO, device="cpu", download_progress=record).load()
    message = str(info.value)
    assert REPO in message
    assert "--model" in message
    assert "\n" not in message
    assert seen == []


def test_report_downloads_reaches_an_encoder_the_library_creates(hub):
    seen, record = _recorder()
    library = Library(model=REPO)
    try:
        with report_downloads(record):
            assert library.encoder.dim == 32  # loads it
    finally:
        library.close()
    assert seen
    assert seen[-1][0] == seen[-1][1] > 0


def test_the_window_says_downloading_with_megabytes(qtbot, hub):
    from photoclip.gui.main_window import MainWindow

    hub.gate = threading.Event()
    win = MainWindow(library=Library(model=REPO))
    qtbot.addWidget(win)
    win.show()
    try:
        qtbot.waitUntil(lambda: "Downloading" in win.state_label.text(), timeout=60_000)
        text = win.state_label.text()
        assert REPO in text
        assert re.search(r"\d+(\.\d)?/\d+(\.\d)? MB", text), text
        assert win.progress_bar.isVisible()
    finally:
        with qtbot.waitSignal(win.model_ready, timeout=60_000):
            hub.gate.set()
    assert "Downloading" not in win.state_label.text()  # ready, then on to the folders
