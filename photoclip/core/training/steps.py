"""The pieces of a training run that the Trainer drives: the schedule, which weights train, one
optimiser step (with gradient caching and an out-of-memory fallback), the model seen through
evaluation's interface, the held-out measurements and the WiSE-FT blend.
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from photoclip.core.encoder import ClipEncoder, pooled
from photoclip.core.errors import PhotoclipError
from photoclip.core.evaluation import (
    SINGLE_TEMPLATE,
    Evaluation,
    embed_images,
    evaluate,
    text_classifier,
    zero_shot_accuracy,
)
from photoclip.core.training.data import Photos
from photoclip.core.training.inputs import image_features, text_features, tokenize
from photoclip.core.training.loss import (
    INIT_LOGIT_SCALE,
    SIGLIP_INIT_BIAS,
    SIGLIP_INIT_LOGIT_SCALE,
    contrastive_loss,
    sigmoid_loss,
)
from photoclip.core.training.wise import ALPHAS, choose_alpha, interpolate

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

WARMUP_FRACTION = 0.1  # of all steps: short runs need Adam's moment estimates settled first
WARMUP_MAX_STEPS = 500  # CLIP warmed up for 2000 of 380k steps; few runs here are that long
WISE_DEFAULT_ALPHA = 0.5  # WiSE-FT's recommended blend when no photos are left to choose one


# -- the state a run's steps share ------------------------------------------------------------


@dataclass
class PreparedRun:
    """What prepare() settles: the model on its device and the photos, split."""

    encoder: ClipEncoder
    model: Any
    tokenizer: Any
    device: str
    live: LiveModel
    photos: Photos
    held_out: tuple[int, ...]
    train_idx: list[int]
    select_idx: list[int]  # held-out photos that choose the WiSE alpha
    test_idx: list[int]  # held-out photos the before/after figures are measured on
    labels: np.ndarray
    tokens: Any  # every caption, tokenised: row label * templates + template
    fingerprint: str
    negatives: Any = None  # probes.negatives.HardNegatives with --hard-negatives, else None


@dataclass
class Optimisation:
    """The training state that moves: weights that train, the optimiser, the step counter."""

    names: list[str]
    params: dict[str, Any]
    original: dict[str, Any]  # the trainable weights before training, for WiSE-FT
    optimizer: Any
    scaler: Any
    batch: int
    steps_per_epoch: int
    total: int
    warmup: int
    micro: int
    step: int = 0
    first_step: int = 0  # where this run started (a resumed one starts past 0)
    started: float = 0.0
    last_save: float = 0.0
    # Early stopping: the best epoch so far, {"epoch", "score", "params"} (CPU copies).
    best: dict[str, Any] | None = None
    stopped_early: bool = False
    # Float buffers that training changes (batch norm's running statistics): kept with the best
    # epoch's weights, which they go with.
    buffers: dict[str, Any] = field(default_factory=dict)


def note_epoch(opt: Optimisation, epoch: int, score: float, patience: int | None,
               min_epochs: int = 0) -> bool:
    """Record an epoch's held-out score: keep its weights if it is the best so far (ties go to
    the later epoch: more training at an equal score); stop once `patience` epochs have
    passed without a better one, but not before `min_epochs`. Returns whether the run stops.

    Measured (issue 18): with a few dozen selection photos the score jumps by +-0.1 between
    epochs at the peak learning rate, and stopping on an early lucky epoch lost 0.1 of held-out
    accuracy; the schedule's low-rate half is where a run from scratch gains most.
    """
    if opt.best is None or score >= opt.best["score"]:
        opt.best = {"epoch": epoch, "score": score,
                    "params": {n: opt.params[n].detach().cpu().clone() for n in opt.names},
                    "buffers": {n: b.detach().cpu().clone() for n, b in opt.buffers.items()}}
    elif patience and epoch >= min_epochs and epoch - int(opt.best["epoch"]) >= patience:
        opt.stopped_early = True
    return opt.stopped_early


def keep_best(opt: Optimisation) -> None:
    """Put the best epoch's weights back (the last epoch is not always the best)."""
    if opt.best is None:
        return
    for name, value in opt.best["params"].items():
        opt.params[name].data.copy_(value.to(opt.params[name].device))
    for name, value in opt.best.get("buffers", {}).items():
        if name in opt.buffers:
            opt.buffers[name].data.copy_(value.to(opt.buffers[name].device))


