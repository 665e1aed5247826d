"""`photoclip bench`: a cold text query, torch against the ONNX text tower, in one run.

A cold query is what a user waits for after typing `photoclip search "a dog"`: a fresh
interpreter, imports, the model (or its exported text tower), the catalog and the vectors. Each
figure is the wall time of a real `photoclip search` in a subprocess against a small library
indexed here; the runs alternate (torch, ONNX, bare import) so drift in the machine's speed
falls on all three alike, and the report is the medians and their ratios.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import photoclip
from photoclip.core.encoder.clip import ENV_TEXT_ONNX
from photoclip.core.library import Library

COLD_PHOTOS = 4
COLD_RUNS = 3


def _small_photos(folder: Path, n: int) -> None:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.new("RGB", (320, 240), (40 * i % 256, 200 - 30 * i, 90)).save(folder / f"{i}.jpg")


def _wall(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600,
                          check=False)
    took = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"cold query failed ({' '.join(argv[2:])}): {proc.stderr.strip()}")
    return took


def cold_query_figures(model: str, device: str, tmp: Path, runs: int = COLD_RUNS) -> dict[str, Any]:
    """Cold `photoclip search` wall times: torch only, with the ONNX text tower, and a bare
    `import photoclip`, medians of `runs` alternating runs, with their ratios."""
    lib_dir = tmp / "cold-lib"
    _small_photos(tmp / "cold-photos", COLD_PHOTOS)
    lib = Library(lib_dir, model=model, device=device)
    try:
        lib.add_roots([str(tmp / "cold-photos")])
        # loads the model, which exports its text tower
        for _ in lib.indexer(read_text=False).run():
            pass
    finally:
        lib.close()
    exported = any((lib_dir / "text-onnx").glob("*/text.onnx"))

    package_parent = str(Path(photoclip.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (package_parent, os.environ.get("PYTHONPATH", "")) if p)}
    torch_env = {**env, ENV_TEXT_ONNX: "0"}
    search = [sys.executable, "-m", "photoclip", "--library", str(lib_dir), "search"]
    bare = [sys.executable, "-c", "import photoclip.cli"]
    times: dict[str, list[float]] = {"torch": [], "onnx": [], "import": []}
    for i in range(runs):
        times["torch"].append(_wall([*search, f"a dog on a beach {i}", "--json"], torch_env))
        times["onnx"].append(_wall([*search, f"a dog on a beach {i}", "--json"], env))
        times["import"].append(_wall(bare, env))
    med = {k: statistics.median(v) for k, v in times.items()}
    return {
        "cold_query_torch_s": round(med["torch"], 3),
        "cold_query_onnx_s": round(med["onnx"], 3),
        "cold_import_s": round(med["import"], 3),
        "cold_query_torch_vs_onnx": round(med["torch"] / med["onnx"], 2),
        "cold_query_onnx_vs_import": round(med["onnx"] / med["import"], 2),
        "cold_query_onnx_exported": exported,
        "cold_query_runs": runs,
    }
