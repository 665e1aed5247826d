"""Settings that choose themselves (autoconfig) and early stopping that keeps the best epoch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from training_support import make_albums

from photoclip.core.training import autoconfig
from photoclip.core.training.autoconfig import pick
from photoclip.core.training.data import read_albums
from photoclip.core.training.steps import Optimisation, keep_best, note_epoch
from photoclip.core.training.trainer import TrainConfig, Trainer


def test_unset_settings_are_picked_and_named():
    picked = pick(TrainConfig(from_scratch=True), train_photos=768, weights=3_400_000,
                  device="cpu")
    cfg = picked.config
    assert cfg.batch_size == autoconfig.CPU_MAX_BATCH
    assert cfg.lr == autoconfig.SCRATCH_LR_SMALL
    assert cfg.epochs is not None
    assert cfg.epochs * (768 // cfg.batch_size) >= autoconfig.SCRATCH_STEPS
    assert set(picked.chosen) == {"batch size", "learning rate", "epochs"}
    assert "picked: batch size, learning rate, epochs" in picked.describe()


def test_what_the_user_gives_is_kept():
    picked = pick(TrainConfig(epochs=3, batch_size=16, lr=1e-4), train_photos=50,
                  weights=150_000_000, device="cuda")
    assert (picked.config.epochs, picked.config.batch_size, picked.config.lr) == (3, 16, 1e-4)
    assert picked.chosen == ()


def test_picks_follow_data_model_and_device():
    # Few photos: a small batch, so an epoch still has several steps.
    assert pick(TrainConfig(), train_photos=40, weights=10**8, device="cpu").config.batch_size == 8
    gpu = pick(TrainConfig(), train_photos=4000, weights=10**8, device="cuda").config
    cpu = pick(TrainConfig(), train_photos=4000, weights=10**8, device="cpu").config
    assert gpu.batch_size is not None
    assert cpu.batch_size is not None
    assert gpu.batch_size > cpu.batch_size
    # A pretrained ViT-B-sized model fine-tunes at the usual 1e-5; a big one from scratch at
    # CLIP's 5e-4; small models faster.
    assert gpu.lr == pytest.approx(1e-5)
    big = pick(TrainConfig(from_scratch=True), train_photos=4000, weights=10**8, device="cuda")
    small = pick(TrainConfig(from_scratch=True), train_photos=4000, weights=10**6, device="cuda")
    assert big.config.lr == pytest.approx(5e-4)
    assert small.config.lr is not None
    assert small.config.lr > 5e-4


def _opt() -> Optimisation:
    w = torch.nn.Parameter(torch.zeros(2))
    return Optimisation(names=["w"], params={"w": w}, original={}, optimizer=None, scaler=None,
                        batch=1, steps_per_epoch=1, total=10, warmup=1, micro=1)


def test_early_stopping_keeps_the_best_epoch_not_the_last():
    opt = _opt()
    scores = [0.2, 0.6, 0.5, 0.4, 0.3]
    stopped_at = None
    for epoch, score in enumerate(scores, 1):
        opt.params["w"].data.fill_(float(epoch))
        if note_epoch(opt, epoch, score, patience=3):
            stopped_at = epoch
            break
    assert stopped_at == 5  # three epochs after the best (2) without a better score
    keep_best(opt)
    assert opt.params["w"].tolist() == [2.0, 2.0]  # epoch 2's weights, not epoch 5's


def test_no_early_stop_in_the_first_half_of_the_schedule():
    opt = _opt()
    for epoch, score in enumerate([0.6, 0.2, 0.2, 0.2, 0.2, 0.2], 1):
        assert not note_epoch(opt, epoch, score, patience=2, min_epochs=7)
    assert note_epoch(opt, 7, 0.2, patience=2, min_epochs=7)


def test_train_with_no_settings_says_what_it_picked_and_keeps_its_best_epoch(
        tmp_path, tiny_clip_dir):
    albums = make_albums(tmp_path / "albums", 8, ["red circle", "blue square"])
    trainer = Trainer(read_albums(albums), base=str(tiny_clip_dir), checkpoints=tmp_path / "c",
                      device="cpu", config=TrainConfig(from_scratch=True, epochs=4))
    progress = list(trainer.run())
    said = [p.message for p in progress if "settings" in p.extra]
    assert said
    assert "picked: batch size, learning rate" in said[0]
    result = trainer.result
    assert result is not None
    assert result.settings["epochs"] == 4
    assert result.settings["picked"] == ["batch size", "learning rate"]
    scores = [p.extra["accuracy"] for p in progress if "accuracy" in p.extra]
    assert result.best_epoch is not None
    assert scores[result.best_epoch - 1] == max(scores)
    assert np.isfinite(result.after.zero_shot_accuracy)
