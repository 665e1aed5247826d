"""`make gpu-check`: one prepared run on a machine with an NVIDIA GPU (issue 23), one JSON out.

Installs nothing: it uses the environment `make test` built. In one call of at most ~8 minutes:
  1. the CUDA-only tests (those named cuda/gpu in tests/core);
  2. `photoclip bench --device cuda --json` on a ViT-B/32-shaped CLIP with random weights (no
     weights can be downloaded there): model-only fp16 photos/s, the index pipeline with the
     CPU decoders feeding the GPU, text-query latency (quiet, beside a CPU hog, while
     indexing), the cold query (torch vs the ONNX text tower), and JPEGs decoded on the GPU
     (core/indexing/gpu_decode.py, bench_gpu.py): decode-only photos/s and the pipeline with
     GPU against CPU decoding, copied to the report's "gpu_decode_pipeline";
  3. a bare nvJPEG probe (torchvision.io.decode_jpeg on the GPU, resize on the GPU) in
     photos/s on the bench's 12-MP JPEGs: the decoder's own ceiling, beside the CPU decoders'
     figure from step 2;
  4. training steps/s of that model on the GPU (fp16 autocast, AdamW, CLIP's contrastive loss,
     synthetic batches): a microbenchmark of the step, not of core/training's data path.
Each step has its own time limit and its own entry in the report; one failing does not stop
the others. Without CUDA it says so and exits 2 (the report then says only that).
GPU decoding needs torchvision, the optional `gpu` extra, which this script does not install:
`pip install -e '.[gpu]'` before the run, or steps 2 and 3 record why it was skipped.

    python installer/gpu_check.py [--out gpu-check.json] [--budget-s 470]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
NO_CUDA = 2
BENCH_PHOTOS = 192  # 12-MP JPEGs per round: a second or two of a fast GPU each round
BENCH_VECTORS = 200_000
TRAIN_BATCH = 64
TRAIN_STEPS = 20


def cuda_status() -> tuple[bool, str]:
    """(usable, what was found) - torch's answer, with the reason when it is no."""
    try:
        import torch
    except ImportError as exc:
        return False, f"torch is not installed ({exc})"
    if not torch.cuda.is_available():
        build = torch.version.cuda or "none (a CPU-only torch build)"
        return False, (f"torch {torch.__version__} sees no CUDA device "
                       f"(torch's CUDA version: {build})")
    return True, f"{torch.cuda.get_device_name(0)} (torch {torch.__version__}, CUDA " \
                 f"{torch.version.cuda})"


def make_model(folder: Path) -> Path:
    """A ViT-B/32-shaped CLIP with random weights and the real CLIP tokenizer, saved like a
    downloaded model (the tests' recipe: the BPE file ships in the open_clip_torch wheel)."""
    import torch
    from transformers import (
        AutoTokenizer,
        CLIPConfig,
        CLIPImageProcessorPil,
        CLIPModel,
        CLIPTokenizer,
    )

    sys.path.insert(0, str(ROOT / "tests"))
    from conftest import CLIP_CONTEXT_LENGTH, write_clip_vocab

    spec = importlib.util.find_spec("open_clip")
    if spec is None or spec.origin is None:
        raise RuntimeError("open_clip_torch is not installed (make .venv/.installed-test)")
    raw = folder / "bpe"
    write_clip_vocab(Path(spec.origin).parent / "bpe_simple_vocab_16e6.txt.gz", raw)
    tokenizer = CLIPTokenizer.from_pretrained(str(raw), model_max_length=CLIP_CONTEXT_LENGTH)
    tokenizer.save_pretrained(str(folder / "tok"))
    torch.manual_seed(0)
    out = folder / "vit-b-32-random"
    CLIPModel(CLIPConfig()).eval().save_pretrained(str(out))
    AutoTokenizer.from_pretrained(str(folder / "tok")).save_pretrained(str(out))
    CLIPImageProcessorPil(size={"shortest_edge": 224},
                          crop_size={"height": 224, "width": 224}).save_pretrained(str(out))
    return out


def run_step(argv: list[str], timeout: float, env: dict[str, str]) -> dict[str, Any]:
    start = time.perf_counter()
    try:
        proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=max(5.0, timeout), check=False)
    except subprocess.TimeoutExpired as exc:
        tail = (exc.stderr or b"")[-2000:]
        return {"rc": None, "timed_out": True, "seconds": round(time.perf_counter() - start, 1),
                "stderr_tail": tail.decode(errors="replace") if isinstance(tail, bytes)
                else str(tail)}
    return {"rc": proc.returncode, "seconds": round(time.perf_counter() - start, 1),
            "stdout": proc.stdout, "stderr_tail": proc.stderr[-2000:]}


GPU_DECODE_PREFIXES = ("gpu_decode", "pipeline_gpu_", "pipeline_cpu_decode")


def gpu_decode_summary(bench: dict[str, Any]) -> dict[str, Any]:
    """The bench's GPU-decode figures (bench_gpu.py), or why there are none."""
    found = {k: v for k, v in bench.items() if k.startswith(GPU_DECODE_PREFIXES)}
    return found or {"gpu_decode_skipped": "bench gave no GPU-decode figures"}


