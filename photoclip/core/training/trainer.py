"""Contrastive fine-tuning of the library's CLIP on the user's albums, as one Progress generator.

The recipe is CLIP's (seed §3, §5): symmetric InfoNCE with a learnable temperature, AdamW
(betas 0.9/0.98, eps 1e-6, weight decay 0.2 except gains, biases and the logit scale), linear
warmup then cosine decay, and the lightest augmentation. By default only the last blocks and the
projections train and the result is blended with the original weights (WiSE-FT), so the model
keeps what it knew; `from_scratch` trains every weight from a random start.

Order of work, each step a phase of Progress: load the base model -> read the photos -> split
(held-out photos never reach a batch) -> quick mode and the "before" figures -> train (resumable
from the last checkpoint) -> choose the WiSE alpha -> "after" figures -> save and register.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import shutil
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from photoclip.core.encoder import ClipEncoder, _pooled, resolve_device
from photoclip.core.errors import PhotoclipError
from photoclip.core.evaluation import (
    METADATA_FILE,
    SEEN_PHOTOS_FILE,
    SINGLE_TEMPLATE,
    Evaluation,
    default_templates,
    embed_images,
    evaluate,
    text_classifier,
    zero_shot_accuracy,
)
from photoclip.core.training import registry
from photoclip.core.training.data import (
    Albums,
    DataError,
    Photos,
    Preprocessing,
    captions,
    fingerprint,
    load_photos,
    stratified_split,
)
from photoclip.core.training.loss import INIT_LOGIT_SCALE, MAX_LOGIT_SCALE, contrastive_loss
from photoclip.core.training.wise import ALPHAS, choose_alpha, interpolate
from photoclip.core.types import Progress

if TYPE_CHECKING:
    import torch

    from photoclip.core.catalog import Catalog

log = logging.getLogger(__name__)

# Learning rates: 1e-5 is the usual rate for fine-tuning a pretrained CLIP (FLYP, WiSE-FT);
# from scratch, a small model on a few hundred photos needs CLIP's own order of magnitude.
FINETUNE_LR = 1e-5
SCRATCH_LR = 5e-4
FINETUNE_BLOCKS = 2  # last transformer blocks per tower that train by default (+ projections)
WARMUP_FRACTION = 0.1  # of all steps: short runs need Adam's moment estimates settled first
WARMUP_MAX_STEPS = 500  # CLIP warmed up for 2000 of 380k steps; few runs here are that long
CHECKPOINT_EVERY_S = 300.0  # a crash costs at most this much training
WISE_DEFAULT_ALPHA = 0.5  # WiSE-FT's recommended blend when no photos are left to choose one
PARTIAL_PREFIX = ".partial-"
STATE_FILE = "state.pt"


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 10
    batch_size: int = 64  # photo-caption pairs per step; more negatives help (seed §3)
    # Pairs per forward pass; below batch_size the step is split (gradient caching) so the loss
    # still sees the whole batch's negatives. 0 = the whole batch at once.
    micro_batch: int = 0
    lr: float | None = None  # None: FINETUNE_LR, or SCRATCH_LR with from_scratch
    weight_decay: float = 0.2
    from_scratch: bool = False
    blocks: int = FINETUNE_BLOCKS
    eval_split: float = 0.2
    seed: int = 0
    checkpoint_every_s: float = CHECKPOINT_EVERY_S
    eval_every_epoch: bool = True

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

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.name, "path": self.path, "base": self.base,
            "before": self.before.as_dict(), "after": self.after.as_dict(),
            "seconds": round(self.seconds, 2), "wise_alpha": self.wise_alpha,
            "alpha_scores": self.alpha_scores, "steps": self.steps,
            "train_photos": self.train_photos, "failed": len(self.failures),
        }


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
    each tower, the final norms, both projections and the temperature."""
    names = [n for n, _ in model.named_parameters()]
    if from_scratch:
        return names
    vision_layers = len(model.vision_model.encoder.layers)
    text_layers = len(model.text_model.encoder.layers)
    prefixes = [f"vision_model.encoder.layers.{i}." for i in
                range(max(0, vision_layers - blocks), vision_layers)]
    prefixes += [f"text_model.encoder.layers.{i}." for i in
                 range(max(0, text_layers - blocks), text_layers)]
    prefixes += ["vision_model.post_layernorm.", "text_model.final_layer_norm.",
                 "visual_projection.", "text_projection.", "logit_scale"]
    return [n for n in names if n.startswith(tuple(prefixes))]


