from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import skimage
from PIL import Image

from photoclip.core.library import Library

SKIMAGE_DATA = Path(skimage.__file__).parent / "data"


@pytest.fixture
def many_photos(tmp_path) -> Path:
    """40 distinct small photos: crops of real ones, so every file has its own content."""
    root = tmp_path / "photos"
    root.mkdir()
    sources = [Image.open(SKIMAGE_DATA / n).convert("RGB")
               for n in ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg")]
    for i in range(40):
        src = sources[i % 4]
        x, y = (i * 7) % 60, (i * 11) % 60
        src.crop((x, y, x + 200, y + 160)).save(root / f"p{i:02d}.jpg", quality=90)
    return root


def _lib(tmp_path, encoder, **kw) -> Library:
    lib = Library(tmp_path / "lib", encoder=encoder)
    lib.settings.batch_size = kw.get("batch_size", 8)
    return lib


def test_interrupted_run_resumes_without_duplicates(tmp_path, tiny_encoder, many_photos):
    lib = _lib(tmp_path, tiny_encoder)
    lib.add_roots([str(many_photos)])
    job = lib.indexer().run()
    for p in job:
        if p.job == "index" and p.done >= 16:
            break
    job.close()  # what a Ctrl-C or a closed window does
    first = lib.catalog.count_photos()
    assert 16 <= first < 40
    assert lib.catalog.last_job("index")["state"] == "cancelled"
    lib.close()

    lib = _lib(tmp_path, tiny_encoder)
    indexer = lib.indexer()
    list(indexer.run())
    assert indexer.report.indexed == 40 - first  # only the rest is embedded
    assert lib.catalog.count_photos() == 40
    ids = lib.catalog.embedding_ids(tiny_encoder.model_id)
    assert len(ids) == len(set(ids.tolist())) == 40
    assert sorted(lib.vectors.ids().tolist()) == sorted(ids.tolist())
    lib.close()


def test_crash_before_vector_save_heals_from_catalog(tmp_path, tiny_encoder, many_photos):
    lib = _lib(tmp_path, tiny_encoder)
    lib.add_roots([str(many_photos)])
    list(lib.indexer().run())
    lib.close()
    # the vector cache as it was before the last photos were added: lose 10 ids
    lib = _lib(tmp_path, tiny_encoder)
    lost = lib.vectors.ids()[:10]
    lib.vectors.remove(lost)
    lib.vectors.save()
    lib.catalog.close()  # "crash": nothing else saved

    lib = _lib(tmp_path, tiny_encoder)
    assert len(lib.vectors) == 40
    path = lib.catalog.photo(int(lost[0])).path
    hits = lib.searcher().similar(path, top=1)
    assert hits[0].path == path
    lib.close()


def test_cancel_event_stops_between_batches(tmp_path, tiny_encoder, many_photos):
    import threading

    lib = _lib(tmp_path, tiny_encoder)
    lib.add_roots([str(many_photos)])
    cancel = threading.Event()
    seen = []
    for p in lib.indexer().run(cancel=cancel):
        seen.append(p)
        if p.job == "index" and p.done >= 8:
            cancel.set()
    assert seen[-1].finished
    assert lib.catalog.count_photos() < 40
    assert lib.catalog.last_job("index")["state"] == "cancelled"
    lib.close()


def test_progress_counts_up_to_the_total(tmp_path, tiny_encoder, many_photos):
    lib = _lib(tmp_path, tiny_encoder)
    lib.add_roots([str(many_photos)])
    steps = [p for p in lib.indexer().run() if p.job == "index"]
    assert steps[0].total == 40
    done = [p.done for p in steps if not p.finished]
    assert done == sorted(done)
    assert done[-1] == 40
    assert steps[-1].finished
    assert "40 indexed" in steps[-1].message
    lib.close()


def test_one_thumbnail_per_photo_from_the_shared_decode(tmp_path, tiny_encoder, many_photos):
    lib = _lib(tmp_path, tiny_encoder)
    lib.add_roots([str(many_photos)])
    list(lib.indexer().run())
    thumbs = list(lib.paths.thumbnails.rglob("*.jpg"))
    assert len(thumbs) == 40
    with Image.open(thumbs[0]) as im:
        assert max(im.size) == 200  # the source is 200x160: never upscaled
    lib.close()


def test_model_switch_reembeds_everything(tmp_path, tiny_encoder, many_photos):
    lib = _lib(tmp_path, tiny_encoder)
    lib.add_roots([str(many_photos)])
    list(lib.indexer().run())
    lib.close()

    class Other:
        """The same network under another model id: a library that switched model."""

        model_id = "other-model"
        dim = tiny_encoder.dim
        image_size = tiny_encoder.image_size
        device = "cpu"
        preprocess = staticmethod(tiny_encoder.preprocess)

        def encode_images(self, batch: np.ndarray) -> np.ndarray:
            return tiny_encoder.encode_images(batch)

        def encode_texts(self, texts):
            return tiny_encoder.encode_texts(texts)

    lib = _lib(tmp_path, Other())
    assert len(lib.vectors) == 0  # the cache was built by another model
    indexer = lib.indexer()
    list(indexer.run())
    assert indexer.report.indexed == 40
    assert len(lib.vectors) == 40
    lib.close()


def test_core_imports_without_qt(tmp_path):
    code = """
import importlib, pkgutil, sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('PySide6', 'shiboken6'):
            raise ImportError('Qt is blocked in this test')
sys.meta_path.insert(0, Block())
import photoclip.core, photoclip.config, photoclip.cli
for m in pkgutil.walk_packages(photoclip.core.__path__, 'photoclip.core.'):
    importlib.import_module(m.name)
assert 'torch' not in sys.modules, 'core must import torch lazily'
print('ok')
"""
    import subprocess

    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def test_a_file_symlink_loop_and_hidden_folders_are_skipped(tmp_path, tiny_encoder):
    root = tmp_path / "photos"
    (root / "a").mkdir(parents=True)
    shutil.copy(SKIMAGE_DATA / "chelsea.png", root / "a" / "cat.png")
    (root / "a" / "loop").symlink_to(root)  # a folder symlink back up: must not recurse
    (root / ".thumbs").mkdir()
    shutil.copy(SKIMAGE_DATA / "coffee.png", root / ".thumbs" / "c.png")
    lib = _lib(tmp_path, tiny_encoder)
    lib.add_roots([str(root)])
    list(lib.indexer().run())
    assert lib.catalog.count_photos() == 1
    lib.close()


def test_an_emptied_mount_point_is_offline_not_deleted(tmp_path, tiny_encoder, many_photos):
    lib = _lib(tmp_path, tiny_encoder)
    lib.add_roots([str(many_photos)])
    list(lib.indexer().run())
    # the drive is unmounted: its mount point stays behind as an empty folder
    hidden = tmp_path / "unplugged"
    many_photos.rename(hidden)
    many_photos.mkdir()
    indexer = lib.indexer()
    list(indexer.run())
    assert indexer.report.offline_roots == [str(many_photos)]
    assert indexer.report.removed == 0
    assert lib.catalog.count_photos() == 40
    assert not lib.catalog.roots()[0].online
    # plugged back in: online again, nothing re-embedded
    many_photos.rmdir()
    hidden.rename(many_photos)
    indexer = lib.indexer()
    list(indexer.run())
    assert indexer.report.indexed == 0
    assert lib.catalog.roots()[0].online
    lib.close()


def test_deleting_the_photos_but_not_the_folder_contents_removes_them(tmp_path, tiny_encoder,
                                                                      many_photos):
    lib = _lib(tmp_path, tiny_encoder)
    lib.add_roots([str(many_photos)])
    list(lib.indexer().run())
    for p in many_photos.glob("*.jpg"):
        p.unlink()
    (many_photos / "notes.txt").write_text("the user kept this")
    indexer = lib.indexer()
    list(indexer.run())
    assert indexer.report.removed == 40
    assert lib.catalog.count_photos() == 0
    lib.close()


def test_an_edited_photo_loses_every_models_old_embedding(tmp_path, tiny_encoder, many_photos):
    lib = _lib(tmp_path, tiny_encoder)
    lib.add_roots([str(many_photos)])
    list(lib.indexer().run())
    photo = lib.catalog.photo_by_path(str(many_photos / "p00.jpg"))
    # an embedding another model made earlier
    lib.catalog.put_embeddings("older-model", [photo.id], np.ones((1, 32), dtype=np.float32))
    Image.open(SKIMAGE_DATA / "horse.png").convert("RGB").save(many_photos / "p00.jpg")
    indexer = lib.indexer()
    list(indexer.run())
    assert indexer.report.indexed == 1
    assert photo.id not in lib.catalog.embedding_ids("older-model").tolist()
    assert photo.id in lib.catalog.embedding_ids(tiny_encoder.model_id).tolist()
    lib.close()
