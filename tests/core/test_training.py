"""Training pieces: the loss, the schedule, WiSE-FT, the held-out split, the data a batch sees."""

from __future__ import annotations

import itertools
import math
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
import skimage
import torch
import torch.nn.functional as F
from PIL import Image
from training_support import make_albums

from photoclip.core.indexing import file_hash
from photoclip.core.training.data import (
    DataError,
    Photos,
    Preprocessing,
    load_photos,
    random_resized_crop_box,
    read_albums,
    stratified_split,
)
from photoclip.core.training.loss import contrastive_loss
from photoclip.core.training.steps import contrastive_backward, learning_rate, trainable_names
from photoclip.core.training.trainer import TrainConfig, Trainer
from photoclip.core.training.wise import choose_alpha, interpolate

SKIMAGE_DATA = Path(skimage.__file__).parent / "data"

# -- loss ----------------------------------------------------------------------------------------


def _hand_loss(img: np.ndarray, txt: np.ndarray, scale: float, labels: list[int]) -> float:
    """The multi-positive symmetric InfoNCE written out term by term."""
    n = len(labels)
    sims = [[scale * float(np.dot(img[i], txt[j])) for j in range(n)] for i in range(n)]

    def direction(logit: list[list[float]]) -> float:
        total = 0.0
        for i in range(n):
            positives = [j for j in range(n) if labels[j] == labels[i]]
            log_z = math.log(sum(math.exp(v) for v in logit[i]))
            total += -sum((logit[i][j] - log_z) / len(positives) for j in positives)
        return total / n

    transposed = [[sims[j][i] for j in range(n)] for i in range(n)]
    return (direction(sims) + direction(transposed)) / 2


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_loss_matches_a_hand_computation():
    rng = np.random.default_rng(1)
    img, txt = _unit(rng.normal(size=(5, 4))), _unit(rng.normal(size=(5, 4)))
    labels = [0, 1, 0, 2, 1]
    got = contrastive_loss(torch.tensor(img), torch.tensor(txt), torch.tensor(3.0),
                           torch.tensor(labels))
    assert got.item() == pytest.approx(_hand_loss(img, txt, 3.0, labels), rel=1e-5)


def test_loss_with_distinct_labels_is_clips_loss():
    torch.manual_seed(0)
    img, txt = F.normalize(torch.randn(6, 8), dim=1), F.normalize(torch.randn(6, 8), dim=1)
    logits = 14.3 * img @ txt.t()
    target = torch.arange(6)
    clip = (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target)) / 2
    assert contrastive_loss(img, txt, torch.tensor(14.3)).item() == pytest.approx(clip.item())
    assert contrastive_loss(img, txt, torch.tensor(14.3), target).item() == pytest.approx(
        clip.item())


def test_loss_is_symmetric_in_images_and_texts():
    torch.manual_seed(0)
    img, txt = torch.randn(7, 8), torch.randn(7, 8)
    labels = torch.tensor([0, 0, 1, 2, 2, 2, 3])
    scale = torch.tensor(20.0)
    assert contrastive_loss(img, txt, scale, labels).item() == pytest.approx(
        contrastive_loss(txt, img, scale, labels).item())


def test_same_label_pairs_are_positives_not_negatives():
    # Two photos of one label, captioned through two templates (e0, e1); both photos sit
    # midway between the captions. Multi-positive: an optimum, nothing to change. Plain
    # InfoNCE: each photo is pulled to its own caption and pushed from its twin's.
    e = torch.eye(3)
    middle = (e[0] + e[1]) / 2**0.5
    img = torch.stack([middle, middle, e[2]]).requires_grad_(True)
    txt = torch.stack([e[0], e[1], e[2]])
    scale = torch.tensor(100.0)
    contrastive_loss(img, txt, scale, torch.tensor([0, 0, 1])).backward()
    assert img.grad is not None
    assert img.grad.abs().max().item() < 1e-6
    img.grad = None
    contrastive_loss(img, txt, scale).backward()  # diagonal targets
    assert img.grad.abs().max().item() > 1e-3