def parameter_groups(model: Any, names: Sequence[str], weight_decay: float) -> list[dict[str, Any]]:
    """Weight decay on matrices only: not on gains, biases or the logit scale (CLIP's rule)."""
    wanted = set(names)
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if name not in wanted:
            continue
        if param.ndim < 2 or "logit_scale" in name:
            no_decay.append(param)
        else:
            decay.append(param)
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0}]


class _Live:
    """The model being trained, seen through the interface evaluation uses."""

    def __init__(self, model: Any, tokenizer: Any, device: str, autocast: Any,
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
            feats = _pooled(self.model.get_image_features(pixel_values=pixels.to(self.device)))
        return feats.float().cpu().numpy()

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        self.model.eval()
        out = []
        with torch.inference_mode(), self.autocast():
            for start in range(0, len(texts), self.batch_size):
                tokens = self.tokenizer(list(texts[start : start + self.batch_size]),
                                        padding=True, truncation=True, return_tensors="pt")
                feats = _pooled(self.model.get_text_features(
                    input_ids=tokens["input_ids"].to(self.device),
                    attention_mask=tokens["attention_mask"].to(self.device)))
                out.append(feats.float().cpu().numpy())
        return np.concatenate(out)


class Trainer:
    """Fine-tune `base` (hub id or folder) on `albums`; save as `name` under `checkpoints`.

    run() is the whole job. Closing the generator or setting `cancel` stops it between steps:
    the work so far is kept as a checkpoint (the same albums and name resume from it) and no
    model is saved or registered, so the library's model is untouched.
    """

    def __init__(
        self,
        albums: Albums,
        *,
        base: str,
        checkpoints: Path,
        catalog: Catalog | None = None,
        name: str | None = None,
        device: str = "auto",
        config: TrainConfig | None = None,
        templates: Sequence[str] | None = None,
    ) -> None:
        self.albums = albums
        self.base = base
        self.checkpoints = Path(checkpoints)
        self.catalog = catalog
        self.config = config or TrainConfig()
        if self.config.epochs < 1:
            raise PhotoclipError("--epochs must be at least 1.")
        if not 0.0 < self.config.eval_split < 1.0:
            raise PhotoclipError(
                f"--eval-split must be between 0 and 1 (e.g. 0.2), not {self.config.eval_split}."
            )
        self.requested_device = device
        self.templates = tuple(templates or albums.templates or default_templates())
        self.name = registry.check_name(name) if name else self._default_name()
        if (self.checkpoints / self.name).exists() or (
            catalog is not None and registry.find(catalog, self.name) is not None
        ):
            raise PhotoclipError(
                f"A model named {self.name!r} already exists: choose another --name."
            )
        self.result: TrainResult | None = None

    def _default_name(self) -> str:
        stem = registry.slug(Path(self.albums.source).name)
        if self.config.from_scratch:
            stem += "-scratch"
        name, n = stem, 1
        while (self.checkpoints / name).exists() or (
            self.catalog is not None and registry.find(self.catalog, name) is not None
        ):
            n += 1
            name = f"{stem}-{n}"
        return name

    @property
    def partial_dir(self) -> Path:
        return self.checkpoints / f"{PARTIAL_PREFIX}{self.name}"

    # -- the job -------------------------------------------------------------------------------

    def run(self, cancel: threading.Event | None = None) -> Iterator[Progress]:
        import torch

        cfg = self.config
        started = time.monotonic()
        cancelled = cancel.is_set if cancel is not None else (lambda: False)

        yield Progress("load", 0, 1, message=f"loading {self.base}")
        encoder = ClipEncoder(self.base, device="cpu")
        encoder.load()
        device = resolve_device(self.requested_device)
        model: Any = encoder._model
        tokenizer: Any = encoder._tokenizer
        model.float().to(device)
        yield Progress("load", 1, 1, message=f"{self.base} on {device}")
        autocast = _autocast(torch, device)
        scaler = _grad_scaler(torch, device)
        live = _Live(model, tokenizer, device, autocast, batch_size=max(cfg.batch_size, 32))

        photos = Photos(Preprocessing.of(encoder))
        yield from load_photos(self.albums.samples, photos, cancel=cancelled)
        if cancelled():
            return
        split = stratified_split(photos.labels, photos.hashes, cfg.eval_split, cfg.seed)
        if not split.held_out or len(split.train) < 2:
            raise DataError(
                f"{self.albums.source} has too few readable photos to train and evaluate: put at "
                "least 2 photos in each of at least 2 albums."
            )
        train_idx = list(split.train)
        select_idx, test_idx = self._selection_split(photos, split.held_out)
        labels = np.asarray(photos.labels, dtype=np.int64)
        caps = captions(self.albums.labels, self.templates)
        flat = [c for per_label in caps for c in per_label]
        tokens = tokenizer(flat, padding=True, truncation=True, return_tensors="pt")
        n_templates = len(self.templates)

        fp = fingerprint(self.base, asdict(replace(cfg, checkpoint_every_s=0)),
                         self.albums.labels, self.templates,
                         sorted(zip(photos.hashes, photos.labels, strict=True)))

        # Quick mode and the "before" figures, on the base weights.
        state = self._load_partial(fp)
        if state is not None:
            before = Evaluation(**state["before"])
            yield Progress("train", int(state["step"]), 0,
                           message=f"resuming from step {int(state['step'])}")
        else:
            yield Progress("evaluate", 0, 1, message="measuring the model before training")
            before = self._evaluate(live, photos, labels, test_idx, train_idx)
            yield Progress("evaluate", 1, 1, message="before training", extra={
                "zero_shot_accuracy": before.zero_shot_accuracy,
                "prototype_accuracy": before.prototype_accuracy,
                "linear_probe_accuracy": before.linear_probe_accuracy,
            })
        if cancelled():
            return

        torch.manual_seed(cfg.seed)
        if cfg.from_scratch:
            _reinitialise(model, torch)
        names = trainable_names(model, cfg.from_scratch, cfg.blocks)
        params = dict(model.named_parameters())
        for pname, param in params.items():
            param.requires_grad_(pname in set(names))
        original = {n: params[n].detach().clone() for n in names}
        optimizer = torch.optim.AdamW(
            parameter_groups(model, names, cfg.weight_decay),
            lr=cfg.learning_rate, betas=(0.9, 0.98), eps=1e-6,
        )

        batch = min(cfg.batch_size, len(train_idx))
        steps_per_epoch = max(1, len(train_idx) // batch)  # the ragged end is dropped per epoch
        total = steps_per_epoch * cfg.epochs
        warmup = warmup_steps(total)
        step = 0
        if state is not None:
            for pname, value in state["params"].items():
                params[pname].data.copy_(value.to(device))
            optimizer.load_state_dict(state["optimizer"])
            step = int(state["step"])
        micro = cfg.micro_batch if 0 < cfg.micro_batch < batch else batch

        last_save = time.monotonic()
        train_started = time.monotonic()
        first_step = step
        try:
            while step < total:
                epoch, pos = divmod(step, steps_per_epoch)
                order = np.random.default_rng([cfg.seed, epoch]).permutation(train_idx)
                chosen = order[pos * batch : (pos + 1) * batch].tolist()
                rng = np.random.default_rng([cfg.seed, epoch, pos, 1])
                pixels = torch.from_numpy(photos.train_pixels(chosen, rng))
                which = torch.from_numpy(
                    labels[chosen] * n_templates + rng.integers(0, n_templates, len(chosen)))
                ids = tokens["input_ids"][which]
                mask = tokens["attention_mask"][which]
                batch_labels = torch.from_numpy(labels[chosen])

                lr = learning_rate(step, total, warmup, cfg.learning_rate)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                model.train()
                loss, micro = self._step(model, optimizer, scaler, autocast, device, pixels,
                                         ids, mask, batch_labels, micro)
                with torch.no_grad():
                    model.logit_scale.clamp_(0.0, MAX_LOGIT_SCALE)
                step += 1
                scale = float(model.logit_scale.detach().exp().item())
                elapsed = time.monotonic() - train_started
                extra: dict[str, object] = {
                    "step": step, "epoch": epoch + 1, "loss": float(loss), "lr": lr,
                    "temperature": 1.0 / scale, "logit_scale": scale,
                }
                if cfg.eval_every_epoch and step % steps_per_epoch == 0:
                    eval_idx = select_idx or test_idx
                    emb = embed_images(live, photos, eval_idx, live.batch_size)
                    classifier = text_classifier(live.encode_texts, self.albums.labels,
                                                 self.templates)
                    extra["accuracy"] = zero_shot_accuracy(emb, labels[eval_idx], classifier)
                yield Progress("train", step, total,
                               rate=(step - first_step) / elapsed if elapsed > 0 else 0.0,
                               extra=extra)
                if cancelled():
                    return
                if time.monotonic() - last_save > cfg.checkpoint_every_s and step < total:
                    self._save_partial(fp, step, params, names, optimizer, before)
                    last_save = time.monotonic()
        finally:
            # Cancelled, interrupted, failed or done: keep the work until the model is saved, so
            # nothing after this point (choosing alpha, saving) can lose the training.
            if step > first_step:
                try:
                    self._save_partial(fp, step, params, names, optimizer, before)
                except Exception:
                    log.warning("could not save a training checkpoint", exc_info=True)

        for param in params.values():
            param.requires_grad_(False)
        alpha: float | None = None
        alpha_scores: dict[str, float] = {}
        if not cfg.from_scratch:
            yield Progress("wise", 0, len(ALPHAS), message="blending with the original weights")
            alpha, alpha_scores = self._choose_alpha(live, photos, labels, select_idx,
                                                     original, params, names)
            blended = interpolate(original, {n: params[n].detach() for n in names}, alpha)
            for pname, value in blended.items():
                params[pname].data.copy_(value)
            yield Progress("wise", len(ALPHAS), len(ALPHAS), message=f"alpha {alpha}",
                           extra={"alpha": alpha})

        yield Progress("evaluate", 0, 1, message="measuring the model after training")
        after = self._evaluate(live, photos, labels, test_idx, train_idx)
        yield Progress("evaluate", 1, 1, message="after training",
                       extra={"zero_shot_accuracy": after.zero_shot_accuracy})

        seconds = time.monotonic() - started
        result = TrainResult(
            name=self.name, path=str(self.checkpoints / self.name), base=self.base,
            before=before, after=after, seconds=seconds, wise_alpha=alpha,
            alpha_scores=alpha_scores, steps=total, train_photos=len(train_idx),
            failures=photos.failures,
        )
        yield Progress("save", 0, 1, message=f"saving {self.name}")
        seen = {photos.hashes[i] for i in (*train_idx, *select_idx)}
        self._save(model, encoder, result, seen, photos, split.held_out)
        self.result = result
        yield Progress("save", 1, 1, finished=True, message=(
            f"{self.name}: zero-shot accuracy {before.zero_shot_accuracy:.3f} -> "
            f"{after.zero_shot_accuracy:.3f} on {after.images} held-out photos"))

    # -- pieces ----------------------------------------------------------------------------

    def _selection_split(self, photos: Photos, held: Sequence[int]) -> tuple[list[int], list[int]]:
        """Held-out photos -> (for choosing the WiSE alpha, for the before/after figures).

        Choosing alpha on the photos the figures are measured on would flatter the result, so
        with WiSE-FT half of each label's held-out photos choose and the other half measure.
        """
        held = list(held)
        if self.config.from_scratch:
            return [], held
        sub = stratified_split([photos.labels[i] for i in held],
                               [photos.hashes[i] for i in held], 0.5, self.config.seed + 1)
        # A label with a single held-out photo keeps it for measuring (the split's train side).
        return [held[i] for i in sub.held_out], [held[i] for i in sub.train]

    def _evaluate(self, live: _Live, photos: Photos, labels: np.ndarray,
                  test_idx: Sequence[int], fit_idx: Sequence[int]) -> Evaluation:
        test = embed_images(live, photos, test_idx, live.batch_size)
        fit = embed_images(live, photos, fit_idx, live.batch_size)
        ensemble = text_classifier(live.encode_texts, self.albums.labels, self.templates)
        single = text_classifier(live.encode_texts, self.albums.labels, [SINGLE_TEMPLATE])
        return evaluate(test, labels[list(test_idx)], ensemble, single,
                        fit=fit, fit_labels=labels[list(fit_idx)])

    def _choose_alpha(self, live: _Live, photos: Photos, labels: np.ndarray,
                      select_idx: Sequence[int], original: dict[str, torch.Tensor],
                      params: dict[str, torch.Tensor], names: Sequence[str],
                      ) -> tuple[float, dict[str, float]]:
        if not select_idx:
            return WISE_DEFAULT_ALPHA, {}
        tuned = {n: params[n].detach().clone() for n in names}
        scores: dict[float, float] = {}
        for a in ALPHAS:
            for pname, value in interpolate(original, tuned, a).items():
                params[pname].data.copy_(value)
            emb = embed_images(live, photos, select_idx, live.batch_size)
            classifier = text_classifier(live.encode_texts, self.albums.labels, self.templates)
            scores[a] = zero_shot_accuracy(emb, labels[list(select_idx)], classifier)
        for pname, value in tuned.items():
            params[pname].data.copy_(value)
        return choose_alpha(scores), {str(a): round(s, 4) for a, s in scores.items()}

    def _step(self, model: Any, optimizer: Any, scaler: Any, autocast: Any, device: str,
              pixels: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor,
              labels: torch.Tensor, micro: int) -> tuple[float, int]:
        """One optimiser step over the batch; returns (loss, micro-batch size that fitted)."""
        import torch

        while True:
            try:
                optimizer.zero_grad(set_to_none=True)
                loss = _contrastive_backward(model, scaler, autocast, device, pixels, ids, mask,
                                             labels, micro)
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

    # -- checkpoints ---------------------------------------------------------------------------

    def _save_partial(self, fp: str, step: int, params: dict[str, torch.Tensor],
                      names: Sequence[str], optimizer: Any, before: Evaluation) -> None:
        import torch

        self.partial_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.partial_dir / f"{STATE_FILE}.tmp"
        torch.save({
            "fingerprint": fp, "step": step,
            "params": {n: params[n].detach().cpu() for n in names},
            "optimizer": optimizer.state_dict(),
            "before": asdict(before),
        }, tmp)
        os.replace(tmp, self.partial_dir / STATE_FILE)
        log.info("checkpoint at step %d saved to %s", step, self.partial_dir)

    def _load_partial(self, fp: str) -> dict[str, Any] | None:
        import torch

        path = self.partial_dir / STATE_FILE
        if not path.is_file():
            return None
        try:
            state: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # a half-written or foreign file only costs a fresh start
            log.warning("ignoring unreadable checkpoint %s: %s", path, exc)
            return None
        if state.get("fingerprint") != fp:
            log.info("checkpoint %s is for other photos or settings; starting afresh", path)
            return None
        return state

    def _save(self, model: Any, encoder: ClipEncoder, result: TrainResult, seen: set[str],
              photos: Photos, held_out: Sequence[int]) -> None:
        final = self.checkpoints / self.name
        tmp = self.checkpoints / f".saving-{self.name}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        with _quiet_saving():
            model.save_pretrained(str(tmp))
        encoder._tokenizer.save_pretrained(str(tmp))
        _save_preprocessor(encoder, tmp)
        (tmp / SEEN_PHOTOS_FILE).write_text("".join(f"{h}\n" for h in sorted(seen)), "utf-8")
        metadata = {
            "name": self.name,
            "base": self.base,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "from_scratch": self.config.from_scratch,
            "config": asdict(self.config),
            "templates": list(self.templates),
            "data": {
                "source": self.albums.source,
                "labels": list(self.albums.labels),
                "photos": len(photos),
                "train_photos": result.train_photos,
                "held_out_photos": len(held_out),
                "measured_photos": result.after.images,
                "unreadable": len(photos.failures),
            },
            "metrics": result.as_dict(),
        }
        (tmp / METADATA_FILE).write_text(json.dumps(metadata, indent=2), "utf-8")
        os.replace(tmp, final)
        if self.catalog is not None:
            if registry.by_source(self.catalog, self.base) is None:  # e.g. a fine-tuned base
                registry.ensure_base(self.catalog, self.base)
            registry.register(self.catalog, self.name, base=self.base, path=str(final),
                              kind="finetuned", metrics=result.as_dict())
        shutil.rmtree(self.partial_dir, ignore_errors=True)


def _contrastive_backward(model: Any, scaler: Any, autocast: Any, device: str,
                          pixels: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor,
                          labels: torch.Tensor, micro: int) -> float:
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
            img = _pooled(model.get_image_features(pixel_values=pixels[sl]))
            txt = _pooled(model.get_text_features(input_ids=ids[sl], attention_mask=mask[sl]))
        return img.float(), txt.float()

    scale = model.logit_scale.exp()
    if micro >= n:
        img, txt = embed(slice(0, n))
        loss = contrastive_loss(img, txt, scale, labels)
        (scaler.scale(loss) if scaler is not None else loss).backward()
        return float(loss.detach())

    with torch.no_grad():
        parts = [embed(slice(s, s + micro)) for s in range(0, n, micro)]
    img_all = torch.cat([p[0] for p in parts]).requires_grad_(True)
    txt_all = torch.cat([p[1] for p in parts]).requires_grad_(True)
    loss = contrastive_loss(img_all, txt_all, scale, labels)
    (scaler.scale(loss) if scaler is not None else loss).backward()
    assert img_all.grad is not None
    assert txt_all.grad is not None
    for s in range(0, n, micro):
        sl = slice(s, s + micro)
        img, txt = embed(sl)
        surrogate = (img * img_all.grad[sl]).sum() + (txt * txt_all.grad[sl]).sum()
        surrogate.backward()
    return float(loss.detach())


def _reinitialise(model: Any, torch_mod: Any) -> None:
    """Every weight from a fresh random start of the same architecture (the caller seeds)."""
    from transformers import CLIPModel

    fresh = CLIPModel(model.config)
    model.load_state_dict(fresh.state_dict())
    with torch_mod.no_grad():
        model.logit_scale.fill_(INIT_LOGIT_SCALE)


def _autocast(torch_mod: Any, device: str) -> Any:
    """Mixed precision on a CUDA GPU (bf16 where supported, else fp16); full precision else."""
    if device != "cuda":
        return contextlib.nullcontext
    dtype = torch_mod.bfloat16 if torch_mod.cuda.is_bf16_supported() else torch_mod.float16

    def ctx() -> Any:
        return torch_mod.autocast(device_type="cuda", dtype=dtype)

    return ctx


def _grad_scaler(torch_mod: Any, device: str) -> Any:
    # fp16 gradients underflow without loss scaling; bf16 has fp32's range and needs none.
    if device == "cuda" and not torch_mod.cuda.is_bf16_supported():
        return torch_mod.amp.GradScaler("cuda")
    return None


@contextlib.contextmanager
def _quiet_saving() -> Iterator[None]:
    """Hide transformers' "Writing model shards" bar: the CLI draws its own progress."""
    from transformers.utils import logging as hf_logging

    enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            hf_logging.enable_progress_bar()


def _save_preprocessor(encoder: ClipEncoder, folder: Path) -> None:
    """The base model's preprocessing, so the new model sees photos exactly as it trained."""
    from transformers import CLIPImageProcessorPil

    prep = encoder.preprocessing
    size = ({"shortest_edge": prep.resize_to} if isinstance(prep.resize_to, int)
            else {"height": prep.resize_to[0], "width": prep.resize_to[1]})
    CLIPImageProcessorPil(
        size=size,
        crop_size={"height": prep.crop[0], "width": prep.crop[1]},
        image_mean=list(prep.mean),
        image_std=list(prep.std),
        resample=int(prep.resample),
    ).save_pretrained(str(folder))
