"""Hard negatives (NegCLIP): the caption perturbations, the loss that takes them, and a training
run with `train --hard-negatives` on generated scene captions.

Run this file as a script to measure the effect (several seeds, with and without, on held-out
spatial and binding probes): PYTHONPATH=. python tests/core/test_probes_negatives.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from training_support import build_clip

from photoclip.core.probes.families import RADIUS
from photoclip.core.probes.negatives import HardNegatives, perturbations
from photoclip.core.probes.scenes import Scene, Shape, pair_in_relation, spread

SCENE_COLOURS = ("red", "green", "blue")
SCENE_SHAPES = ("circle", "square", "triangle")


def test_perturbations_swap_relations_attributes_objects_and_negate():
    negs = perturbations("red circle above a blue square")
    assert "red circle below a blue square" in negs  # relation
    assert "blue circle above a red square" in negs  # attributes
    assert "blue square above a red circle" in negs  # objects
    assert "a red circle without a blue square" in perturbations("a red circle and a blue square")
    assert "a dog without a ball" in perturbations("a dog with a ball")
    # "and" is symmetric: swapping around it would be a true caption, not a negative.
    assert "a blue square and a red circle" not in perturbations("a red circle and a blue square")
    assert perturbations("grandmas garden") == []
    assert all(n != "red circle above a blue square" for n in negs)
    assert perturbations("a photo of a red square left of a green circle.")[0] == \
        "a photo of a red square right of a green circle."


def test_loss_with_hard_negatives_is_never_below_the_plain_loss():
    import torch

    from photoclip.core.training.loss import contrastive_loss

    gen = torch.Generator().manual_seed(0)
    for _ in range(5):
        img, txt, neg = (torch.randn(n, 16, generator=gen) for n in (8, 8, 6))
        labels = torch.tensor([0, 0, 1, 2, 3, 4, 5, 6])
        scale = torch.tensor(20.0)
        plain = contrastive_loss(img, txt, scale, labels)
        hard = contrastive_loss(img, txt, scale, labels, neg, torch.full((6,), -1))
        assert hard >= plain
    # A "negative" that is a photo's own caption is no negative for that photo.
    own = contrastive_loss(img, txt, scale, labels, txt[:1], torch.tensor([0]))
    counted = contrastive_loss(img, txt, scale, labels, txt[:1], torch.tensor([-1]))
    assert own < counted
    assert torch.isfinite(own)


def test_gradient_caching_keeps_the_hard_negatives_loss_and_gradients(tiny_encoder):
    import torch

    from photoclip.core.training.steps import contrastive_backward

    model, tokenizer = tiny_encoder.torch_parts()
    model = type(model)(model.config).float()
    model.load_state_dict(tiny_encoder.torch_parts()[0].float().state_dict())
    captions = [f"a photo of a {c} circle above a blue square" for c in ("red", "green")] * 3
    tok = tokenizer(captions, padding=True, return_tensors="pt")
    negs = HardNegatives.build([c.removeprefix("a photo of a ") for c in captions[:2]],
                               ["a photo of a {}"], tokenizer)
    rng = np.random.default_rng(0)
    negatives = negs.batch([0, 1, 0, 1, 0, 1], rng)
    assert negatives is not None
    pixels = torch.randn(6, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    labels = torch.tensor([0, 1, 0, 1, 0, 1])

    def run(micro):
        model.zero_grad(set_to_none=True)
        loss = contrastive_backward(model, None, lambda: torch.autocast("cpu", enabled=False),
                                    "cpu", pixels, tok["input_ids"], tok["attention_mask"],
                                    labels, micro, negatives=negatives)
        return loss, model.text_projection.weight.grad.clone()

    whole, grad_whole = run(6)
    cached, grad_cached = run(2)
    assert cached == pytest.approx(whole, rel=1e-5)
    assert torch.allclose(grad_cached, grad_whole, atol=1e-5)


# -- generated scene albums ----------------------------------------------------------------------


def scene_labels() -> list[tuple[str, str, str, str, str]]:
    """(kind, colour a, shape a, colour b, shape b): "above" scenes and unordered "and" scenes."""
    out = []
    for ca in SCENE_COLOURS:
        for sa in SCENE_SHAPES:
            for cb in SCENE_COLOURS:
                for sb in SCENE_SHAPES:
                    if ca == cb or sa == sb:
                        continue
                    out.append(("above", ca, sa, cb, sb))
                    if SCENE_COLOURS.index(ca) < SCENE_COLOURS.index(cb):
                        out.append(("and", ca, sa, cb, sb))
    return out


def make_scene_albums(root: Path, per_label: int, seed: int = 0, size: int = 32) -> Path:
    """root/<caption>/NNN.png: "red circle above a blue square", "red circle and a blue square"
    (the default template "a photo of a {}." then reads like the probes' captions)."""
    rng = np.random.default_rng(seed)
    for kind, ca, sa, cb, sb in scene_labels():
        folder = root / f"{ca} {sa} {kind} a {cb} {sb}"
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_label):
            if kind == "above":
                pa, pb = pair_in_relation(rng, "above", RADIUS)
            else:
                pa, pb = spread(rng, 2, RADIUS)
            scene = Scene((Shape(sa, ca, *pa, RADIUS), Shape(sb, cb, *pb, RADIUS)),
                          int(rng.integers(0, 2**31)))
            scene.draw(size).save(folder / f"{i:03d}.png")
    return root


