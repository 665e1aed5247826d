"""`pip install photoclip` gives a working app: the wheel carries every resource, its entry
points start, and the installed package finds its icon and label sets without the source tree.
"""

from __future__ import annotations

import configparser
import os
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from installer_support import ROOT, run

ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def test_the_wheel_carries_every_resource_and_both_entry_points(built_wheel: Path):
    names = set(zipfile.ZipFile(built_wheel).namelist())
    shipped = {
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / "photoclip" / "resources").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    # Anything added to resources/ but not to pyproject's package-data would be missing here.
    assert shipped - names == set()
    assert "photoclip/resources/icons/photoclip.svg" in names
    for size in ICON_SIZES:
        assert f"photoclip/resources/icons/photoclip-{size}.png" in names
    assert any(n.startswith("photoclip/resources/label_sets/") for n in names)
    assert not any(n.startswith(("tests/", "installer/")) for n in names)

    (ep_name,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    entry_points = configparser.ConfigParser()
    entry_points.read_string(zipfile.ZipFile(built_wheel).read(ep_name).decode())
    assert entry_points["console_scripts"]["photoclip"] == "photoclip.cli:main"
    assert entry_points["gui_scripts"]["photoclip-gui"] == "photoclip.gui.app:launch"


CHECK_INSTALLED = """
import sys
from importlib.resources import files
from pathlib import Path

import photoclip
assert Path(photoclip.__file__).is_relative_to(sys.prefix), photoclip.__file__

from PySide6.QtWidgets import QApplication
app = QApplication([])
from photoclip.gui.desktop import app_icon
icon = app_icon()
assert not icon.isNull()
print("icon sizes", sorted(s.width() for s in icon.availableSizes()))
resources = files("photoclip.resources")
print("label sets", sorted(p.name for p in (resources / "label_sets").iterdir()))
print("templates", len((resources / "templates.txt").read_text().splitlines()))
"""


@pytest.mark.slow
def test_the_installed_wheel_runs_and_finds_its_resources(built_wheel: Path, tmp_path: Path):
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", venv])
    python = venv / "bin" / "python"
    run([sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps",
         built_wheel])
    # The dependencies (torch, Qt ...) come from this test environment, after the new
    # environment's own packages: only photoclip itself is the freshly installed one.
    site = Path(run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"])
                .stdout.strip())
    (site / "test-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    env.pop("PYTHONPATH", None)
    elsewhere = tmp_path / "cwd"  # not the checkout, so nothing can come from the source tree
    elsewhere.mkdir()

    cli = run([venv / "bin" / "photoclip", "--help"], env=env, cwd=elsewhere)
    assert "usage: photoclip" in cli.stdout
    gui = run([venv / "bin" / "photoclip-gui", "--help"], env=env, cwd=elsewhere)
    assert "FOLDER|PHOTO" in gui.stdout

    out = run([python, "-c", CHECK_INSTALLED], env=env, cwd=elsewhere).stdout
    assert f"icon sizes {list(ICON_SIZES)}" in out
    label_sets = sorted(p.name for p in (ROOT / "photoclip/resources/label_sets").glob("*.yaml"))
    assert f"label sets {label_sets}" in out
    assert "templates 0" not in out
