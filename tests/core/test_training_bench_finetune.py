"""The fine-tune benchmark runs end to end: pretrain on half the labels, fine-tune on the rest,
report new-label gain and old-label accuracy with and without WiSE-FT (figures: the report)."""

from __future__ import annotations

from training_support import build_clip, make_albums

from photoclip import bench_finetune


def test_bench_finetune_reports_gain_on_new_and_kept_on_old(tmp_path, clip_tokenizer_dir):
    labels = ["red circle", "blue square", "green triangle", "yellow circle"]
    albums = make_albums(tmp_path / "albums", 10, labels)
    model = build_clip(tmp_path / "clip", clip_tokenizer_dir, image_size=32, patch_size=8)
    report = bench_finetune.run(str(albums), str(model), pretrain_epochs=2, finetune_epochs=2,
                                work=tmp_path / "work")
    ordered = sorted(labels)  # albums are read in folder order
    assert report["labels"] == {"old": ordered[:2], "new": ordered[2:]}
    names = [r["model"] for r in report["rows"]]
    assert names[0] == "pretrained"
    assert names[1].startswith("fine-tuned")
    assert any(n.startswith("WiSE-FT") for n in names)
    for row in report["rows"]:
        assert all(0.0 <= row[k] <= 1.0 for k in ("new", "old", "all"))
    assert report["alpha"] in (0.0, 0.25, 0.5, 0.75, 1.0)
    text = bench_finetune.table(report)
    assert "gain new" in text
    assert "lost old" in text
