"""Issue 18 diagnosis: does the from-scratch ViT fail on shape because it has no shape bias?

Trains two supervised 12-way classifiers on the same albums, with the same CPU budget, and
reports held-out accuracy split into colour-right and shape-right:

- ``vit``: the image tower the from-scratch proof uses (a CLIP vision tower, 32 px, 4-px
  patches, width 64, 2 layers) with a linear head on its pooled output;
- ``cnn``: 4 conv layers (3x3, batch norm, ReLU, max-pool), 64-px input, global average pool.

Not collected by pytest. Run (one thread, one run at a time on the shared machine):

    OMP_NUM_THREADS=1 PYTHONPATH=$PWD:$PWD/tests python tests/core/diag_shape_bias.py \
        --generator gradient --seconds 90

Input handling (``cnn`` kinds only): ``--size`` (input side), ``--stem-stride`` (first-conv
stride, so 128 px costs about what 64 px did), ``--fit pad`` (aspect kept, grey borders) or
``squeeze`` (the default), ``--pool max`` (global max pool instead of average).

Tune on ``gradient``/``texture`` only; never on ``holdout``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from album_generators import LABELS, make_albums


def fit(img, size: int, how: str):  # type: ignore[no-untyped-def]
    """`img` to size x size: "squeeze" (the whole photo, aspect lost) or "pad" (longer side to
    `size`, centred on grey, aspect kept)."""
    from PIL import Image

    if how == "squeeze":
        return img.resize((size, size), Image.Resampling.BICUBIC)
    w, h = img.size
    scale = size / max(w, h)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    out = Image.new("RGB", (size, size), (115, 115, 115))
    out.paste(img.resize((nw, nh), Image.Resampling.BICUBIC), ((size - nw) // 2, (size - nh) // 2))
    return out


FIT = "squeeze"
SIZE = 0  # 0: each model's own input size
STEM_STRIDE = 1  # stride of the cnn's first convolution
POOL = "avg"  # the cnn's global pool: "avg" or "max"


def load(root: Path, size: int, per_label: int) -> tuple[np.ndarray, np.ndarray]:
    from PIL import Image

    xs, ys = [], []
    for n, label in enumerate(LABELS):
        for i in range(per_label):
            img = Image.open(root / label / f"{i:03d}.jpg").convert("RGB")
            xs.append(np.asarray(fit(img, size, FIT)))
            ys.append(n)
    x = np.stack(xs).astype(np.float32) / 255.0
    x = (x - 0.45) / 0.27
    return x.transpose(0, 3, 1, 2).copy(), np.asarray(ys)


def vit_model(n_classes: int):  # type: ignore[no-untyped-def]
    import torch
    from transformers import CLIPVisionConfig, CLIPVisionModel

    class Vit(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.tower = CLIPVisionModel(CLIPVisionConfig(
                image_size=32, patch_size=4, hidden_size=64, intermediate_size=128,
                num_hidden_layers=2, num_attention_heads=2))
            self.head = torch.nn.Linear(64, n_classes)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.tower(pixel_values=x).pooler_output)

    return Vit(), 32


def cnn_model(n_classes: int, width: int = 32):  # type: ignore[no-untyped-def]
    import torch
    from torch import nn

    def block(i: int, o: int, stride: int = 1) -> nn.Module:
        return nn.Sequential(nn.Conv2d(i, o, 3, stride=stride, padding=1, bias=False),
                             nn.BatchNorm2d(o), nn.ReLU(inplace=True), nn.MaxPool2d(2))

    net = nn.Sequential(block(3, width, STEM_STRIDE), block(width, width * 2),
                        block(width * 2, width * 4),
                        block(width * 4, width * 4),
                        nn.AdaptiveMaxPool2d(1) if POOL == "max" else nn.AdaptiveAvgPool2d(1),
                        nn.Flatten(),
                        nn.Linear(width * 4, n_classes))
    del torch
    return net, SIZE or 64


def convnext_model(n_classes: int, layer_scale: float = 1e-6):  # type: ignore[no-untyped-def]
    """The product's convolutional tower (photoclip's "small convolutional model")."""
    import torch
    from transformers import ConvNextConfig, ConvNextModel

    class Conv(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.tower = ConvNextModel(ConvNextConfig(
                hidden_sizes=[16, 32, 64, 128], depths=[1, 1, 2, 1], image_size=64,
                patch_size=2, layer_scale_init_value=layer_scale))
            self.head = torch.nn.Linear(128, n_classes)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.tower(pixel_values=x).pooler_output)

    return Conv(), 64


def mnv2_model(n_classes: int):  # type: ignore[no-untyped-def]
    import torch
    from transformers import MobileNetV2Config, MobileNetV2Model

    class Mnv2(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.tower = MobileNetV2Model(MobileNetV2Config(image_size=64, depth_multiplier=0.35))
            self.head = torch.nn.Linear(1280, n_classes)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.tower(pixel_values=x).pooler_output)

    return Mnv2(), 64


def augment(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random flips and 90-degree turns (shape and colour survive them)."""
    out = x.copy()
    flip = rng.random(len(x)) < 0.5
    out[flip] = out[flip, :, :, ::-1]
    k = int(rng.integers(4))
    return np.ascontiguousarray(np.rot90(out, k, axes=(2, 3)))