# -- schedule and parameters -------------------------------------------------------------------


def learning_rate(step: int, total: int, warmup: int, base: float) -> float:
    """Linear warmup from base/warmup to base over `warmup` steps, then cosine decay to 0."""
    if step < warmup:
        return base * (step + 1) / warmup
    span = max(1, total - warmup)
    progress = min(1.0, (step - warmup) / span)
    return 0.5 * base * (1.0 + math.cos(math.pi * progress))


def warmup_steps(total: int) -> int:
    return max(1, min(WARMUP_MAX_STEPS, round(WARMUP_FRACTION * total)))


def trainable_names(model: Any, from_scratch: bool, blocks: int) -> list[str]:
    """Parameters that train: all from scratch; else the last `blocks` transformer blocks of
    each tower and what comes after them (final norms, pooling heads, projections, the
    temperature and SigLIP's bias). The blocks are found by name in every family: CLIP and
    SigLIP `encoder.layers.N`, BERT and XLM-R text towers `encoder.layer.N`, MobileNetV2 image
    towers `layer.N`, photoclip/small-conv's convolutional stages `stages.N`."""
    names = [n for n, _ in model.named_parameters()]
    if from_scratch:
        return names
    block = re.compile(
        r"^(vision_model|text_model)\.(?:.*\.)?(?:encoder\.)?(?:layers?|stages)\.(\d+)\.")
    last: dict[str, int] = {}
    for n in names:
        if m := block.match(n):
            last[m.group(1)] = max(last.get(m.group(1), -1), int(m.group(2)))
    out = []
    for n in names:
        if m := block.match(n):
            if int(m.group(2)) > last[m.group(1)] - blocks:
                out.append(n)
        elif not _before_the_blocks(n):
            out.append(n)
    return out


def train_mode(model: Any) -> None:
    """model.train(), except batch norms whose weights are all frozen: a partial fine-tune must
    not move their running statistics either (in train mode they follow the new albums and shift
    what the frozen stages feed the rest, the old labels included)."""
    from torch import nn

    model.train()
    for module in model.modules():
        if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)) and not any(
                p.requires_grad for p in module.parameters(recurse=False)):
            module.eval()


def _before_the_blocks(name: str) -> bool:
    """Embeddings and the norm in front of the first block: frozen in a partial fine-tune."""
    return "embeddings" in name or "pre_layrnorm" in name or "pre_layernorm" in name


def parameter_groups(model: Any, names: Sequence[str], weight_decay: float) -> list[dict[str, Any]]:
    """Weight decay on matrices only: not on gains, biases or the logit scale (CLIP's rule)."""
    wanted = set(names)
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if name not in wanted:
            continue
        if param.ndim < 2 or "logit_" in name:
            no_decay.append(param)
        else:
            decay.append(param)
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0}]


def reinitialise(model: Any) -> None:
    """Every weight from a fresh random start of the same architecture (the caller seeds),
    with the family's starting temperature (and SigLIP's bias)."""
    import torch

    fresh = type(model)(model.config)
    model.load_state_dict(fresh.state_dict())
    with torch.no_grad():
        if hasattr(model, "logit_bias"):
            model.logit_scale.fill_(SIGLIP_INIT_LOGIT_SCALE)
            model.logit_bias.fill_(SIGLIP_INIT_BIAS)
        else:
            model.logit_scale.fill_(INIT_LOGIT_SCALE)


def autocast_for(device: str) -> Callable[[], Any]:
    """Mixed precision on a CUDA GPU (bf16 where supported, else fp16); full precision else."""
    if device != "cuda":
        return contextlib.nullcontext
    import torch

    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16

    def ctx() -> Any:
        return torch.autocast(device_type="cuda", dtype=dtype)

    return ctx


def grad_scaler_for(device: str) -> Any:
    """fp16 gradients underflow without loss scaling; bf16 has fp32's range and needs none."""
    if device != "cuda":
        return None
    import torch

    if not torch.cuda.is_bf16_supported():
        return torch.amp.GradScaler("cuda")
    return None