def test_gradient_caching_gives_the_full_batch_gradient(tiny_clip_dir):
    from transformers import CLIPModel, CLIPTokenizer

    model = CLIPModel.from_pretrained(str(tiny_clip_dir)).float()
    tokens = CLIPTokenizer.from_pretrained(str(tiny_clip_dir))(
        ["a photo of a cat.", "a dog", "a red car", "a photo of a cat.", "snow", "a tree"],
        padding=True, return_tensors="pt")
    torch.manual_seed(0)
    pixels = torch.randn(6, 3, 64, 64)
    labels = torch.tensor([0, 1, 2, 0, 3, 4])

    def grads(micro: int) -> tuple[float, dict[str, torch.Tensor]]:
        model.zero_grad()
        loss = contrastive_backward(model, None, _NoAutocast, "cpu", pixels,
                                    tokens["input_ids"], tokens["attention_mask"], labels, micro)
        return loss, {n: p.grad.clone() for n, p in model.named_parameters()
                      if p.grad is not None}

    full_loss, full = grads(6)
    cached_loss, cached = grads(2)
    assert cached_loss == pytest.approx(full_loss, rel=1e-6)
    assert set(cached) == set(full)
    for name, g in full.items():
        torch.testing.assert_close(cached[name], g, rtol=1e-4, atol=1e-6, msg=name)


class _NoAutocast:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


# -- schedule ----------------------------------------------------------------------------------


def test_schedule_warms_up_linearly_then_decays_by_cosine_to_zero():
    total, warmup, base = 100, 10, 1e-3
    lrs = [learning_rate(s, total, warmup, base) for s in range(total)]
    assert lrs[:warmup] == pytest.approx([base * (s + 1) / warmup for s in range(warmup)])
    assert max(lrs) == pytest.approx(base)
    decay = lrs[warmup:]
    assert all(a >= b for a, b in itertools.pairwise(decay))
    assert learning_rate(warmup + 45, total, warmup, base) == pytest.approx(base / 2)
    assert lrs[-1] < base * 0.01


# -- WiSE-FT -----------------------------------------------------------------------------------


def test_wise_alpha_zero_is_the_original_bit_for_bit(tiny_clip_dir):
    from transformers import CLIPModel

    original = CLIPModel.from_pretrained(str(tiny_clip_dir)).state_dict()
    original = {k: v.clone() for k, v in original.items()}
    original["text_projection.weight"][0, 0] = -0.0  # -0.0 + 0.0 would come back as +0.0
    torch.manual_seed(1)
    tuned = {k: v + torch.randn_like(v) if v.is_floating_point() else v + 1
             for k, v in original.items()}

    at0 = interpolate(original, tuned, 0.0)
    at1 = interpolate(original, tuned, 1.0)
    half = interpolate(original, tuned, 0.5)
    for name, value in original.items():
        assert at0[name].dtype == value.dtype
        if value.is_floating_point():
            assert torch.equal(at0[name].view(torch.int32), value.view(torch.int32)), name
            assert torch.equal(at1[name], tuned[name]), name
            torch.testing.assert_close(half[name], (value + tuned[name]) / 2)
        else:  # integer buffers (position ids) are never blended
            assert torch.equal(half[name], value), name


def test_wise_refuses_weights_of_another_model():
    a = {"w": torch.zeros(2, 2)}
    with pytest.raises(KeyError):
        interpolate(a, {"v": torch.zeros(2, 2)}, 0.5)
    with pytest.raises(ValueError, match="shape"):
        interpolate(a, {"w": torch.zeros(3, 2)}, 0.5)
    with pytest.raises(ValueError, match="alpha"):
        interpolate(a, a, 1.5)


def test_alpha_choice_prefers_the_original_on_ties():
    assert choose_alpha({0.0: 0.5, 0.25: 0.75, 0.5: 0.75, 0.75: 0.7, 1.0: 0.6}) == 0.25
    assert choose_alpha({0.0: 0.2, 0.5: 0.3, 1.0: 0.9}, (0.0, 0.5, 1.0)) == 1.0


def test_alpha_choice_keeps_the_original_unless_the_gain_is_measurable():
    """One standard error: on 40 photos a 0.80 -> 0.825 gain (one photo) is noise, so the
    blend closer to the original wins; on 40 photos 0.5 -> 0.9 is not, and on 4,000 photos
    even the small gain counts."""
    scores = {0.0: 0.30, 0.25: 0.70, 0.5: 0.80, 0.75: 0.81, 1.0: 0.825}
    assert choose_alpha(scores, photos=40) == 0.5
    assert choose_alpha(scores, photos=4000) == 1.0
    assert choose_alpha({0.0: 0.1, 0.5: 0.5, 1.0: 0.9}, (0.0, 0.5, 1.0), photos=40) == 1.0
    assert choose_alpha(scores) == 1.0  # without a count: the best score


# -- data ----------------------------------------------------------------------------------------