def gpu_decode(photos: list[Path], timeout: float) -> dict[str, Any]:
    """nvJPEG decode + GPU resize to 224 px, photos/s, batches of 32, pinned host bytes."""
    if importlib.util.find_spec("torchvision") is None:
        return {"skipped": "torchvision is not installed (the optional `gpu` extra: "
                           "pip install -e '.[gpu]' before the run); GPU JPEG decoding is not "
                           "measured"}
    import torch
    import torch.nn.functional as F
    from torchvision.io import decode_jpeg, read_file

    datas = [read_file(str(p)).pin_memory() for p in photos]
    deadline = time.perf_counter() + timeout

    def one_pass() -> int:
        done = 0
        for s in range(0, len(datas), 32):
            images = decode_jpeg(datas[s : s + 32], device="cuda")
            for im in images:
                F.interpolate(im[None].float(), size=(224, 224), mode="bilinear",
                              antialias=True)
            done += len(images)
        torch.cuda.synchronize()
        return done

    one_pass()  # warm-up: nvJPEG handles, kernels
    start, n = time.perf_counter(), 0
    while time.perf_counter() < deadline and n < 3 * len(datas):
        n += one_pass()
    took = time.perf_counter() - start
    return {"gpu_decode_resize_images_per_s": round(n / took, 1), "photos": len(datas),
            "decoded": n}


def train_steps(model_dir: Path, timeout: float, device: str = "cuda",
                batch: int = TRAIN_BATCH) -> dict[str, Any]:
    """Optimiser steps per second (the tests run it on the CPU with the tiny model)."""
    import torch
    from transformers import CLIPModel

    model = CLIPModel.from_pretrained(str(model_dir)).to(device).train()
    side = int(model.config.vision_config.image_size)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5)
    pixels = torch.randn(batch, 3, side, side, device=device)
    ids = torch.randint(0, 49406, (batch, 16), device=device)
    labels = torch.arange(batch, device=device)
    cuda = device == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=cuda)

    def step() -> None:
        with torch.autocast(device, dtype=torch.float16 if cuda else torch.bfloat16,
                            enabled=cuda):
            out = model(input_ids=ids, pixel_values=pixels)
            logits = out.logits_per_image
            loss = (torch.nn.functional.cross_entropy(logits, labels)
                    + torch.nn.functional.cross_entropy(logits.t(), labels)) / 2
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()

    sync = torch.cuda.synchronize if cuda else (lambda: None)
    for _ in range(3):
        step()
    sync()
    deadline = time.perf_counter() + timeout
    start, n = time.perf_counter(), 0
    while n < TRAIN_STEPS and time.perf_counter() < deadline:
        step()
        n += 1
    sync()
    took = time.perf_counter() - start
    return {"train_steps_per_s": round(n / took, 2), "batch": batch, "steps": n,
            "images_per_s": round(n * batch / took, 1), "device": device,
            "peak_gpu_memory_mb": round(torch.cuda.max_memory_allocated() / 2**20)
            if cuda else None}


def guarded(report: dict[str, Any], key: str, fn: Any, *args: Any) -> None:
    try:
        report[key] = fn(*args)
    except Exception as exc:  # one step's failure is a finding, not the end of the run
        report[key] = {"error": f"{type(exc).__name__}: {exc}"}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="gpu-check.json", help="where the JSON report goes")
    ap.add_argument("--budget-s", type=float, default=470.0,
                    help="the whole run's time limit (default 470: under 8 minutes)")
    args = ap.parse_args(argv)
    start = time.perf_counter()
    out = Path(args.out)
    report: dict[str, Any] = {"host": platform.node(), "python": platform.python_version(),
                              "cpu_cores": os.cpu_count()}
    ok, found = cuda_status()
    report["cuda"] = ok
    report["cuda_device"] = found
    if not ok:
        report["error"] = "no CUDA device: nothing was measured"
        out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print(f"gpu-check: no CUDA device here: {found}. Run it on a machine with an NVIDIA "
              "GPU and the CUDA build of torch (make test installs it there); nothing was "
              f"measured (report: {out}).", file=sys.stderr)
        return NO_CUDA

    def left(share: float) -> float:
        return max(5.0, (args.budget_s - (time.perf_counter() - start)) * share)

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p),
        "QT_QPA_PLATFORM": "offscreen"}
    tests = run_step([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                      "tests/core", "-k", "cuda or gpu"], left(0.15), env)
    report["cuda_tests"] = {"rc": tests.get("rc"), "seconds": tests["seconds"],
                            "summary": (tests.get("stdout") or "").strip().splitlines()[-1:],
                            "timed_out": tests.get("timed_out", False)}

    with tempfile.TemporaryDirectory(prefix="photoclip-gpu-check-") as tmp_name:
        tmp = Path(tmp_name)
        try:
            model_dir = make_model(tmp)
        except Exception as exc:
            report["error"] = f"could not build the test model: {type(exc).__name__}: {exc}"
            out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
            print(f"gpu-check: {report['error']}", file=sys.stderr)
            return 1
        bench = run_step([sys.executable, "-m", "photoclip", "--library", str(tmp / "lib"),
                          "bench", "--model", str(model_dir), "--device", "cuda",
                          "--photos", str(BENCH_PHOTOS), "--vectors", str(BENCH_VECTORS),
                          "--batch-size", "64", "--json"], left(0.65), env)
        try:
            report["bench"] = json.loads(bench.get("stdout") or "")
        except ValueError:
            report["bench"] = {"error": "no JSON from bench", **{
                k: v for k, v in bench.items() if k != "stdout"}}
        report["gpu_decode_pipeline"] = gpu_decode_summary(report["bench"])
        from photoclip.bench import make_photos

        photos = make_photos(tmp / "jpegs", 64)
        guarded(report, "gpu_decode", gpu_decode, photos, left(0.3))
        decode = report["bench"].get("decode_images_per_s_per_core")
        if isinstance(decode, int | float):
            report["cpu_decode_images_per_s_all_cores"] = round(decode * (os.cpu_count() or 1),
                                                                1)
        guarded(report, "training", train_steps, model_dir, left(0.8))
    report["wall_s"] = round(time.perf_counter() - start, 1)
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"gpu-check: report written to {out} ({report['wall_s']} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
