"""The Linux desktop integration: a valid desktop entry and AppStream file, an icon whose PNGs
show the SVG, and install.sh / uninstall.sh as a user runs them, into a temporary HOME."""

from __future__ import annotations

import configparser
import json
import os
import shutil
import stat
import sys
from pathlib import Path

import numpy as np
import pytest
from installer_support import ROOT, require_tool, run
from PIL import Image

LINUX = ROOT / "resources" / "linux"  # the templates; install.sh is in installer/linux
DESKTOP = LINUX / "photoclip.desktop"
APP_ID = "io.github.photoclip.photoclip"
METAINFO = LINUX / f"{APP_ID}.metainfo.xml"
ICONS = ROOT / "resources" / "icons"
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def _desktop_entry(path: Path) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read(path, encoding="utf-8")
    return parser["Desktop Entry"]


def test_desktop_entry_validates_and_opens_photos():
    tool = require_tool("desktop-file-validate", "desktop-file-utils")
    proc = run([tool, DESKTOP])
    assert proc.stdout.strip() == "", proc.stdout  # it prints hints and warnings, too
    entry = _desktop_entry(DESKTOP)
    assert entry["Exec"] == "photoclip-gui %F"
    assert entry["Icon"] == "photoclip"
    mime = entry["MimeType"].split(";")
    assert {"image/jpeg", "image/png", "image/heic", "image/webp"} <= set(mime)


def test_metainfo_validates_and_names_the_desktop_entry():
    tool = require_tool("appstreamcli", "appstream")
    proc = run([tool, "validate", "--no-net", "--pedantic", METAINFO])
    assert "Validation was successful" in proc.stdout, proc.stdout
    text = METAINFO.read_text(encoding="utf-8")
    assert f"<id>{APP_ID}</id>" in text
    assert '<launchable type="desktop-id">photoclip.desktop</launchable>' in text


def _over_grey(image: Image.Image) -> np.ndarray:
    # Colours under fully transparent pixels are arbitrary: compare what a user would see.
    background = Image.new("RGBA", image.size, (128, 128, 128, 255))
    return np.asarray(Image.alpha_composite(background, image.convert("RGBA"))).astype(int)


def test_icon_pngs_are_the_svg_in_every_size(qapp):
    from PySide6.QtCore import QSize
    from PySide6.QtGui import QImage, QImageReader

    for size in ICON_SIZES:
        with Image.open(ICONS / f"photoclip-{size}.png") as file:
            assert file.mode == "RGBA"
            png = file.copy()
        assert png.size == (size, size)
        assert png.getpixel((0, size - 1))[3] == 0  # transparent corner: the tile is rounded
        # Qt's own SVG renderer, independent of the rsvg-convert that rendered the PNGs: a
        # changed SVG whose PNGs were not re-rendered (resources/icons/render.sh) shows here.
        reader = QImageReader(str(ICONS / "photoclip.svg"))
        reader.setScaledSize(QSize(size, size))
        image = reader.read().convertToFormat(QImage.Format.Format_RGBA8888)
        assert not image.isNull(), reader.errorString()
        rows = np.frombuffer(bytes(image.constBits()), np.uint8)
        rendered = rows.reshape(size, image.bytesPerLine())[:, : size * 4].reshape(size, size, 4)
        diff = np.abs(_over_grey(Image.fromarray(rendered, "RGBA")) - _over_grey(png))
        assert diff.mean() < 4, f"{size}px PNG differs from the SVG (mean {diff.mean():.1f})"


# --- install.sh --------------------------------------------------------------------------------


def _user_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "PHOTOCLIP_"))}
    env.pop("PYTHONPATH", None)
    env["HOME"] = str(home)
    # The Python of the environment whose packages the install reuses (PHOTOCLIP_DEPS_ENV):
    # compiled packages only load in the same Python version.
    env["PYTHON"] = sys.executable
    env["PHOTOCLIP_LIBRARY"] = str(home / "library")
    return env


def _installed_files(home: Path) -> set[str]:
    skip = home / ".local" / "lib" / "photoclip" / "venv"
    return {p.relative_to(home).as_posix() for p in home.rglob("*")
            if p.is_file() and skip not in p.parents}


