"""Contrastive fine-tuning of the library's CLIP on the user's albums, as one Progress generator.

The recipe is CLIP's (seed §3, §5): symmetric InfoNCE with a learnable temperature, AdamW
(betas 0.9/0.98, eps 1e-6, weight decay 0.2 except gains, biases and the logit scale), linear
warmup then cosine decay, and the lightest augmentation. By default only the last blocks and the
projections train and the result is blended with the original weights (WiSE-FT), so the model
keeps what it knew; `from_scratch` trains every weight from a random start.

Trainer.run drives the steps, each a phase of Progress: prepare (load the base model, read the
photos, split them: held-out photos never reach a batch) -> the "before" figures and quick mode
-> train, epoch by epoch (resumable from the last checkpoint) -> blend (choose the WiSE alpha)
-> the "after" figures -> save and register. The pieces live in steps.py and checkpoint.py.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from photoclip.core.encoder import ClipEncoder, resolve_device
from photoclip.core.errors import PhotoclipError
from photoclip.core.evaluation import Evaluation, default_templates
from photoclip.core.probes.negatives import HardNegatives
from photoclip.core.tagging.scoring import prompts_for
from photoclip.core.training import registry
from photoclip.core.training.autoconfig import Picked, pick
from photoclip.core.training.checkpoint import (
    PARTIAL_PREFIX,
    load_partial,
    publish_model,
    save_partial,
    stage_model,
)
from photoclip.core.training.config import FINETUNE_LR as FINETUNE_LR  # re-exported
from photoclip.core.training.config import SCRATCH_LR as SCRATCH_LR
from photoclip.core.training.config import TrainConfig, TrainResult
from photoclip.core.training.data import (
    Albums,
    DataError,
    Photos,
    Preprocessing,
    Split,
    fingerprint,
    load_photos,
    mirror_safe,
    stratified_split,
)
from photoclip.core.training.inputs import tokenize
from photoclip.core.training.loss import MAX_LOGIT_SCALE
from photoclip.core.training.steps import (
    LiveModel,
    Optimisation,
    PreparedRun,
    autocast_for,
    blend,
    grad_scaler_for,
    held_out_accuracy,
    keep_best,
    learning_rate,
    measure,
    note_epoch,
    optimiser_step,
    parameter_groups,
    reinitialise,
    train_mode,
    trainable_names,
    warmup_steps,
)
from photoclip.core.training.wise import ALPHAS
from photoclip.core.types import Progress

if TYPE_CHECKING:
    from photoclip.core.catalog import Catalog

log = logging.getLogger(__name__)

# From scratch, the share of each label's training photos set aside to choose the epoch kept.
SELECT_SHARE = 0.1
# A step of the run: yields Progress, returns its outcome.
Step = Generator[Progress, None, Any]


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
        if self.config.epochs is not None and self.config.epochs < 1:
            raise PhotoclipError("--epochs must be at least 1.")
        if not 0.0 < self.config.eval_split < 1.0:
            raise PhotoclipError(
                f"--eval-split must be between 0 and 1 (e.g. 0.2), not {self.config.eval_split}."
            )
        self.requested_device = device
        self.templates = tuple(templates or albums.templates or default_templates())
        self.name = registry.check_name(name) if name else self._default_name()
        if self._taken(self.name):
            raise PhotoclipError(
                f"A model named {self.name!r} already exists: choose another --name."
            )
        self.result: TrainResult | None = None
        self.picked: Picked | None = None  # the settings the run uses, once prepare() chose
        self._cancelled: Callable[[], bool] = lambda: False

    def _taken(self, name: str) -> bool:
        return (self.checkpoints / name).exists() or (
            self.catalog is not None and registry.find(self.catalog, name) is not None
        )

    def _default_name(self) -> str:
        stem = registry.slug(Path(self.albums.source).name)
        if self.config.from_scratch:
            stem += "-scratch"
        name, n = stem, 1
        while self._taken(name):
            n += 1
            name = f"{stem}-{n}"
        return name

    @property
    def partial_dir(self) -> Path:
        return self.checkpoints / f"{PARTIAL_PREFIX}{self.name}"

    # -- the job -------------------------------------------------------------------------------

    def run(self, cancel: threading.Event | None = None) -> Iterator[Progress]:
        started = time.monotonic()
        self._cancelled = cancel.is_set if cancel is not None else (lambda: False)

        run: PreparedRun | None = yield from self.prepare()
        if run is None:
            return
        state = load_partial(self.partial_dir, run.fingerprint)
        before: Evaluation = yield from self.evaluate_before(run, state)
        if self._cancelled():
            return
        opt = self.start_optimisation(run, state)
        if not (yield from self.train(run, opt, before)):
            return
        alpha, alpha_scores = yield from self.blend(run, opt)
        after: Evaluation = yield from self.evaluate_after(run)
        result = TrainResult(
            name=self.name, path=str(self.checkpoints / self.name), base=self.base,
            before=before, after=after, seconds=time.monotonic() - started, wise_alpha=alpha,
            alpha_scores=alpha_scores, steps=opt.step, train_photos=len(run.train_idx),
            failures=run.photos.failures,
            settings=self.picked.as_dict() if self.picked is not None else {},
            best_epoch=None if opt.best is None else int(opt.best["epoch"]),
            epochs_run=-(-opt.step // opt.steps_per_epoch),
        )
        yield from self.save(run, result)

    # -- the steps -----------------------------------------------------------------------------

    def prepare(self) -> Step:
        """Load the base model onto the device, read the photos and split them; returns the
        prepared run, or None when cancelled while reading."""
        cfg = self.config
        yield Progress("load", 0, 1, message=f"loading {self.base}")
        encoder = ClipEncoder(self.base, device="cpu")
        model, tokenizer = encoder.torch_parts()
        device = resolve_device(self.requested_device)
        model.float().to(device)
        yield Progress("load", 1, 1, message=f"{self.base} on {device}")
        photos = Photos(Preprocessing.of(encoder))
        yield from load_photos(self.albums.samples, photos, cancel=self._cancelled)
        if self._cancelled():
            return None
        split = stratified_split(photos.labels, photos.hashes, cfg.eval_split, cfg.seed)
        if not split.held_out or len(split.train) < 2:
            raise DataError(
                f"{self.albums.source} has too few readable photos to train and evaluate: put at "
                "least 2 photos in each of at least 2 albums."
            )
        train_idx, select_idx, test_idx = self._selection_split(photos, split)
        picked = pick(cfg, train_photos=len(train_idx), device=device,
                      weights=sum(int(p.numel()) for p in model.parameters()))
        self.config, self.picked, cfg = picked.config, picked, picked.config
        yield Progress("load", 1, 1, message=f"settings: {picked.describe()}",
                       extra={"settings": picked.as_dict()})
        assert cfg.batch_size is not None
        live = LiveModel(model, tokenizer, device, autocast_for(device),
                         batch_size=max(cfg.batch_size, 32))
        flat = prompts_for(self.albums.labels, self.templates)
        fp = fingerprint(self.base, asdict(replace(cfg, checkpoint_every_s=0)),
                         self.albums.labels, self.templates,
                         sorted(zip(photos.hashes, photos.labels, strict=True)))
        return PreparedRun(
            encoder=encoder, model=model, tokenizer=tokenizer, device=device, live=live,
            photos=photos, held_out=split.held_out, train_idx=train_idx,
            select_idx=select_idx, test_idx=test_idx,
            labels=np.asarray(photos.labels, dtype=np.int64),
            tokens=tokenize(model, tokenizer, flat),
            fingerprint=fp, negatives=HardNegatives.build(
                self.albums.labels, self.templates, tokenizer,
                lambda texts: tokenize(model, tokenizer, texts)) if cfg.hard_negatives else None,
        )

    def evaluate_before(self, run: PreparedRun, state: dict[str, Any] | None) -> Step:
        """Quick mode and the "before" figures, on the base weights (a resumed run has them)."""
        if state is not None:
            yield Progress("train", int(state["step"]), 0,
                           message=f"resuming from step {int(state['step'])}",
                           extra={"resumed_from": int(state["step"])})
            return Evaluation(**state["before"])
        yield Progress("evaluate", 0, 1, message="measuring the model before training")
        before = self._measure(run)
        yield Progress("evaluate", 1, 1, message="before training", extra={
            "zero_shot_accuracy": before.zero_shot_accuracy,
            "prototype_accuracy": before.prototype_accuracy,
            "linear_probe_accuracy": before.linear_probe_accuracy,
        })
        return before

    def start_optimisation(self, run: PreparedRun, state: dict[str, Any] | None) -> Optimisation:
        """Choose the weights that train and build the optimiser, resumed from `state`."""
        import torch

        cfg = self.config
        model = run.model
        torch.manual_seed(cfg.seed)
        if cfg.from_scratch:
            reinitialise(model)
        names = trainable_names(model, cfg.from_scratch, cfg.blocks)
        params = dict(model.named_parameters())
        for pname, param in params.items():
            param.requires_grad_(pname in set(names))
        optimizer = torch.optim.AdamW(
            parameter_groups(model, names, cfg.weight_decay),
            lr=cfg.learning_rate, betas=(0.9, 0.98), eps=1e-6,
        )
        assert cfg.batch_size is not None
        assert cfg.epochs is not None
        batch = min(cfg.batch_size, len(run.train_idx))
        steps_per_epoch = max(1, len(run.train_idx) // batch)  # the ragged end is dropped
        total = steps_per_epoch * cfg.epochs
        opt = Optimisation(
            names=names, params=params,
            original={n: params[n].detach().clone() for n in names},
            optimizer=optimizer, scaler=grad_scaler_for(run.device), batch=batch,
            steps_per_epoch=steps_per_epoch, total=total, warmup=warmup_steps(total),
            micro=cfg.micro_batch if 0 < cfg.micro_batch < batch else batch,
            buffers={n: b for n, b in model.named_buffers() if b.is_floating_point()},
        )
        if state is not None:
            for pname, value in state["params"].items():
                params[pname].data.copy_(value.to(run.device))
            optimizer.load_state_dict(state["optimizer"])
            opt.step = int(state["step"])
            opt.best = state.get("best")
        return opt

    def train(self, run: PreparedRun, opt: Optimisation, before: Evaluation) -> Step:
        """Every remaining epoch; returns True when all steps ran, False when cancelled.

        However it ends (cancelled, interrupted, failed or done) the work is kept as a
        checkpoint until the model is saved, so nothing after this step can lose the training.
        """
        opt.first_step = opt.step
        opt.started = opt.last_save = time.monotonic()
        try:
            while opt.step < opt.total and not opt.stopped_early:
                if not (yield from self.train_one_epoch(run, opt, before)):
                    return False
        finally:
            if opt.step > opt.first_step:
                try:
                    self._save_partial(run, opt, before)
                except Exception:
                    log.warning("could not save a training checkpoint", exc_info=True)
        for param in opt.params.values():
            param.requires_grad_(False)
        keep_best(opt)
        return True

    def train_one_epoch(self, run: PreparedRun, opt: Optimisation, before: Evaluation) -> Step:
        """The rest of the current epoch, one Progress per step; False when cancelled."""
        cfg = self.config
        epoch, start = divmod(opt.step, opt.steps_per_epoch)
        order = np.random.default_rng([cfg.seed, epoch]).permutation(run.train_idx)
        for pos in range(start, opt.steps_per_epoch):
            chosen = order[pos * opt.batch : (pos + 1) * opt.batch].tolist()
            lr, loss = self._train_step(run, opt, chosen, np.random.default_rng(
                [cfg.seed, epoch, pos, 1]))
            scale = float(run.model.logit_scale.detach().exp().item())
            elapsed = time.monotonic() - opt.started
            extra: dict[str, object] = {
                "step": opt.step, "epoch": epoch + 1, "loss": loss, "lr": lr,
                "temperature": 1.0 / scale, "logit_scale": scale,
            }
            # Scored on the selection photos, never on those the figures are measured on: this
            # score chooses the epoch that is kept.
            if (cfg.eval_every_epoch and run.select_idx
                    and opt.step % opt.steps_per_epoch == 0):
                score = self._accuracy(run, run.select_idx)
                extra["accuracy"] = score
                extra["stop"] = note_epoch(opt, epoch + 1, score, cfg.patience,
                                           min_epochs=(cfg.epochs or 0) // 2)
            yield Progress("train", opt.step, opt.total,
                           rate=(opt.step - opt.first_step) / elapsed if elapsed > 0 else 0.0,
                           extra=extra)
            if self._cancelled():
                return False
            if opt.stopped_early:
                return True
            if (time.monotonic() - opt.last_save > cfg.checkpoint_every_s
                    and opt.step < opt.total):
                self._save_partial(run, opt, before)
                opt.last_save = time.monotonic()
        return True

    def blend(self, run: PreparedRun, opt: Optimisation) -> Step:
        """WiSE-FT (not from scratch): blend the trained weights with the original ones at the
        alpha the selection photos like best; returns (alpha or None, score per alpha)."""
        if self.config.from_scratch:
            return None, {}
        if not self.config.wise:
            return 1.0, {}
        yield Progress("wise", 0, len(ALPHAS), message="blending with the original weights")
        alpha, scores = blend(opt.original, opt.params, opt.names,
                              lambda: self._accuracy(run, run.select_idx),
                              photos=len(run.select_idx))
        yield Progress("wise", len(ALPHAS), len(ALPHAS), message=f"alpha {alpha}",
                       extra={"alpha": alpha})
        return alpha, scores

    def evaluate_after(self, run: PreparedRun) -> Step:
        yield Progress("evaluate", 0, 1, message="measuring the model after training")
        after = self._measure(run)
        yield Progress("evaluate", 1, 1, message="after training",
                       extra={"zero_shot_accuracy": after.zero_shot_accuracy})
        return after

    def save(self, run: PreparedRun, result: TrainResult) -> Step:
        """Save the model folder, register it, and drop the partial checkpoint."""
        yield Progress("save", 0, 1, message=f"saving {self.name}")
        photos = run.photos
        seen = {photos.hashes[i] for i in (*run.train_idx, *run.select_idx)}
        final = self.checkpoints / self.name
        staged = stage_model(final, run.model, run.tokenizer, run.encoder.preprocessing, seen,
                             self._metadata(result, photos, run.held_out))
        if self.catalog is None:
            publish_model(staged, final)
        else:
            # The row and the folder come together: the rename happens inside the transaction
            # that writes the row, which is rolled back if the rename fails. A kill between the
            # rename and the commit leaves a finished folder without a row, which the registry
            # adopts from its photoclip.json (registry.recover) on its next read.
            with self.catalog.transaction():
                if registry.by_source(self.catalog, self.base) is None:  # a fine-tuned base
                    registry.ensure_base(self.catalog, self.base)
                registry.register(self.catalog, self.name, base=self.base, path=str(final),
                                  kind="finetuned", metrics=result.as_dict())
                publish_model(staged, final)
        shutil.rmtree(self.partial_dir, ignore_errors=True)
        self.result = result
        before, after = result.before, result.after
        yield Progress("save", 1, 1, finished=True, message=(
            f"{self.name}: zero-shot accuracy {before.zero_shot_accuracy:.3f} -> "
            f"{after.zero_shot_accuracy:.3f} on {after.images} held-out photos"))

    # -- pieces --------------------------------------------------------------------------------

    def _train_step(self, run: PreparedRun, opt: Optimisation, chosen: list[int],
                    rng: np.random.Generator) -> tuple[float, float]:
        """One optimiser step on the photos `chosen`, each with a random caption of its label;
        returns (learning rate, loss)."""
        import torch

        n_templates = len(self.templates)
        labels = run.labels[chosen]
        mirror = [mirror_safe(self.albums.labels[int(label)]) for label in labels]
        pixels = torch.from_numpy(run.photos.train_pixels(chosen, rng, mirror))
        which = torch.from_numpy(labels * n_templates + rng.integers(0, n_templates, len(chosen)))
        batch = (pixels, run.tokens["input_ids"][which], run.tokens["attention_mask"][which],
                 torch.from_numpy(labels))
        lr = learning_rate(opt.step, opt.total, opt.warmup, self.config.learning_rate)
        for group in opt.optimizer.param_groups:
            group["lr"] = lr
        negatives = None if run.negatives is None else run.negatives.batch(which.tolist(), rng)
        train_mode(run.model)
        loss, opt.micro = optimiser_step(run.model, opt.optimizer, opt.scaler, run.live.autocast,
                                         run.device, batch, opt.micro, negatives)
        with torch.no_grad():
            run.model.logit_scale.clamp_(0.0, MAX_LOGIT_SCALE)
        opt.step += 1
        return lr, float(loss)

    def _selection_split(self, photos: Photos,
                         split: Split) -> tuple[list[int], list[int], list[int]]:
        """The split -> (photos that train, that choose, that measure).

        Choosing (the WiSE alpha, the epoch kept by early stopping) on the photos the figures
        are measured on would flatter the result. With WiSE-FT half of each label's held-out
        photos choose and the other half measure; from scratch, where every held-out photo
        measures, a share of each label's training photos is set aside to choose instead.
        """
        held, train = list(split.held_out), list(split.train)
        if self.config.from_scratch:
            if self.config.patience == 0 or not self.config.eval_every_epoch:
                return train, [], held
            sub = stratified_split([photos.labels[i] for i in train],
                                   [photos.hashes[i] for i in train], SELECT_SHARE,
                                   self.config.seed + 1)
            return [train[i] for i in sub.train], [train[i] for i in sub.held_out], held
        sub = stratified_split([photos.labels[i] for i in held],
                               [photos.hashes[i] for i in held], 0.5, self.config.seed + 1)
        # A label with a single held-out photo keeps it for measuring (the split's train side).
        return train, [held[i] for i in sub.held_out], [held[i] for i in sub.train]

    def _measure(self, run: PreparedRun) -> Evaluation:
        return measure(run.live, run.photos, run.labels, self.albums.labels, self.templates,
                       run.test_idx, run.train_idx)

    def _accuracy(self, run: PreparedRun, indices: Sequence[int]) -> float:
        return held_out_accuracy(run.live, run.photos, run.labels, self.albums.labels,
                                 self.templates, indices)

    def _save_partial(self, run: PreparedRun, opt: Optimisation, before: Evaluation) -> None:
        save_partial(self.partial_dir, {
            "fingerprint": run.fingerprint, "step": opt.step,
            "params": {n: opt.params[n].detach().cpu() for n in opt.names},
            "optimizer": opt.optimizer.state_dict(),
            "before": asdict(before), "best": opt.best,
        })
        log.info("checkpoint at step %d saved to %s", opt.step, self.partial_dir)

    def _metadata(self, result: TrainResult, photos: Photos,
                  held_out: Sequence[int]) -> dict[str, Any]:
        """photoclip.json: where the model came from and how it measured."""
        return {
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