@pytest.mark.slow
def test_training_with_hard_negatives_runs_and_saves(capsys, tmp_path, clip_tokenizer_dir):
    from photoclip.cli import main

    albums = make_scene_albums(tmp_path / "scenes", per_label=3)
    model = build_clip(tmp_path / "scene-clip", clip_tokenizer_dir, image_size=32, patch_size=8)
    code = main(["--model", str(model), "--device", "cpu", "train", "--albums", str(albums),
                 "--from-scratch", "--epochs", "1", "--batch-size", "16", "--micro-batch", "8",
                 "--hard-negatives", "--name", "hard", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    data = json.loads(out)
    saved = Path(data["path"])
    assert (saved / "photoclip.json").is_file()
    assert json.loads((saved / "photoclip.json").read_text())["config"]["hard_negatives"] is True
    assert data["steps"] >= 1


# -- the measurement (not a test) ----------------------------------------------------------------


def _probe(model_dir: str, family: str, groups: tuple[str, ...] | None, seed: int) -> float:
    """Accuracy on held-out probe items in the training vocabulary (no yellow)."""
    from photoclip.core.encoder import ClipEncoder
    from photoclip.core.probes import generate
    from photoclip.core.probes.evaluate import choose

    enc = ClipEncoder(model_dir, device="cpu")
    items = [i for i in generate(family, 600, seed=1000 + seed)
             if "yellow" not in i.correct and (groups is None or i.group in groups)][:200]
    pixels = np.stack([enc.preprocess(i.scene.draw(enc.image_size)) for i in items])
    images = enc.encode_images(pixels)
    texts = np.stack([enc.encode_texts(list(i.captions)) for i in items])
    picked = choose(images, texts)
    return float(np.mean([p == i.answer for p, i in zip(picked, items, strict=True)]))


def measure(root: Path, seeds: tuple[int, ...] = (0, 1, 2), epochs: int = 30,
            per_label: int = 16) -> list[dict]:
    import tempfile

    from photoclip.core.training.data import read_albums
    from photoclip.core.training.trainer import TrainConfig, Trainer

    sys.path.insert(0, str(Path(__file__).parents[1]))
    from conftest import _open_clip_bpe_path, write_clip_vocab
    from transformers import CLIPTokenizer

    write_clip_vocab(_open_clip_bpe_path(), root / "bpe")
    tok_dir = root / "tok"
    CLIPTokenizer.from_pretrained(str(root / "bpe"), model_max_length=77).save_pretrained(
        str(tok_dir))
    rows = []
    for seed in seeds:
        albums = read_albums(make_scene_albums(root / f"scenes{seed}", per_label, seed=seed))
        base = build_clip(root / f"base{seed}", tok_dir, image_size=32, patch_size=4, seed=seed)
        for hard in (False, True):
            cfg = TrainConfig(epochs=epochs, batch_size=32, lr=2e-3, from_scratch=True,
                              seed=seed, hard_negatives=hard, eval_every_epoch=False)
            trainer = Trainer(albums, base=str(base), checkpoints=Path(tempfile.mkdtemp()),
                              device="cpu", config=cfg, templates=("a photo of a {}.",))
            for _ in trainer.run():
                pass
            assert trainer.result is not None
            path = trainer.result.path
            row = {"seed": seed, "hard_negatives": hard,
                   "zero_shot": trainer.result.after.zero_shot_accuracy,
                   "spatial_above_below": _probe(path, "spatial", ("above", "below"), seed),
                   "binding": _probe(path, "binding", None, seed)}
            print(json.dumps(row), flush=True)
            rows.append(row)
    return rows


if __name__ == "__main__":
    import tempfile

    # argv: [seeds (e.g. 0,1,2)] [epochs] [photos per label]
    argv = sys.argv[1:]
    measure(Path(tempfile.mkdtemp(prefix="hardneg-")),
            tuple(int(s) for s in argv[0].split(",")) if argv else (0, 1, 2),
            int(argv[1]) if len(argv) > 1 else 30, int(argv[2]) if len(argv) > 2 else 16)
