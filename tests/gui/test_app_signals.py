"""The desktop app closes cleanly on SIGTERM and SIGINT: the window's own close runs (work is
cancelled, the library is closed) and the process exits 0, instead of dying with the catalog
open. Run as a real process, since the signal goes to the whole app."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
READY = "SIGTERM and SIGINT close the window"


def _lines(stream: object, into: queue.Queue[str]) -> None:
    for line in stream:  # type: ignore[attr-defined]
        into.put(line)
    into.put("")


@pytest.mark.slow
@pytest.mark.skipif(os.name != "posix", reason="POSIX signals")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_closes_the_window_and_the_catalog(tmp_path: Path, tiny_clip_dir: Path,
                                                     sig: signal.Signals) -> None:
    library = tmp_path / "lib"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "photoclip", "gui", "--library", str(library),
         "--model", str(tiny_clip_dir), "--debug"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_lines, args=(proc.stderr, lines), daemon=True).start()
    seen: list[str] = []
    try:
        while READY not in "".join(seen[-1:]):
            line = lines.get(timeout=120)
            assert line, "the app ended before it was up:\n" + "".join(seen)
            seen.append(line)
        assert (library / "catalog.sqlite3").exists()
        proc.send_signal(sig)
        code = proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        while (line := lines.get(timeout=10)) != "":
            seen.append(line)
        assert proc.stderr is not None
        proc.stderr.close()
    log = "".join(seen)
    assert code == 0, log
    assert f"{sig.name} received: closing the window" in log
    # SQLite removes the write-ahead log when the last connection closes cleanly.
    assert not (library / "catalog.sqlite3-wal").exists(), log