AUGMENT = True


def run(kind: str, generator: str, per_label: int, seconds: float, seed: int,
        data_seed: int) -> dict[str, float]:
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(seed)
    if kind == "vit":
        model, size = vit_model(len(LABELS))
    elif kind == "mnv2":  # photoclip/small-conv's image tower
        model, size = mnv2_model(len(LABELS))
    elif kind.startswith("convnext"):  # "convnext" or "convnext0" (no layer scale)
        model, size = convnext_model(len(LABELS), 0.0 if kind.endswith("0") else 1e-6)
    else:  # "cnn" or "cnnW" for width W
        model, size = cnn_model(len(LABELS), int(kind[3:] or 32))
    with tempfile.TemporaryDirectory() as tmp:
        root = make_albums(Path(tmp), generator, per_label, seed=data_seed)
        x, y = load(root, size, per_label)
    test = (np.arange(len(y)) % per_label) >= int(per_label * 0.8)
    xtr, ytr, xte, yte = x[~test], y[~test], x[test], y[test]
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.05)
    rng = np.random.default_rng(seed)
    started, cpu0, steps = time.monotonic(), time.process_time(), 0
    model.train()
    while time.monotonic() - started < seconds:
        for idx in np.array_split(rng.permutation(len(ytr)), max(1, len(ytr) // 32)):
            xb = torch.from_numpy(augment(xtr[idx], rng) if AUGMENT else xtr[idx])
            loss = torch.nn.functional.cross_entropy(model(xb), torch.from_numpy(ytr[idx]))
            opt.zero_grad()
            loss.backward()
            opt.step()
            steps += 1
    model.eval()
    with torch.no_grad():
        pred = model(torch.from_numpy(xte)).argmax(1).numpy()
        train_pred = model(torch.from_numpy(xtr[:256])).argmax(1).numpy()
    shapes = len(LABELS) // 4
    return {"acc": float((pred == yte).mean()),
            "colour": float((pred // shapes == yte // shapes).mean()),
            "shape": float((pred % shapes == yte % shapes).mean()),
            "train_acc": float((train_pred == ytr[:256]).mean()),
            "steps": steps, "wall_s": time.monotonic() - started,
            "cpu_s": time.process_time() - cpu0}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--generator", default="gradient")
    parser.add_argument("--models", default="vit,cnn")
    parser.add_argument("--per-label", type=int, default=80)
    parser.add_argument("--seconds", type=float, default=90)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-seed", type=int, default=1)
    parser.add_argument("--no-augment", action="store_true", help="no flips or 90-degree turns")
    parser.add_argument("--fit", choices=("squeeze", "pad"), default="squeeze",
                        help="photo to square: squeeze (aspect lost) or pad (aspect kept)")
    parser.add_argument("--size", type=int, default=0, help="cnn input side (default 64)")
    parser.add_argument("--stem-stride", type=int, default=1, help="cnn first-conv stride")
    parser.add_argument("--pool", choices=("avg", "max"), default="avg", help="cnn global pool")
    args = parser.parse_args()
    global AUGMENT, FIT, SIZE, STEM_STRIDE, POOL
    POOL = args.pool
    AUGMENT = not args.no_augment
    FIT, SIZE, STEM_STRIDE = args.fit, args.size, args.stem_stride
    for kind in args.models.split(","):
        r = run(kind, args.generator, args.per_label, args.seconds, args.seed, args.data_seed)
        print(f"{args.generator:9s} {kind:9s} {args.fit} {args.size or 'own'}px stride "
              f"{args.stem_stride} {args.pool}-pool seed {args.seed}: held-out acc {r['acc']:.3f} "
              f"colour {r['colour']:.3f} shape {r['shape']:.3f} train {r['train_acc']:.3f} "
              f"steps {r['steps']} wall {r['wall_s']:.0f}s cpu {r['cpu_s']:.0f}s", flush=True)


if __name__ == "__main__":
    main()