@pytest.mark.slow
def test_install_sh_puts_photoclip_in_the_menu_and_uninstall_removes_it(
    source_tree: Path, tmp_path: Path
):
    validate = require_tool("desktop-file-validate", "desktop-file-utils")
    home = tmp_path / "Tom & Jerry"  # a launcher path that needs quoting in the entry
    home.mkdir()
    env = _user_env(home)
    # Everything a user's run does except downloading torch & co.: they come from this test
    # environment. The checkout (a copy of it) is the default source, as for a user.
    env["PHOTOCLIP_DEPS_ENV"] = sys.prefix
    install = source_tree / "installer" / "linux" / "install.sh"

    run(["bash", install], env=env)
    local = home / ".local"
    launcher = local / "bin" / "photoclip"
    gui = local / "bin" / "photoclip-gui"
    for script in (launcher, gui):
        assert script.stat().st_mode & stat.S_IXUSR, script
    cli = run([launcher, "--help"], env=env, cwd=tmp_path)
    assert "usage: photoclip" in cli.stdout
    assert "FOLDER|PHOTO" in run([gui, "--help"], env=env, cwd=tmp_path).stdout

    entry_path = local / "share" / "applications" / "photoclip.desktop"
    run([validate, entry_path])
    entry = _desktop_entry(entry_path)
    assert entry["Exec"] == f'"{gui}" %F'
    assert entry["TryExec"] == str(gui)
    hicolor = local / "share" / "icons" / "hicolor"
    assert (hicolor / "scalable" / "apps" / f"{entry['Icon']}.svg").is_file()
    for size in ICON_SIZES:
        png = hicolor / f"{size}x{size}" / "apps" / f"{entry['Icon']}.png"
        with Image.open(png) as image:
            assert image.size == (size, size)
    assert (local / "share" / "metainfo" / f"{APP_ID}.metainfo.xml").is_file()

    # Idempotent: a second run updates in place and leaves the same files behind.
    before = _installed_files(home)
    run(["bash", install], env=env)
    assert _installed_files(home) == before
    assert "usage: photoclip" in run([launcher, "--help"], env=env).stdout

    library = home / ".local" / "share" / "photoclip"
    library.mkdir(parents=True)
    (library / "catalog.sqlite3").write_bytes(b"the user's library")
    run(["bash", source_tree / "installer" / "linux" / "uninstall.sh"], env=env)
    assert not launcher.exists()
    assert not gui.exists()
    assert not entry_path.exists()
    assert not list(hicolor.rglob("photoclip.*"))
    assert not (local / "lib" / "photoclip").exists()
    assert (library / "catalog.sqlite3").read_bytes() == b"the user's library"


@pytest.mark.slow
def test_install_sh_with_a_model_folder_needs_no_download(
    built_wheel: Path, source_tree: Path, tiny_clip_dir: Path, tmp_path: Path
):
    home = tmp_path / "home"
    home.mkdir()
    env = _user_env(home)
    env["PHOTOCLIP_DEPS_ENV"] = sys.prefix
    env["PHOTOCLIP_SOURCE"] = str(built_wheel)  # a wheel works as the source, too
    env["HF_HUB_OFFLINE"] = "1"
    env["PHOTOCLIP_PRECISION"] = "fp32"  # skip the one-time CPU calibration
    # As installer/fetch_model.py names it, so it is preferred as the default model.
    model = tmp_path / "openai--clip-vit-base-patch32"
    shutil.copytree(tiny_clip_dir, model)
    env["PHOTOCLIP_MODEL_DIR"] = str(model)
    run(["bash", source_tree / "installer" / "linux" / "install.sh"], env=env)

    photos = tmp_path / "photos"
    photos.mkdir()
    Image.new("RGB", (96, 64), (200, 40, 40)).save(photos / "red.jpg")
    launcher = home / ".local" / "bin" / "photoclip"
    run([launcher, "add", photos], env=env, timeout=300)
    status = json.loads(run([launcher, "status", "--json"], env=env).stdout)
    installed = home / ".local" / "lib" / "photoclip" / "models" / model.name
    assert status["model"] == str(installed)
    assert status["photos"] == 1