# -- the model being trained -------------------------------------------------------------------


class LiveModel:
    """The model being trained, seen through the interface evaluation uses."""

    def __init__(self, model: Any, tokenizer: Any, device: str, autocast: Callable[[], Any],
                 batch_size: int) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.device = device
        self.autocast = autocast
        self.batch_size = batch_size

    def encode_images(self, batch: np.ndarray) -> np.ndarray:
        import torch

        self.model.eval()
        with torch.inference_mode(), self.autocast():
            pixels = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))
            feats = pooled(image_features(self.model, pixels.to(self.device)))
        return feats.float().cpu().numpy()

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        self.model.eval()
        out = []
        with torch.inference_mode(), self.autocast():
            for start in range(0, len(texts), self.batch_size):
                tokens = tokenize(self.model, self.tokenizer,
                                  texts[start : start + self.batch_size])
                feats = pooled(text_features(self.model, tokens["input_ids"].to(self.device),
                                             tokens["attention_mask"].to(self.device)))
                out.append(feats.float().cpu().numpy())
        return np.concatenate(out)


# -- one optimiser step ------------------------------------------------------------------------


def optimiser_step(model: Any, optimizer: Any, scaler: Any, autocast: Callable[[], Any],
                   device: str, batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor,
                                             torch.Tensor], micro: int,
                   negatives: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
                   ) -> tuple[float, int]:
    """One optimiser step over (pixels, ids, mask, labels), with hard negative captions (ids,
    mask, labels) if given; returns (loss, micro-batch size that fitted): out of GPU memory,
    the step is retried in passes half as large."""
    import torch

    while True:
        try:
            optimizer.zero_grad(set_to_none=True)
            loss = contrastive_backward(model, scaler, autocast, device, *batch, micro,
                                        negatives=negatives)
            if scaler is not None:
                scaler.step(optimizer)
                scaler.update()
            else:
                optimizer.step()
            return loss, micro
        except torch.cuda.OutOfMemoryError:  # torch.OutOfMemoryError only from 2.5
            if micro <= 1:
                raise PhotoclipError(
                    "Out of GPU memory even one photo at a time: use --device cpu."
                ) from None
            micro = max(1, micro // 2)
            log.warning("out of GPU memory; retrying with %d photos per pass", micro)
            if device == "cuda":
                torch.cuda.empty_cache()


def contrastive_backward(model: Any, scaler: Any, autocast: Callable[[], Any], device: str,
                         pixels: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor,
                         labels: torch.Tensor, micro: int,
                         negatives: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
                         ) -> float:
    """Loss over the whole batch, gradients into the model, in passes of `micro` pairs.

    With micro < batch this is gradient caching (Gao et al., 2021): embed every pair without a
    graph, take the loss's gradient with respect to the embeddings, then re-run each slice with
    a graph and push that gradient through. Plain accumulation would shrink the negatives to one
    slice; this keeps the loss exactly that of the full batch.
    """
    import torch

    n = len(pixels)
    pixels, ids, mask = pixels.to(device), ids.to(device), mask.to(device)

    def embed(sl: slice) -> tuple[torch.Tensor, torch.Tensor]:
        with autocast():
            img = pooled(image_features(model, pixels[sl]))
            txt = pooled(text_features(model, ids[sl], mask[sl]))
        return img.float(), txt.float()

    neg_ids, neg_mask, neg_labels = (None, None, None) if negatives is None else negatives
    m = 0 if neg_ids is None else len(neg_ids)

    def embed_negatives(sl: slice) -> torch.Tensor:
        assert neg_ids is not None
        assert neg_mask is not None
        with autocast():
            return pooled(text_features(model, neg_ids[sl].to(device),
                                        neg_mask[sl].to(device))).float()

    scale = model.logit_scale.exp()
    bias = getattr(model, "logit_bias", None)  # SigLIP: its pairwise sigmoid loss

    def batch_loss(img: torch.Tensor, txt: torch.Tensor,
                   neg: torch.Tensor | None) -> torch.Tensor:
        if bias is not None:
            return sigmoid_loss(img, txt, scale, bias, labels, neg, neg_labels)
        return contrastive_loss(img, txt, scale, labels, neg, neg_labels)

    if micro >= n:
        img, txt = embed(slice(0, n))
        neg = embed_negatives(slice(0, m)) if m else None
        loss = batch_loss(img, txt, neg)
        (scaler.scale(loss) if scaler is not None else loss).backward()
        return float(loss.detach())

    with torch.no_grad():
        parts = [embed(slice(s, s + micro)) for s in range(0, n, micro)]
        neg_parts = [embed_negatives(slice(s, s + micro)) for s in range(0, m, micro)]
    img_all = torch.cat([p[0] for p in parts]).requires_grad_(True)
    txt_all = torch.cat([p[1] for p in parts]).requires_grad_(True)
    neg_all = torch.cat(neg_parts).requires_grad_(True) if m else None
    loss = batch_loss(img_all, txt_all, neg_all)
    (scaler.scale(loss) if scaler is not None else loss).backward()
    assert img_all.grad is not None
    assert txt_all.grad is not None
    for s in range(0, n, micro):
        sl = slice(s, s + micro)
        img, txt = embed(sl)
        surrogate = (img * img_all.grad[sl]).sum() + (txt * txt_all.grad[sl]).sum()
        surrogate.backward()
    for s in range(0, m, micro):
        assert neg_all is not None
        assert neg_all.grad is not None
        sl = slice(s, s + micro)
        (embed_negatives(sl) * neg_all.grad[sl]).sum().backward()
    return float(loss.detach())


# -- measuring and blending --------------------------------------------------------------------


def measure(live: LiveModel, photos: Photos, labels: np.ndarray, label_texts: Sequence[str],
            templates: Sequence[str], test_idx: Sequence[int],
            fit_idx: Sequence[int]) -> Evaluation:
    """The before/after figures on `test_idx`, the quick mode fitted on `fit_idx`."""
    test = embed_images(live, photos, test_idx, live.batch_size)
    fit = embed_images(live, photos, fit_idx, live.batch_size)
    ensemble = text_classifier(live.encode_texts, label_texts, templates)
    single = text_classifier(live.encode_texts, label_texts, [SINGLE_TEMPLATE])
    return evaluate(test, labels[list(test_idx)], ensemble, single,
                    fit=fit, fit_labels=labels[list(fit_idx)])


def held_out_accuracy(live: LiveModel, photos: Photos, labels: np.ndarray,
                      label_texts: Sequence[str], templates: Sequence[str],
                      indices: Sequence[int]) -> float:
    """Zero-shot accuracy (prompt ensemble) on photos[indices]."""
    emb = embed_images(live, photos, indices, live.batch_size)
    classifier = text_classifier(live.encode_texts, label_texts, templates)
    return zero_shot_accuracy(emb, labels[list(indices)], classifier)


def blend(original: dict[str, torch.Tensor], params: dict[str, torch.Tensor],
          names: Sequence[str], score: Callable[[], float],
          photos: int) -> tuple[float, dict[str, float]]:
    """WiSE-FT: set the trained weights to the best blend with the original ones.

    Each alpha is scored by `score()` (accuracy on `photos` selection photos) on the weights as
    blended, and the smallest alpha within one standard error of the best is kept
    (wise.choose_alpha); without photos to choose on, WiSE-FT's default alpha is used.
    Returns (alpha, score per alpha).
    """
    alpha = WISE_DEFAULT_ALPHA
    scores: dict[str, float] = {}
    tuned = {n: params[n].detach().clone() for n in names}
    if photos:
        by_alpha: dict[float, float] = {}
        for a in ALPHAS:
            _set(params, interpolate(original, tuned, a))
            by_alpha[a] = score()
        alpha = choose_alpha(by_alpha, photos=photos)
        scores = {str(a): round(s, 4) for a, s in by_alpha.items()}
    _set(params, interpolate(original, tuned, alpha))
    return alpha, scores


def _set(params: dict[str, torch.Tensor], values: dict[str, torch.Tensor]) -> None:
    for name, value in values.items():
        params[name].data.copy_(value)
