"""Settings that choose themselves: epochs, learning rate and batch size from the number of
training photos, the model's size and the device, for a `train` run given no flags.

Each rule is a measured starting point, not a law (issue 18's measurements are in
docs/ARCHITECTURE.md); anything the user sets is kept as given. The run says what it picked,
and early stopping on held-out photos (trainer.py) makes a generous epoch count safe: the best
epoch is kept, not the last.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from photoclip.core.training.config import TrainConfig

# Batch: every label should appear in most batches (same-label positives need company), but on
# a CPU each step costs in proportion to the batch, and a few hundred photos give few steps.
CPU_MAX_BATCH = 32
GPU_MAX_BATCH = 128
MIN_BATCH = 8
PHOTOS_PER_STEP_SHARE = 8  # the batch is at most 1/8 of the training photos: >= 8 steps/epoch
# Learning rates by model size (weights): CLIP's 5e-4 for ViT-B-sized models from scratch, and
# more for small ones (a 3M-weight CLIP learns the proof's albums at 2e-3, not at 5e-4).
LARGE_MODEL = 80_000_000
SMALL_MODEL = 5_000_000
SCRATCH_LR_LARGE = 5e-4
SCRATCH_LR_SMALL = 2e-3
# Fine-tuning moves pretrained weights: 1e-5 for pretrained ViT-B/L (FLYP, WiSE-FT), scaled
# up for small models in the same proportion as from scratch.
FINETUNE_LR_LARGE = 1e-5
FINETUNE_SHARE_SMALL = 0.05  # of the small model's scratch rate
# Steps the schedule is sized for; early stopping ends a run sooner when the held-out photos
# stop improving.
SCRATCH_STEPS = 1500
FINETUNE_STEPS = 300
MIN_EPOCHS, MAX_EPOCHS = 5, 300


@dataclass(frozen=True)
class Picked:
    """The settings a run uses, and which of them it chose itself."""

    config: TrainConfig
    chosen: tuple[str, ...]  # names of the settings chosen here (the rest the user gave)

    def describe(self) -> str:
        cfg = self.config
        parts = [f"{cfg.epochs} epochs", f"batch {cfg.batch_size}", f"lr {cfg.lr:.2g}"]
        if self.chosen:
            return f"{', '.join(parts)} (picked: {', '.join(self.chosen)})"
        return ", ".join(parts)

    def as_dict(self) -> dict[str, object]:
        cfg = self.config
        return {"epochs": cfg.epochs, "batch_size": cfg.batch_size, "lr": cfg.lr,
                "patience": cfg.patience, "picked": list(self.chosen)}


def _log_interp(weights: int, small: float, large: float) -> float:
    """small below SMALL_MODEL, large above LARGE_MODEL, log-linear in between."""
    if weights <= SMALL_MODEL:
        return small
    if weights >= LARGE_MODEL:
        return large
    t = math.log(weights / SMALL_MODEL) / math.log(LARGE_MODEL / SMALL_MODEL)
    return math.exp(math.log(small) + t * (math.log(large) - math.log(small)))


def pick_batch(train_photos: int, device: str) -> int:
    cap = GPU_MAX_BATCH if device in ("cuda", "mps") else CPU_MAX_BATCH
    share = max(MIN_BATCH, train_photos // PHOTOS_PER_STEP_SHARE)
    batch = 2 ** int(math.log2(min(cap, share)))  # a power of two
    return max(2, min(batch, train_photos))


def pick_lr(weights: int, from_scratch: bool) -> float:
    scratch = _log_interp(weights, SCRATCH_LR_SMALL, SCRATCH_LR_LARGE)
    if from_scratch:
        return scratch
    return _log_interp(weights, FINETUNE_SHARE_SMALL * SCRATCH_LR_SMALL, FINETUNE_LR_LARGE)


def pick_epochs(train_photos: int, batch: int, from_scratch: bool) -> int:
    steps_per_epoch = max(1, train_photos // batch)
    target = SCRATCH_STEPS if from_scratch else FINETUNE_STEPS
    return max(MIN_EPOCHS, min(MAX_EPOCHS, math.ceil(target / steps_per_epoch)))


def pick(config: TrainConfig, *, train_photos: int, weights: int, device: str) -> Picked:
    """`config` with every unset (None) epochs, batch size, learning rate and patience chosen."""
    chosen: list[str] = []
    batch = config.batch_size
    if batch is None:
        batch = pick_batch(train_photos, device)
        chosen.append("batch size")
    lr = config.lr
    if lr is None:
        lr = pick_lr(weights, config.from_scratch)
        chosen.append("learning rate")
    epochs = config.epochs
    if epochs is None:
        epochs = pick_epochs(train_photos, min(batch, train_photos), config.from_scratch)
        chosen.append("epochs")
    patience = config.patience
    if patience is None:
        # A quarter of the run without a better held-out score: the cosine schedule's tail
        # rarely brings it back.
        patience = max(3, epochs // 4)
    return Picked(replace(config, batch_size=batch, lr=lr, epochs=epochs, patience=patience),
                  tuple(chosen))
