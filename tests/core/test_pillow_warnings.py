"""Pillow's warnings about odd files go to the log, not to stderr: `add --json` over a folder of
odd TIFFs prints JSON and nothing else (Pillow's own test images gave 466 warning lines)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from photoclip.core import decodeguard
from photoclip.core.indexing.decode import FileTask, prepare

REPO = Path(__file__).resolve().parents[2]


def _odd_tiff(path: Path) -> None:
    """A TIFF whose Orientation tag holds two values: reading it, Pillow warns "Metadata
    Warning, tag 274 had too many entries" and decodes it."""
    Image.new("RGB", (80, 60), (200, 40, 40)).save(path, exif={274: 1})
    data = path.read_bytes()
    entry = b"\x12\x01\x03\x00\x01\x00\x00\x00"  # tag 274, SHORT, count 1 (little-endian)
    assert data.count(entry) == 1
    path.write_bytes(data.replace(entry, b"\x12\x01\x03\x00\x02\x00\x00\x00"))


def test_a_pillow_warning_is_logged_with_the_file_it_is_about(tmp_path, tiny_encoder, caplog):
    path = tmp_path / "odd.tif"
    _odd_tiff(path)
    shown: list[str] = []
    with warnings.catch_warnings():
        # pytest records warnings (and this suite makes them errors): show them instead, as a
        # user's Python does, through the route photoclip installs over what was there.
        warnings.simplefilter("always")
        warnings.showwarning = lambda message, *_: shown.append(str(message))
        decodeguard.route_pillow_warnings()
        with caplog.at_level(logging.INFO, logger="photoclip.core.decodeguard"):
            res = prepare(FileTask(1, str(path), None), tiny_encoder)
            warnings.warn("not Pillow's", UserWarning, stacklevel=1)
    assert res.error is None
    assert res.width == 80
    logged = [r.getMessage() for r in caplog.records if r.name == "photoclip.core.decodeguard"]
    assert any(str(path) in m and "tag 274 had too many entries" in m for m in logged), logged
    assert shown == ["not Pillow's"]  # every other warning is shown as before


def _damaged_lzw_tiff(path: Path) -> None:
    """An LZW TIFF whose compressed data is garbage: libtiff says so on stderr, from C."""
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(
        path, compression="tiff_lzw")
    data = bytearray(path.read_bytes())
    for i in range(16, 400):
        data[i] ^= 0x5A
    path.write_bytes(bytes(data))


def test_add_json_prints_no_pillow_warnings(tmp_path, tiny_clip_dir):
    root = tmp_path / "photos"
    root.mkdir()
    for i in range(3):
        _odd_tiff(root / f"odd{i}.tif")
    _damaged_lzw_tiff(root / "damaged.tif")
    env = {**os.environ, "PYTHONPATH": str(REPO), "PHOTOCLIP_LIBRARY": str(tmp_path / "lib")}
    env.pop("PYTHONWARNINGS", None)
    proc = subprocess.run(
        [sys.executable, "-m", "photoclip", "add", str(root), "--model", str(tiny_clip_dir),
         "--json"], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert (summary["indexed"], summary["failed"]) == (3, 1)
    assert proc.stderr == "", proc.stderr  # no Pillow warning, no libtiff error
