"""Fine-tuning works for every supported family, with the family's own loss: SigLIP's
pairwise sigmoid loss (with its learnable bias) for SigLIP and SigLIP 2, CLIP's softmax
InfoNCE for the others; the partial fine-tune finds each family's last blocks."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from training_support import make_albums

from photoclip.core.training import loss as loss_module
from photoclip.core.training import steps
from photoclip.core.training.data import read_albums
from photoclip.core.training.trainer import TrainConfig, Trainer

FAMILIES = ("clip", "siglip", "siglip2", "metaclip_2", "chinese_clip", "altclip")
SIGMOID = {"siglip", "siglip2"}


@pytest.fixture(scope="module")
def albums(tmp_path_factory) -> Path:
    return make_albums(tmp_path_factory.mktemp("albums"), 6,
                       ["red circle", "blue square", "green triangle"])


@pytest.mark.parametrize("family", FAMILIES)
def test_each_family_fine_tunes_with_its_own_loss(family, tiny_family_dir, albums, tmp_path,
                                                  monkeypatch):
    used: list[str] = []
    for name in ("contrastive_loss", "sigmoid_loss"):
        real = getattr(loss_module, name)

        def spy(*a, _real=real, _name=name, **kw):
            used.append(_name)
            return _real(*a, **kw)

        monkeypatch.setattr(steps, name, spy)
    model_dir = tiny_family_dir(family)
    trainer = Trainer(read_albums(albums), base=str(model_dir), checkpoints=tmp_path / "ckpt",
                      device="cpu", config=TrainConfig(epochs=2, batch_size=6, lr=1e-3))
    list(trainer.run())
    result = trainer.result
    assert result is not None
    assert used
    assert set(used) == {"sigmoid_loss" if family in SIGMOID else "contrastive_loss"}
    assert result.steps > 0
    assert 0.0 <= result.after.zero_shot_accuracy <= 1.0


def test_sigmoid_loss_counts_same_label_pairs_as_positives():
    img = torch.nn.functional.normalize(torch.randn(4, 8), dim=-1)
    img[1] = img[0]  # two photos of one label, alike
    txt = img.clone()
    labels = torch.tensor([0, 0, 1, 2])
    scale, bias = torch.tensor(10.0), torch.tensor(-5.0)
    with_labels = loss_module.sigmoid_loss(img, txt, scale, bias, labels)
    diagonal_only = loss_module.sigmoid_loss(img, txt, scale, bias, torch.arange(4))
    # photos 0 and 1 share a label: calling their cross pair a negative costs more
    assert with_labels < diagonal_only
    # a hand computation: -mean over rows of the sum over columns of log sigmoid(z * logit)
    logits = scale * img @ txt.t() + bias
    z = (labels[:, None] == labels[None, :]).float() * 2 - 1
    expected = -torch.nn.functional.logsigmoid(z * logits).sum() / 4
    assert torch.isclose(with_labels, expected)


def test_small_conv_partial_fine_tune_keeps_its_first_stages_whole(albums, tmp_path,
                                                                   monkeypatch):
    """photoclip/small-conv's partial fine-tune trains its last two convolutional stages (and
    the text tower's last blocks, the projections and the temperature) and leaves the first
    stages as they were: their weights and their batch norms' running statistics, which in
    train mode would otherwise drift to the new albums' photos."""
    from safetensors.torch import load_file

    from photoclip.core.encoder import builtin

    monkeypatch.setenv(builtin.ENV_CACHE, str(tmp_path / "built"))
    base = builtin.ensure_built(builtin.SMALL_CONV)
    trainer = Trainer(read_albums(albums), base=str(base), checkpoints=tmp_path / "ckpt",
                      device="cpu", config=TrainConfig(epochs=2, batch_size=6, lr=1e-2,
                                                       wise=False))
    list(trainer.run())
    assert trainer.result is not None
    before = load_file(base / "model.safetensors")
    after = load_file(Path(trainer.result.path) / "model.safetensors")
    moved = {k for k in before if not torch.equal(before[k], after[k])}
    for stage in (0, 1):
        kept = [k for k in before if k.startswith(f"vision_model.stages.{stage}.")]
        assert any("running_mean" in k for k in kept)
        assert not moved & set(kept), sorted(moved & set(kept))
    assert any(k.startswith("vision_model.stages.3.") and "running_mean" in k for k in moved)
    assert any(k.startswith("vision_model.stages.3.") and k.endswith("weight") for k in moved)
