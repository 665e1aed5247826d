from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import skimage
from PIL import Image

from photoclip.cli import main

SKIMAGE_DATA = Path(skimage.__file__).parent / "data"


def test_duplicates_json_groups_best_first(capsys, tmp_path, tiny_clip_dir):
    photos = tmp_path / "photos"
    photos.mkdir()
    coffee = Image.open(SKIMAGE_DATA / "coffee.png").convert("RGB")
    coffee.save(photos / "coffee.png")
    coffee.resize((300, 200)).save(photos / "coffee-small.jpg", quality=80)
    for name in ("astronaut.png", "rocket.jpg"):
        shutil.copy(SKIMAGE_DATA / name, photos / name)
    assert main(["add", str(photos), "--model", str(tiny_clip_dir), "--json"]) == 0
    capsys.readouterr()
    assert main(["duplicates", "--threshold", "0.999", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out == {"groups": [[str(photos / "coffee.png"), str(photos / "coffee-small.jpg")]]}
    assert (photos / "coffee-small.jpg").exists()


def test_duplicates_rejects_a_threshold_outside_0_1(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["duplicates", "--threshold", "1.5"])
    assert exc.value.code == 2
    assert "between 0 and 1" in capsys.readouterr().err
