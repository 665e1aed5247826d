"""Proof that training from scratch learns in the other families too (issue 19): a small
SigLIP, trained with SigLIP's sigmoid loss, and a small Chinese-CLIP, on albums named in
Chinese, both through `photoclip train --from-scratch` on generated photos, classify held-out
photos far above chance. (The CLIP proof is test_training_proof.py.)"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from training_support import make_albums

from photoclip.cli import main

PER_LABEL = 60
# Every word here is in the fixture's SentencePiece vocabulary (tests/conftest.py).
LABELS = ("red circle", "red square", "red triangle", "blue circle", "blue square",
          "blue triangle", "green circle", "green square", "green triangle")
CHINESE = {"red": "红色", "blue": "蓝色", "green": "绿色",
           "circle": "圆形", "square": "方形", "triangle": "三角形"}


def _small(family: str, tiny: Path, out: Path) -> Path:
    """The fixture's tiny model of `family` (its real tokenizer and preprocessing), rebuilt at
    32 px with 4 px patches, as the CLIP proof's model."""
    import torch
    import transformers

    config = transformers.AutoConfig.from_pretrained(str(tiny))
    config.vision_config.image_size = 32
    config.vision_config.patch_size = 4
    torch.manual_seed(0)
    model = getattr(transformers, type(config).__name__.replace("Config", "Model"))(config)
    shutil.copytree(tiny, out)
    model.save_pretrained(str(out))
    pre = out / "preprocessor_config.json"
    data = json.loads(pre.read_text())
    for key in ("size", "crop_size"):
        if isinstance(data.get(key), dict):
            data[key] = {k: 32 for k in data[key]}
    pre.write_text(json.dumps(data))
    return out


@pytest.mark.slow
@pytest.mark.parametrize(("family", "chinese"), [("siglip", False), ("chinese_clip", True)])
def test_from_scratch_training_learns_in_other_families(family, chinese, capsys, tmp_path,
                                                         tiny_family_dir):
    albums = make_albums(tmp_path / "albums", PER_LABEL, LABELS)
    if chinese:  # the albums' names are the labels: 红色圆形, 蓝色方形, ...
        for label in LABELS:
            colour, shape = label.split()
            (albums / label).rename(albums / f"{CHINESE[colour]}{CHINESE[shape]}")
    model = _small(family, tiny_family_dir(family), tmp_path / f"small-{family}")
    code = main(["--model", str(model), "--device", "cpu", "train", "--albums", str(albums),
                 "--from-scratch", "--epochs", "40", "--batch-size", "32", "--lr", "2e-3",
                 "--eval-split", "0.2", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    data = json.loads(out)
    chance = 1 / len(LABELS)
    before, after = data["before"], data["after"]
    print(f"\n{family} from scratch: zero-shot {before['zero_shot_accuracy']:.3f} -> "
          f"{after['zero_shot_accuracy']:.3f} on {after['images']} held-out photos "
          f"(chance {chance:.3f})")
    assert after["labels"] == len(LABELS)
    assert before["zero_shot_accuracy"] < 3 * chance
    # Measured here: SigLIP 0.380, Chinese-CLIP 0.333 at 40 epochs (0.111 is chance); the CLIP
    # proof's 0.95 comes with 12 labels at the same budget: these towers learn slower from
    # scratch. The claim is learning, far above chance, in each family's own recipe.
    assert after["zero_shot_accuracy"] >= 2.5 * chance
