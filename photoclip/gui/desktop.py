"""What the desktop hands the app: its icon, and the photos or folders it was opened with.

The desktop entry runs `photoclip-gui %F`, so "Open with photoclip" on a photo, or folders
dropped onto the launcher, arrive here as command-line paths; macOS sends file-open events
instead, to the running app.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject
from PySide6.QtGui import QFileOpenEvent, QIcon, QPixmap

from photoclip import __version__
from photoclip.core.api import is_image_path

if TYPE_CHECKING:
    from photoclip.gui.main_window import MainWindow

log = logging.getLogger(__name__)

# The PNG sizes shipped in photoclip/resources/icons (rendered by installer/icons/render.sh).
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def app_icon() -> QIcon:
    """The application icon in every shipped size, so Qt never has to scale a 512 px one down.

    Read through importlib.resources, so it is found in a wheel, an editable install and a
    PyInstaller build alike. Needs a QGuiApplication.
    """
    icon = QIcon()
    folder = files("photoclip.resources") / "icons"
    for size in ICON_SIZES:
        pixmap = QPixmap()
        if pixmap.loadFromData((folder / f"photoclip-{size}.png").read_bytes(), "PNG"):
            icon.addPixmap(pixmap)
        else:
            log.warning("icon photoclip-%d.png could not be read", size)
    return icon


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="photoclip-gui",
        description="Open the photoclip desktop app. Folders given are added to the library "
                    "and indexed; a photo adds the folder it is in.",
    )
    parser.add_argument("paths", nargs="*", metavar="FOLDER|PHOTO")
    parser.add_argument("--version", action="version", version=f"photoclip {__version__}")
    parser.add_argument("--library", metavar="DIR",
                        help="library folder (catalog, vectors, thumbnails); env PHOTOCLIP_LIBRARY")
    parser.add_argument("--model", metavar="ID_OR_DIR",
                        help="Hugging Face CLIP id or a local folder; env PHOTOCLIP_MODEL")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"])
    return parser


def folders_to_open(
    paths: Sequence[str], roots: Sequence[str]
) -> tuple[list[str], list[str]]:
    """(folders to add as library roots, paths that are neither a folder nor a photo).

    A folder is added as given (the library ignores one it already has). A photo adds its
    folder unless a library root already covers it, so opening photo after photo from the same
    album does not pile up nested roots.
    """
    covered = [Path(r) for r in roots]
    folders: list[str] = []
    unusable: list[str] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            folder = path.resolve()
        elif path.is_file() and is_image_path(path):
            folder = path.resolve().parent
            if any(folder == r or r in folder.parents for r in covered):
                continue
        else:
            unusable.append(raw)
            continue
        if str(folder) not in folders:
            folders.append(str(folder))
    return folders, unusable


def open_paths(window: MainWindow, paths: Sequence[str]) -> None:
    """Add what the app was opened with to the window's library; bad paths become a message."""
    roots = [r.path for r in window.library.catalog.roots()]
    folders, unusable = folders_to_open(paths, roots)
    if folders:
        window.add_folders(folders)
    if unusable:
        window.show_message("Not a folder or a photo: " + ", ".join(unusable))


class FileOpenEvents(QObject):
    """Opens what macOS's Finder hands the running app ("Open With", a drop on the Dock icon).

    Installed on the application; any other platform simply never sends these events.
    """

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self._window = window

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.FileOpen and isinstance(event, QFileOpenEvent):
            open_paths(self._window, [event.file()])
            return True
        return super().eventFilter(watched, event)