def test_albums_are_subfolders_and_folder_names_are_labels(tmp_path):
    root = make_albums(tmp_path / "albums", 2, ["red circle", "blue square"])
    (root / "grandmas_garden").mkdir()
    Image.new("RGB", (8, 8)).save(root / "grandmas_garden" / "a.jpg")
    (root / ".hidden").mkdir()
    Image.new("RGB", (8, 8)).save(root / ".hidden" / "b.jpg")
    (root / "empty").mkdir()
    Image.new("RGB", (8, 8)).save(root / "loose.jpg")  # not in an album
    albums = read_albums(root)
    assert albums.labels == ("blue square", "grandmas garden", "red circle")
    assert albums.counts() == [2, 1, 2]


def test_albums_need_two_labels(tmp_path):
    root = make_albums(tmp_path / "albums", 3, ["red circle"])
    with pytest.raises(DataError, match="at least 2") as err:
        read_albums(root)
    assert "\n" not in str(err.value)
    with pytest.raises(DataError, match="not a folder"):
        read_albums(tmp_path / "nope")


def test_split_is_stratified_fixed_and_follows_content_not_paths():
    labels = [0] * 10 + [1] * 5 + [2] * 1
    keys = [f"hash{i}" for i in range(len(labels))]
    split = stratified_split(labels, keys, 0.2)
    held = [labels[i] for i in split.held_out]
    assert sorted(held) == [0, 0, 1]  # 20% of 10, 20% of 5; a single photo is never held out
    assert sorted(split.train + split.held_out) == list(range(len(labels)))
    assert stratified_split(labels, keys, 0.2) == split
    # Same photos listed in another order (renamed, moved): the same photos are held out.
    order = list(reversed(range(len(labels))))
    again = stratified_split([labels[i] for i in order], [keys[i] for i in order], 0.2)
    assert {keys[order[i]] for i in again.held_out} == {keys[i] for i in split.held_out}
    assert stratified_split(labels, keys, 0.2, seed=7) != split


def test_random_resized_crop_keeps_90_to_100_percent_inside_the_photo():
    rng = np.random.default_rng(0)
    for height, width in [(64, 64), (64, 96), (300, 200), (10, 200)]:
        for _ in range(50):
            top, left, h, w = random_resized_crop_box(height, width, rng)
            assert top >= 0
            assert left >= 0
            assert top + h <= height
            assert left + w <= width
            if 0.75 <= width / height <= 4 / 3:
                assert 0.88 <= h * w / (height * width) <= 1.0


def test_eval_pixels_are_what_the_indexer_feeds_the_model(tiny_encoder, tmp_path):
    shutil.copy(SKIMAGE_DATA / "chelsea.png", tmp_path / "cat.png")
    shutil.copy(SKIMAGE_DATA / "rocket.jpg", tmp_path / "rocket.jpg")
    from photoclip.core.imaging import decode
    from photoclip.core.training.data import Sample

    samples = [Sample(str(tmp_path / "cat.png"), 0), Sample(str(tmp_path / "rocket.jpg"), 1),
               Sample(str(tmp_path / "missing.jpg"), 1)]
    photos = Photos(Preprocessing.of(tiny_encoder))
    list(load_photos(samples, photos))
    assert len(photos) == 2
    assert photos.failures[0][0].endswith("missing.jpg")
    expected = np.stack([tiny_encoder.preprocess(decode(s.path, tiny_encoder.image_size).image)
                         for s in samples[:2]])
    np.testing.assert_allclose(photos.eval_pixels([0, 1]), expected, atol=1e-5)
    augmented = photos.train_pixels([0, 1, 0, 1], np.random.default_rng(0))
    assert augmented.shape == expected[[0, 1, 0, 1]].shape
    assert not np.allclose(augmented[:2], expected)  # cropped and sometimes flipped


# -- the trainer -------------------------------------------------------------------------------


@pytest.fixture
def small_albums(tmp_path) -> Path:
    return make_albums(tmp_path / "albums", 10, ["red circle", "blue square", "green triangle"])


def _config(**kw: object) -> TrainConfig:
    values: dict[str, object] = {"epochs": 2, "batch_size": 8, "lr": 1e-3}
    values.update(kw)
    return TrainConfig(**values)


