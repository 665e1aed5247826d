"""`make gpu-check` (issue 23): on a machine without CUDA it measures nothing, says why and
fails; the report says the same."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _no_cuda_env() -> dict[str, str]:
    # Hidden GPUs: the same answer on a machine that has one.
    return {**os.environ, "CUDA_VISIBLE_DEVICES": "", "PYTHONPATH": str(ROOT)}


def test_gpu_check_without_cuda_says_so_and_exits_2(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    proc = subprocess.run([sys.executable, str(ROOT / "installer" / "gpu_check.py"), "--out",
                           str(out)], env=_no_cuda_env(), capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 2, proc.stderr
    assert "no CUDA device" in proc.stderr
    assert "nothing was measured" in proc.stderr
    report = json.loads(out.read_text())
    assert report["cuda"] is False
    assert "bench" not in report


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_gpu_check_runs_the_script_with_the_projects_python(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    proc = subprocess.run(["make", "-s", "gpu-check", f"GPU_CHECK_OUT={out}",
                           f"PYTHON={sys.executable}", "BIN=/nonexistent"], cwd=ROOT,
                          env=_no_cuda_env(), capture_output=True, text=True, timeout=300,
                          check=False)
    assert proc.returncode != 0
    assert "no CUDA device" in proc.stderr
    assert json.loads(out.read_text())["cuda"] is False


def test_the_training_step_measurement_runs(tiny_clip_dir: Path) -> None:
    """The GPU run gets one chance: its steps are exercised here on the CPU (tiny model)."""
    sys.path.insert(0, str(ROOT / "installer"))
    try:
        import gpu_check
    finally:
        sys.path.remove(str(ROOT / "installer"))
    r = gpu_check.train_steps(tiny_clip_dir, timeout=30, device="cpu", batch=4)
    assert r["steps"] >= 1
    assert r["train_steps_per_s"] > 0
    if importlib.util.find_spec("torchvision") is None:  # not a dependency: said, not failed
        assert "torchvision is not installed" in gpu_check.gpu_decode([], 1)["skipped"]


def test_the_report_carries_the_bench_gpu_decode_figures() -> None:
    """The bench's GPU-decode figures land in the report's own entry; none: it says so."""
    sys.path.insert(0, str(ROOT / "installer"))
    try:
        import gpu_check
    finally:
        sys.path.remove(str(ROOT / "installer"))
    bench = {"model_only_images_per_s": 3000.0, "gpu_decode_images_per_s": 2500.0,
             "pipeline_gpu_decode_images_per_s": 2100.0,
             "pipeline_cpu_decode_images_per_s": 400.0, "pipeline_gpu_vs_cpu_decode": 5.25,
             "pipeline_gpu_decode_vs_ceiling": 0.84}
    got = gpu_check.gpu_decode_summary(bench)
    assert "model_only_images_per_s" not in got
    assert got["pipeline_gpu_decode_images_per_s"] == 2100.0
    assert got["pipeline_cpu_decode_images_per_s"] == 400.0
    assert got["gpu_decode_images_per_s"] == 2500.0
    skipped = gpu_check.gpu_decode_summary({"gpu_decode_skipped": "torchvision cannot load"})
    assert skipped == {"gpu_decode_skipped": "torchvision cannot load"}
    assert "skipped" in next(iter(gpu_check.gpu_decode_summary({"x": 1})))
