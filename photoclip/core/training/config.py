"""What a training run is asked for (TrainConfig) and what it gives back (TrainResult)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from photoclip.core.evaluation import Evaluation

# Learning rates: 1e-5 is the usual rate for fine-tuning a pretrained CLIP (FLYP, WiSE-FT);
# from scratch, a small model on a few hundred photos needs CLIP's own order of magnitude.
FINETUNE_LR = 1e-5
SCRATCH_LR = 5e-4
FINETUNE_BLOCKS = 2  # last transformer blocks per tower that train by default (+ projections)
CHECKPOINT_EVERY_S = 300.0  # a crash costs at most this much training


@dataclass(frozen=True)
class TrainConfig:
    # None: chosen for the run from the data, the model and the device (autoconfig.py).
    epochs: int | None = None
    batch_size: int | None = None  # photo-caption pairs per step; more negatives help (seed §3)
    # Pairs per forward pass; below batch_size the step is split (gradient caching) so the loss
    # still sees the whole batch's negatives. 0 = the whole batch at once.
    micro_batch: int = 0
    lr: float | None = None  # None: chosen by model size (autoconfig.py)
    weight_decay: float = 0.2
    from_scratch: bool = False
    blocks: int = FINETUNE_BLOCKS
    eval_split: float = 0.2
    seed: int = 0
    checkpoint_every_s: float = CHECKPOINT_EVERY_S
    eval_every_epoch: bool = True
    # NegCLIP: each caption's swapped relations/attributes and negations as extra negatives.
    hard_negatives: bool = False
    # Early stopping: epochs without a better held-out score before the run stops (the best
    # epoch's weights are kept). None: a quarter of the epochs, at least 3; 0: never stop early.
    patience: int | None = None
    # WiSE-FT after a partial fine-tune: blend with the original weights (False: keep the
    # fine-tuned weights as they are, alpha 1).
    wise: bool = True

    @property
    def learning_rate(self) -> float:
        if self.lr is not None:
            return self.lr
        return SCRATCH_LR if self.from_scratch else FINETUNE_LR


@dataclass
class TrainResult:
    name: str
    path: str
    base: str
    before: Evaluation
    after: Evaluation
    seconds: float
    wise_alpha: float | None
    alpha_scores: dict[str, float] = field(default_factory=dict)
    steps: int = 0
    train_photos: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    # The settings the run used (epochs, batch_size, lr, patience, picked: those it chose).
    settings: dict[str, Any] = field(default_factory=dict)
    best_epoch: int | None = None  # the epoch whose weights were kept (early stopping)
    epochs_run: int = 0
    @property
    def unchanged(self) -> bool:
        """The blend chose the original weights (alpha 0): the saved model is its base."""
        return self.wise_alpha == 0.0

    @property
    def helped(self) -> bool:
        """Whether the new model beats its base on the held-out photos (zero-shot accuracy):
        only then is switching the library to it worth a re-embed."""
        return (not self.unchanged
                and self.after.zero_shot_accuracy > self.before.zero_shot_accuracy)

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.name, "path": self.path, "base": self.base,
            "before": self.before.as_dict(), "after": self.after.as_dict(),
            "seconds": round(self.seconds, 2), "wise_alpha": self.wise_alpha,
            "alpha_scores": self.alpha_scores, "steps": self.steps,
            "train_photos": self.train_photos, "failed": len(self.failures),
            "helped": self.helped, "settings": self.settings,
            "best_epoch": self.best_epoch, "epochs_run": self.epochs_run,
        }
