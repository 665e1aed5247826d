"""`models use`: the library re-embeds with the new model while the old one keeps serving."""

from __future__ import annotations

from pathlib import Path

import pytest
from training_support import build_clip, make_albums

from photoclip.core.encoder import ClipEncoder
from photoclip.core.library import Library


@pytest.fixture
def other_clip(tmp_path, clip_tokenizer_dir) -> Path:
    """Another tiny CLIP with the same shapes and different weights (a "fine-tuned" one)."""
    return build_clip(tmp_path / "other-clip", clip_tokenizer_dir, image_size=64, patch_size=16,
                      seed=1)


def test_old_vectors_serve_search_until_the_new_ones_are_complete(tmp_path, tiny_clip_dir,
                                                                  other_clip):
    photos = make_albums(tmp_path / "photos", 3, ["red circle", "blue square", "green triangle"])
    lib = Library(tmp_path / "lib", model=str(tiny_clip_dir), device="cpu")
    lib.settings.batch_size = 2  # several batches, so the switch can be stopped midway
    lib.add_roots([str(photos)])
    list(lib.indexer().run())
    old, new = ClipEncoder(str(tiny_clip_dir)).model_id, ClipEncoder(str(other_clip)).model_id

    job = lib.switch_model(str(other_clip))
    for p in job:
        if p.job == "index" and 0 < p.done < p.total:
            break
    # Midway: search still uses the old model and finds every photo, here and in a second
    # process opening the same library (the GUI while the CLI switches, say).
    assert lib.settings.model == str(tiny_clip_dir)
    assert lib.settings.pending_model == new
    assert len(lib.searcher().search("a red circle", top=50)) == 9
    with Library(tmp_path / "lib") as other_process:
        assert other_process.settings.model == str(tiny_clip_dir)
        assert other_process.status()["pending_model"] == new
        assert len(other_process.searcher().search("a red circle", top=50)) == 9
    job.close()  # cancelled: the old model stays in use
    assert lib.settings.model == str(tiny_clip_dir)
    assert len(lib.searcher().search("a red circle", top=50)) == 9
    done_before = len(lib.catalog.embedding_ids(new))
    assert 0 < done_before < 9

    resumed = lib.switch_model(str(other_clip))
    list(resumed)
    assert lib.settings.model == new
    assert lib.settings.pending_model is None
    assert lib.encoder.model_id == new
    assert len(lib.searcher().search("a red circle", top=50)) == 9
    # Old embeddings are gone, so none can go stale while this model is in use.
    assert lib.catalog.models_in_use() == [(new, 9)]
    assert old not in dict(lib.catalog.models_in_use())
    lib.close()

    reopened = Library(tmp_path / "lib")
    assert reopened.settings.model == new
    assert reopened.vectors.model_id == new
    assert len(reopened.vectors) == 9
    reopened.close()


def test_a_model_that_cannot_load_never_becomes_pending(tmp_path, tiny_clip_dir):
    from photoclip.core.errors import ModelLoadError

    lib = Library(tmp_path / "lib", model=str(tiny_clip_dir), device="cpu")
    with pytest.raises(ModelLoadError):
        list(lib.switch_model(str(tmp_path / "no-such-model")))
    assert lib.settings.pending_model is None
    assert lib.settings.model == str(tiny_clip_dir)
    lib.close()