def test_held_out_photos_never_reach_a_training_batch(small_albums, tiny_clip_dir, tmp_path,
                                                      monkeypatch):
    seen: list[str] = []
    real = Photos.train_pixels

    def spy(self: Photos, indices: list[int], rng: np.random.Generator,
            *more: object) -> np.ndarray:
        seen.extend(self.hashes[i] for i in indices)
        return real(self, indices, rng, *more)  # type: ignore[arg-type]

    monkeypatch.setattr(Photos, "train_pixels", spy)
    trainer = Trainer(read_albums(small_albums), base=str(tiny_clip_dir),
                      checkpoints=tmp_path / "ckpt", device="cpu",
                      config=_config(epochs=3, eval_split=0.3))
    list(trainer.run())
    assert trainer.result is not None

    paths = sorted(small_albums.rglob("*.png"))
    hashes = [file_hash(p.read_bytes()) for p in paths]
    labels = [p.parent.name for p in paths]
    split = stratified_split(labels, hashes, 0.3)
    held = {hashes[i] for i in split.held_out}
    train = {hashes[i] for i in split.train}
    assert len(held) == 9  # 3 of each album's 10
    assert not held & set(seen)
    assert set(seen) == train  # every training photo was used: the spy saw the batches
    assert 3 <= trainer.result.after.images <= len(held)  # measured on held-out photos only


def test_partial_fine_tune_moves_only_the_last_blocks(small_albums, tiny_clip_dir, tmp_path,
                                                      monkeypatch):
    from transformers import CLIPModel

    # Keep all of the fine-tuning (alpha 1), so what moved is what trained.
    monkeypatch.setattr("photoclip.core.training.steps.choose_alpha",
                        lambda scores, *a, **k: 1.0)
    trainer = Trainer(read_albums(small_albums), base=str(tiny_clip_dir),
                      checkpoints=tmp_path / "ckpt", device="cpu",
                      config=_config(blocks=1, lr=1e-2))
    list(trainer.run())
    assert trainer.result is not None
    base = CLIPModel.from_pretrained(str(tiny_clip_dir)).state_dict()
    tuned = CLIPModel.from_pretrained(trainer.result.path).state_dict()
    moved = {k for k in base if not torch.equal(base[k], tuned[k])}
    frozen = set(base) - set(trainable_names(CLIPModel.from_pretrained(str(tiny_clip_dir)),
                                             False, 1))
    assert trainer.result.wise_alpha == 1.0
    assert not moved & frozen
    assert any(k.startswith("vision_model.encoder.layers.1.") for k in moved)
    assert not any(k.startswith("vision_model.encoder.layers.0.") for k in moved)


def test_cancel_keeps_the_library_model_and_a_resume_finishes_the_same_run(
        small_albums, tiny_clip_dir, tmp_path):
    from transformers import CLIPModel

    def trainer(ckpt: Path) -> Trainer:
        return Trainer(read_albums(small_albums), base=str(tiny_clip_dir), checkpoints=ckpt,
                       device="cpu", name="mine", config=_config(epochs=3, from_scratch=True))

    straight = trainer(tmp_path / "a")
    list(straight.run())
    assert straight.result is not None

    cancel = threading.Event()
    first = trainer(tmp_path / "b")
    for p in first.run(cancel):
        if p.job == "train" and p.done == 4:
            cancel.set()
    assert first.result is None
    assert not (tmp_path / "b" / "mine").exists()  # nothing saved or registered
    assert (first.partial_dir / "state.pt").is_file()

    second = trainer(tmp_path / "b")
    messages = [p.message for p in second.run()]
    assert "resuming from step 4" in messages
    assert second.result is not None
    assert not second.partial_dir.exists()
    a = CLIPModel.from_pretrained(straight.result.path).state_dict()
    b = CLIPModel.from_pretrained(second.result.path).state_dict()
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=1e-4, atol=1e-5, msg=name)


def test_a_model_name_is_never_overwritten(small_albums, tiny_clip_dir, tmp_path):
    from photoclip.core.errors import PhotoclipError

    (tmp_path / "ckpt" / "mine").mkdir(parents=True)
    with pytest.raises(PhotoclipError, match="already exists"):
        Trainer(read_albums(small_albums), base=str(tiny_clip_dir), checkpoints=tmp_path / "ckpt",
                name="mine")
    with pytest.raises(PhotoclipError, match="cannot name"):
        Trainer(read_albums(small_albums), base=str(tiny_clip_dir), checkpoints=tmp_path / "ckpt",
                name="../escape")
    auto = Trainer(read_albums(small_albums), base=str(tiny_clip_dir),
                   checkpoints=tmp_path / "ckpt")
    assert auto.name == "albums"
