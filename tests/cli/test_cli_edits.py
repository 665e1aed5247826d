"""`photoclip edits`: the possible edits of tagged photos an index run found between the cosine
bars, listed, applied with one command, or dismissed."""

from __future__ import annotations

from pathlib import Path

import skimage
from cli_support import run, run_json
from PIL import Image

from photoclip.core.indexing import edits
from photoclip.core.library import Library

SKIMAGE_DATA = Path(skimage.__file__).parent / "data"


def _library_with_a_possible_edit(tmp_path: Path, tiny_encoder, monkeypatch) -> tuple[Path,
                                                                                      Path]:
    folder = tmp_path / "Pictures"
    folder.mkdir()
    Image.open(SKIMAGE_DATA / "chelsea.png").convert("RGB").save(folder / "IMG_1.jpg")
    lib = Library(tmp_path / "lib", encoder=tiny_encoder)
    lib.add_roots([str(folder)])
    list(lib.indexer().run())
    pid = lib.catalog.photo_by_path(str(folder / "IMG_1.jpg")).id
    lib.tagger().set_tag(pid, "cat")
    img = Image.open(folder / "IMG_1.jpg")
    img.resize((img.width * 9 // 10, img.height * 9 // 10)).save(folder / "IMG_1 edited.jpg",
                                                                 quality=75)
    (folder / "IMG_1.jpg").unlink()
    monkeypatch.setattr(edits, "CARRY_COSINE", 1.01)  # only suggested
    list(lib.indexer().run())
    lib.close()
    return tmp_path / "lib", folder


def _tags(lib_dir: Path, path: Path) -> set[str]:
    with Library(lib_dir) as lib:
        photo = lib.catalog.photo_by_path(str(path))
        return {t.label for t in lib.label_sets.photo_tags(photo.id)}


def test_edits_lists_then_applies_a_possible_edit(capsys, tmp_path, tiny_encoder, monkeypatch):
    lib_dir, folder = _library_with_a_possible_edit(tmp_path, tiny_encoder, monkeypatch)
    edited = folder / "IMG_1 edited.jpg"
    listed = run_json(capsys, "--library", str(lib_dir), "edits")
    (hint,) = listed["suggestions"]
    assert (hint["old_path"], hint["new_path"], hint["tags"]) == (
        str(folder / "IMG_1.jpg"), str(edited), ["cat"])
    code, out, _ = run(capsys, "--library", str(lib_dir), "edits")
    assert code == 0
    assert f"{hint['id']}: {edited}" in out
    assert "photoclip edits --apply" in out
    assert _tags(lib_dir, edited) == set()

    done = run_json(capsys, "--library", str(lib_dir), "edits", "--apply", str(hint["id"]))
    assert [a["id"] for a in done["applied"]] == [hint["id"]]
    assert done["refused"] == []
    assert _tags(lib_dir, edited) == {"cat"}
    assert run_json(capsys, "--library", str(lib_dir), "edits") == {"suggestions": []}


def test_edits_dismiss_and_unknown_ids(capsys, tmp_path, tiny_encoder, monkeypatch):
    lib_dir, folder = _library_with_a_possible_edit(tmp_path, tiny_encoder, monkeypatch)
    code, _, err = run(capsys, "--library", str(lib_dir), "edits", "--apply", "99")
    assert code == 1
    assert "No possible edit 99" in err
    done = run_json(capsys, "--library", str(lib_dir), "edits", "--dismiss")
    assert len(done["dismissed"]) == 1
    assert run_json(capsys, "--library", str(lib_dir), "edits") == {"suggestions": []}
    assert _tags(lib_dir, folder / "IMG_1 edited.jpg") == set()
