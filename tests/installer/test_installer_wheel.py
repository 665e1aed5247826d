"""`pip install photoclip` gives a working app: the wheel carries every resource, its entry
points start, and the installed package finds its icon and label sets without the source tree.
An editable install (`pip install -e .`, what `make` does) finds them in the checkout's
resources/ folder.
"""

from __future__ import annotations

import configparser
import os
import shutil
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from installer_support import ROOT, run

ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


RESOURCES = ROOT / "resources"
# What in resources/ only installers and their maintainers read (resources/README.md).
NOT_SHIPPED = ("README.md", "icons/render.sh", "linux/")


def test_the_wheel_carries_every_resource_and_both_entry_points(built_wheel: Path):
    names = set(zipfile.ZipFile(built_wheel).namelist())
    assets = {
        p.relative_to(RESOURCES).as_posix()
        for p in RESOURCES.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    shipped = {f"photoclip/resources/{a}" for a in assets if not a.startswith(NOT_SHIPPED)}
    left = {f"photoclip/resources/{a}" for a in assets if a.startswith(NOT_SHIPPED)}
    # Anything added to resources/ but not to pyproject's package-data would be missing here.
    assert shipped - names == set()
    assert left & names == set()
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
    label_sets = sorted(p.name for p in (RESOURCES / "label_sets").glob("*.yaml"))
    assert f"label sets {label_sets}" in out
    assert "templates 0" not in out


CHECK_EDITABLE = """
from importlib.resources import files
import photoclip
print("package", photoclip.__file__)
resources = files("photoclip.resources")
print("resources", resources)
print("label sets", sorted(p.name for p in (resources / "label_sets").iterdir()))
print("icon", (resources / "icons" / "photoclip.svg").is_file())
print("templates", len((resources / "templates.txt").read_text().splitlines()))
"""


@pytest.mark.slow
def test_an_editable_install_reads_the_resources_folder(source_tree: Path, tmp_path: Path):
    checkout = tmp_path / "checkout"  # the build writes photoclip.egg-info into its source
    shutil.copytree(source_tree, checkout)
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    # What `pip install -e .` does (PEP 660), with this environment's setuptools: the new
    # environment has none, and pip would run the build backend there.
    run([sys.executable, "-c",
         f"import setuptools.build_meta as b; b.build_editable({str(wheels)!r})"], cwd=checkout)
    (editable,) = wheels.glob("photoclip-*.whl")
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", venv])
    python = venv / "bin" / "python"
    run([sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps",
         editable])
    site = Path(run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"])
                .stdout.strip())
    (site / "test-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    # Added after installing: an editable install sees the folder as it is now.
    (checkout / "resources" / "label_sets" / "zz-added.yaml").write_text("name: added\n")

    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    out = run([python, "-c", CHECK_EDITABLE], env=env, cwd=elsewhere).stdout
    assert f"package {checkout / 'photoclip' / '__init__.py'}" in out
    assert f"resources {checkout / 'resources'}" in out
    label_sets = sorted([*(p.name for p in (RESOURCES / "label_sets").glob("*.yaml")),
                         "zz-added.yaml"])
    assert f"label sets {label_sets}" in out
    assert "icon True" in out
    assert "templates 0" not in out
