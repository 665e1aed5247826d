"""Issue 18 measurement: `photoclip train --from-scratch` with no other flags, as a user runs it,
on generated albums (tests/album_generators.py). Not collected by pytest.

    PYTHONPATH=$PWD python tests/core/measure_scratch_cli.py --generator texture --data-seed 2 \
        [--model photoclip/small-conv] [--per-label 80]

Prints before -> after held-out zero-shot accuracy, the settings the run picked, wall and CPU
seconds of the CLI process, the load average, and the auto tags' precision at the default
threshold against the best guess's. One torch thread
(PHOTOCLIP_TORCH_THREADS=1, OMP_NUM_THREADS=1): the machine is shared.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from album_generators import make_albums


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--generator", default="texture")
    parser.add_argument("--data-seed", type=int, default=1)
    parser.add_argument("--per-label", type=int, default=80)
    parser.add_argument("--model", default="photoclip/small-conv")
    parser.add_argument("--extra", default="", help="more train flags (for diagnosis only)")
    parser.add_argument("--threads", default="1", help="torch threads (default 1: shared machine)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        albums = make_albums(Path(tmp) / "albums", args.generator, args.per_label,
                             seed=args.data_seed)
        env = {**os.environ, "PHOTOCLIP_TORCH_THREADS": args.threads,
               "OMP_NUM_THREADS": args.threads}
        env.setdefault("PHOTOCLIP_BUILT_MODELS", str(Path(tmp) / "built"))
        cmd = [sys.executable, "-m", "photoclip", "--library", str(Path(tmp) / "lib"),
               "--model", args.model, "--device", "cpu", "train", "--albums", str(albums),
               "--from-scratch", "--json", *args.extra.split()]
        load0 = os.getloadavg()[0]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        wall = time.monotonic() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode != 0:
        print(done.stderr[-3000:])
        raise SystemExit(done.returncode)
    data = json.loads(done.stdout)
    picked = data.get("settings") or {}
    print(f"{args.generator:8s} data seed {args.data_seed} {args.model}: zero-shot "
          f"{data['before']['zero_shot_accuracy']:.3f} -> {data['after']['zero_shot_accuracy']:.3f}"
          f" on {data['after']['images']} held-out photos; settings {json.dumps(picked)}; "
          f"steps {data.get('steps')}; wall {wall:.0f} s, CPU {cpu:.0f} s; "
          f"load {load0:.1f} -> {os.getloadavg()[0]:.1f}", flush=True)
    after = data["after"]
    if after.get("tag_threshold") is not None:
        print(f"  auto tags at the default threshold {after['tag_threshold']:.3f}: precision "
              f"{after['tag_precision']:.3f} at coverage {after['tag_coverage']:.0%}, against "
              f"{after['tag_accuracy']:.3f} for the best guess on the same photos", flush=True)


if __name__ == "__main__":
    main()
