"""`python -m photoclip.bench_finetune --albums DIR --model SMALL_CLIP`: does fine-tuning on
"my albums" keep what the model knew?

Half of the albums' labels are "what the model already knows": a small CLIP is pretrained on
them from scratch. The other half are "my albums": the pretrained model is fine-tuned on them
with the default (partial) fine-tune, then blended with its pretrained weights (WiSE-FT) at the
alpha the trainer would choose (on held-out photos of the new labels: the smallest alpha within
one standard error of the best) and at WiSE-FT's 0.5.
Every figure is zero-shot accuracy on photos held out of both trainings: on the new labels
(among the new labels), on the old labels (among the old labels), and on all labels together.

Runs on the CPU in minutes for a model of a few million weights; with real weights (a hub id
as --model and --no-pretrain) it measures a pretrained model's fine-tune the same way.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from photoclip.core.encoder import ClipEncoder
from photoclip.core.evaluation import (
    default_templates,
    embed_images,
    text_classifier,
    zero_shot_accuracy,
)
from photoclip.core.training.config import TrainConfig
from photoclip.core.training.data import (
    Albums,
    Photos,
    Preprocessing,
    load_photos,
    read_albums,
    stratified_split,
)
from photoclip.core.training.trainer import Trainer
from photoclip.core.training.wise import ALPHAS, choose_alpha, interpolate


@dataclass(frozen=True)
class Row:
    model: str
    new: float  # held-out photos of the new labels, among the new labels
    old: float  # held-out photos of the old labels, among the old labels
    both: float  # every held-out photo, among all labels

    def as_dict(self) -> dict[str, Any]:
        return {"model": self.model, "new": round(self.new, 4), "old": round(self.old, 4),
                "all": round(self.both, 4)}


def subset(albums: Albums, keep: Sequence[int]) -> Albums:
    """The albums of the labels `keep` (indices), relabelled 0..len(keep)-1."""
    index = {old: new for new, old in enumerate(keep)}
    samples = tuple(replace(s, label=index[s.label]) for s in albums.samples if s.label in index)
    return Albums(albums.source, tuple(albums.labels[i] for i in keep), samples,
                  albums.templates)


class HeldOut:
    """The photos held out of every training here (the trainer's own split, seed 0)."""

    def __init__(self, albums: Albums, eval_split: float) -> None:
        self.albums = albums
        self.eval_split = eval_split
        self._cache: dict[str, tuple[Photos, np.ndarray]] = {}

    def photos(self, encoder: ClipEncoder) -> tuple[Photos, np.ndarray]:
        key = repr(Preprocessing.of(encoder))
        if key not in self._cache:
            photos = Photos(Preprocessing.of(encoder))
            for _ in load_photos(self.albums.samples, photos):
                pass
            split = stratified_split(photos.labels, photos.hashes, self.eval_split)
            self._cache[key] = (photos, np.asarray(split.held_out))
        return self._cache[key]

    def count(self, model: str, group: Sequence[int]) -> int:
        """How many of `model`'s held-out photos the labels `group` have."""
        photos, held = self.photos(ClipEncoder(model, device="cpu"))
        return int(np.isin(np.asarray(photos.labels)[held], group).sum())

    def row(self, name: str, model: str, old: Sequence[int], new: Sequence[int]) -> Row:
        encoder = ClipEncoder(model, device="cpu")
        photos, held = self.photos(encoder)
        labels = np.asarray(photos.labels)[held]
        emb = embed_images(encoder, photos, held.tolist(), 64)
        templates = default_templates()

        def accuracy(group: Sequence[int]) -> float:
            rows = np.isin(labels, group)
            remap = {g: i for i, g in enumerate(group)}
            classifier = text_classifier(encoder.encode_texts,
                                         [self.albums.labels[g] for g in group], templates)
            return zero_shot_accuracy(emb[rows], np.asarray([remap[v] for v in labels[rows]]),
                                      classifier)

        return Row(name, accuracy(new), accuracy(old), accuracy(range(len(self.albums.labels))))


def blend_folder(base: str, tuned: str, alpha: float, out: Path) -> str:
    """A copy of `tuned` with its weights at `alpha` between `base` (0) and `tuned` (1), for
    any model family photoclip loads (CLIP, SigLIP, its own small-conv...)."""
    from photoclip.core.encoder.loading import from_pretrained

    a_model, _, _ = from_pretrained(base, base)
    b_model, tokenizer, _ = from_pretrained(tuned, tuned)
    b_model.load_state_dict(interpolate(a_model.state_dict(), b_model.state_dict(), alpha))
    b_model.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    for name in ("preprocessor_config.json",):
        src = Path(tuned) / name
        if src.exists():
            (out / name).write_bytes(src.read_bytes())
    return str(out)


def run(albums_dir: str, model: str, *, pretrain: bool = True, seed: int = 0,
        pretrain_epochs: int | None = None, finetune_epochs: int | None = None,
        eval_split: float = 0.2, work: Path | None = None) -> dict[str, Any]:
    """The benchmark; returns {"rows": [...], "alpha": chosen, "labels": {"old", "new"}}."""
    albums = read_albums(albums_dir)
    n = len(albums.labels)
    old, new = list(range(n // 2)), list(range(n // 2, n))
    work = Path(work or tempfile.mkdtemp(prefix="photoclip-bench-ft-"))
    held = HeldOut(albums, eval_split)
    base = model
    if pretrain:
        trainer = Trainer(subset(albums, old), base=model, checkpoints=work, device="cpu",
                          name="pretrained", config=TrainConfig(
                              from_scratch=True, epochs=pretrain_epochs, seed=seed,
                              eval_split=eval_split))
        for _ in trainer.run():
            pass
        assert trainer.result is not None
        base = trainer.result.path
    tuner = Trainer(subset(albums, new), base=base, checkpoints=work, device="cpu",
                    name="finetuned", config=TrainConfig(
                        epochs=finetune_epochs, seed=seed, eval_split=eval_split, wise=False))
    for _ in tuner.run():
        pass
    assert tuner.result is not None
    tuned = tuner.result.path
    # The alpha the trainer would choose: on held-out photos of the new labels only (the
    # selection half; here every held-out new photo, a slightly larger sample).
    scores = {a: held.row("", blend_folder(base, tuned, a, work / f"alpha-{a}"), old, new).new
              for a in ALPHAS}
    alpha = choose_alpha(scores, photos=held.count(tuned, new))
    rows = [held.row("pretrained", base, old, new),
            held.row("fine-tuned (partial, alpha 1)", tuned, old, new),
            held.row(f"WiSE-FT (alpha {alpha}, chosen on new labels)",
                     str(work / f"alpha-{alpha}"), old, new),
            held.row("WiSE-FT (alpha 0.5)", str(work / "alpha-0.5"), old, new)]
    return {"labels": {"old": [albums.labels[i] for i in old],
                       "new": [albums.labels[i] for i in new]},
            "alpha": alpha, "alpha_scores_new": {str(a): round(s, 4) for a, s in scores.items()},
            "finetune_settings": tuner.result.settings,
            "rows": [r.as_dict() for r in rows]}


def table(report: dict[str, Any]) -> str:
    rows = report["rows"]
    pre = rows[0]
    lines = [f"{'model':<44}{'new':>7}{'old':>7}{'all':>7}{'gain new':>10}{'lost old':>10}"]
    for r in rows:
        lines.append(f"{r['model']:<44}{r['new']:>7.3f}{r['old']:>7.3f}{r['all']:>7.3f}"
                     f"{r['new'] - pre['new']:>+10.3f}{pre['old'] - r['old']:>+10.3f}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m photoclip.bench_finetune",
                                 description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--albums", required=True, help="DIR/<label>/*.jpg, at least 4 labels")
    ap.add_argument("--model", required=True, help="a CLIP folder or hub id (its architecture "
                    "is pretrained from scratch unless --no-pretrain)")
    ap.add_argument("--no-pretrain", action="store_true",
                    help="use --model's weights as what the model knows")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--pretrain-epochs", type=int, default=None)
    ap.add_argument("--finetune-epochs", type=int, default=None)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    report = run(args.albums, args.model, pretrain=not args.no_pretrain, seed=args.seed,
                 pretrain_epochs=args.pretrain_epochs, finetune_epochs=args.finetune_epochs)
    print(json.dumps(report, indent=2) if args.json else table(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
