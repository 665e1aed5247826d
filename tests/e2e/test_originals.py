"""Originals are never touched: the whole workflow, watched byte for byte and call by call.

A user's photos go through everything photoclip does — add, index, auto-tag, hand tags and
decisions, XMP sidecars in both styles, training on the albums, switching models (a full
re-embed), duplicates, watching the folders while files arrive, move and disappear — and
afterwards every original has the SHA-256, size and mtime it had before. On top of the
checksums, a Python audit hook records every open-for-writing, rename, delete, truncate,
chmod and utime photoclip asks for under the photo folders while the workflow runs: the only
files it may create or replace are its own XMP sidecars (and their temporary files).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from photoclip.cli import main
from photoclip.core.library import Library

sys.path.insert(0, str(Path(__file__).parents[1] / "cli"))
sys.path.insert(0, str(Path(__file__).parents[1] / "core"))
from cli_support import run_json
from watcher_support import Running, write_photo

skimage_data = pytest.importorskip("skimage.data")
DATA = Path(skimage_data.__file__).parent

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


class WriteAudit:
    """Every write-like operation the process asks for under `roots`, while armed."""

    def __init__(self, roots: list[Path]) -> None:
        self.roots = [str(r.resolve()) + os.sep for r in roots]
        self.armed = False
        self.seen: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        sys.addaudithook(self._hook)  # hooks cannot be removed: disarmed after the test

    def _under(self, path: object) -> str | None:
        if isinstance(path, int) or path is None:
            return None  # an fd: its opening was audited already
        try:
            text = os.path.abspath(os.fsdecode(path))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return None
        return text if any(text.startswith(r) for r in self.roots) else None

    def _hook(self, event: str, args: tuple[object, ...]) -> None:
        if not self.armed:
            return
        if event == "open":
            path, mode, flags = args
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                mode is None and isinstance(flags, int) and flags & _WRITE_FLAGS)
            targets = [path] if writing else []
        elif event in ("os.rename", "os.remove", "os.truncate", "os.chmod", "os.utime",
                       "os.chown", "os.link", "os.symlink", "shutil.move", "shutil.rmtree"):
            targets = [a for a in args[:2] if isinstance(a, (str, bytes, os.PathLike))]
        else:
            return
        for target in targets:
            hit = self._under(target)
            if hit is not None:
                with self._lock:
                    self.seen.append((event, hit))

    def violations(self) -> list[tuple[str, str]]:
        """Operations on anything but a sidecar: `x.jpg.xmp`, `x.xmp`, `.x.xmp.123.tmp`."""
        def allowed(path: str) -> bool:
            name = os.path.basename(path)
            return name.endswith(".xmp") or (name.startswith(".") and ".xmp." in name
                                             and name.endswith(".tmp"))
        return [(e, p) for e, p in self.seen if not allowed(p)]


def _fingerprints(root: Path) -> dict[str, tuple[str, int, int]]:
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.suffix != ".xmp":
            out[str(path)] = (hashlib.sha256(path.read_bytes()).hexdigest(),
                              path.stat().st_size, path.stat().st_mtime_ns)
    return out


def _albums(root: Path) -> None:
    """Three albums of real photos in the formats people have: JPEG (one with an EXIF
    rotation), PNG, WebP, TIFF, GIF, BMP and HEIC."""
    sources = {"cat": ["chelsea.png"], "space": ["hubble_deep_field.jpg", "rocket.jpg"],
               "coffee": ["coffee.png"]}
    formats = [("jpg", {"quality": 90}), ("png", {}), ("webp", {"quality": 80}),
               ("tif", {}), ("gif", {}), ("bmp", {})]
    heif = True
    try:
        import pillow_heif  # noqa: F401
    except ImportError:
        heif = False
    if heif:
        formats.append(("heic", {"quality": 70}))
    for album, names in sources.items():
        folder = root / album
        folder.mkdir(parents=True)
        for name in names:
            shutil.copy(DATA / name, folder / name)  # the original files, as shipped
        for i, (ext, options) in enumerate(formats):
            with Image.open(DATA / names[i % len(names)]) as im:
                rgb = im.convert("RGB")
            w, h = rgb.size
            crop = rgb.crop((i * w // 40, i * h // 40, w - i * w // 50, h - i * h // 50))
            if ext == "jpg":
                exif = Image.Exif()
                exif[0x0112] = 6  # shown rotated: the file stays as the camera wrote it
                crop.save(folder / f"{album}-{i}.jpg", exif=exif, **options)
            else:
                crop.save(folder / f"{album}-{i}.{ext}", **options)


@pytest.mark.slow
def test_whole_workflow_leaves_every_original_byte_identical(capsys, tmp_path, tiny_clip_dir):
    photos = tmp_path / "photos"
    _albums(photos)
    incoming = tmp_path / "incoming"  # files the user copies in while the watcher runs
    write_photo(incoming / "new.jpg", 7)
    audit = WriteAudit([photos])
    before = _fingerprints(photos)
    assert len(before) >= 20

    audit.armed = True
    try:
        model = str(tiny_clip_dir)
        added = run_json(capsys, "add", str(photos), "--model", model)
        assert added["indexed"] == len(before)
        assert added["failed"] == 0

        run_json(capsys, "labels", "add", "mine", "--labels", "cat,space,coffee")
        run_json(capsys, "tag")
        target = str(photos / "cat" / "chelsea.png")
        assert main(["tags", "set", target, "mine|cat"]) == 0
        assert main(["tags", "reject", str(photos / "space" / "rocket.jpg"), "mine|cat"]) == 0
        capsys.readouterr()
        for path in sorted(before)[:8]:  # accept the first auto tag there is, if any
            auto = [t for t in run_json(capsys, "tags", path)["tags"] if t["source"] == "auto"]
            if auto:
                assert main(["tags", "accept", path, f"{auto[0]['set']}|{auto[0]['label']}"]) == 0
                break
        run_json(capsys, "xmp")
        assert (photos / "cat" / "chelsea.png.xmp").is_file()
        run_json(capsys, "xmp", "--style", "photo.xmp")
        # photoclip's own sidecars move to the new style rather than doubling up
        assert (photos / "cat" / "chelsea.xmp").is_file()
        assert not (photos / "cat" / "chelsea.png.xmp").exists()

        trained = run_json(capsys, "train", "--albums", str(photos), "--epochs", "1",
                           "--batch-size", "8", "--name", "mine")
        assert trained["model"] == "mine"
        assert run_json(capsys, "models", "use", "mine")["switched"]  # re-embeds everything
        run_json(capsys, "duplicates")
        run_json(capsys, "index")
        capsys.readouterr()

        lib = Library()
        try:
            with Running(lib) as watch:
                audit.armed = False  # the user's own copying and moving is not photoclip's
                shutil.copy(incoming / "new.jpg", photos / "cat" / "new.jpg")
                os.rename(photos / "space" / "rocket.jpg", photos / "space" / "rocket-2.jpg")
                audit.armed = True
                watch.settle()
                assert watch.totals()["indexed"] >= 1
                assert watch.totals()["moved"] >= 1
                audit.armed = False
                os.rename(photos / "space" / "rocket-2.jpg", photos / "space" / "rocket.jpg")
                os.remove(photos / "cat" / "new.jpg")
                audit.armed = True
                watch.settle()
            run_json(capsys, "xmp")  # tags follow the photo back; sidecars rewritten
        finally:
            lib.close()
    finally:
        audit.armed = False

    assert audit.violations() == []
    assert any(p.endswith(".xmp") for _, p in audit.seen)  # the hook saw photoclip's writes
    after = _fingerprints(photos)
    assert after == before
    assert [p for p in photos.rglob("*") if p.name.endswith(".tmp")] == []


def test_audit_catches_a_write_to_an_original(tmp_path):
    """The audit above would see a photo opened for writing (it is not vacuous)."""
    photo = tmp_path / "photos" / "a.jpg"
    photo.parent.mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(photo)
    audit = WriteAudit([photo.parent])
    audit.armed = True
    try:
        with open(photo, "r+b") as f:
            f.read(1)
        os.utime(photo)
        (photo.parent / "a.jpg.xmp").write_text("<x/>")
    finally:
        audit.armed = False
    assert [e for e, _ in audit.violations()] == ["open", "os.utime"]
