"""`photoclip eval --bias` on the user's own photos: the table in text and JSON, the no-claim
note, and a library without photos told what to do."""

from __future__ import annotations

import numpy as np
from cli_support import run, run_json
from PIL import Image

from photoclip.core.probes.bias import GROUPS, PROFESSIONS


def test_eval_bias_reports_the_table_for_the_library_photos(capsys, tmp_path, tiny_clip_dir):
    photos = tmp_path / "Pictures"
    photos.mkdir()
    rng = np.random.default_rng(0)
    for i in range(6):
        pixels = rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(photos / f"{i}.png")
    assert run_json(capsys, "add", str(photos), "--model", str(tiny_clip_dir))["indexed"] == 6
    code, out, err = run(capsys, "eval", "--bias")
    assert code == 0, err
    assert "6 photos" in out
    for word in (*PROFESSIONS, *GROUPS, "(no profession)", "no claim"):
        assert word in out
    data = run_json(capsys, "eval", "--bias")
    assert data["photos"] == 6
    assert [r["profession"] for r in data["professions"]] == list(PROFESSIONS)
    assert all(set(r["mean_cosine"]) == set(GROUPS) for r in data["professions"])


def test_eval_bias_without_photos_says_to_add_some(capsys, tiny_clip_dir):
    code, _, err = run(capsys, "eval", "--bias", "--model", str(tiny_clip_dir))
    assert code != 0
    assert "photoclip add" in err
