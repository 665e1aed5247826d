"""The main window's catalog reads and writes that are not a page's: the status bar's photo
count and failures count, and removing a folder (which folder, then forgetting it).

Each is catalog work (a count over 100,000 rows, deleting a folder's rows), so it runs on the
thread pool (`Calls`) and only its answer comes back to the UI thread.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QInputDialog, QLabel, QWidget

from photoclip.core.library import Library
from photoclip.gui.jobs import Calls, LatestCall


class Counts(QObject):
    """Shows "<what happened> · N photos" in the state label and the failed files' count,
    counted off the UI thread.

    The label says `prefix` at once and gains its count when the count arrives, unless
    something else was said meanwhile (a newer state must not be overwritten by an old one)."""

    counted = Signal(int, int)  # photos indexed, files that failed: on screen now

    def __init__(self, library: Library, calls: Calls, label: QLabel,
                 set_failed: Callable[[int], None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.library, self.label, self.set_failed = library, label, set_failed
        self._latest = LatestCall(calls)
        self.pending = False

    def show(self, prefix: str) -> None:
        self.label.setText(prefix)
        catalog = self.library.catalog
        self.pending = True
        self._latest.run(lambda: (catalog.count_photos("ok"), catalog.count_photos("failed")),
                         lambda counts: self._counted(prefix, *counts), self._failed)

    def _counted(self, prefix: str, n: int, failed: int) -> None:
        self.pending = False
        if self.label.text() == prefix:
            self.label.setText(f"{prefix} · {n:,} photos")
        self.set_failed(failed)
        self.counted.emit(n, failed)

    def _failed(self, _message: str) -> None:
        self.pending = False  # the label keeps what happened, without a count


class FolderRemoval(QObject):
    """File ▸ Remove Folder…: the folders are read off the UI thread, the user picks one, and
    forgetting it (deleting its rows, however many) runs off the UI thread too."""

    removed = Signal(list)  # the folders forgotten (the photos stay on disk)
    failed = Signal(str)  # why they could not be

    def __init__(self, library: Library, calls: Calls, parent: QWidget) -> None:
        super().__init__(parent)
        self.library, self.calls, self.window = library, calls, parent
        self.pending = 0

    def choose(self) -> None:
        """Ask which folder to forget (nothing happens when there is none)."""
        catalog = self.library.catalog
        self.calls.run(lambda: [r.path for r in catalog.roots()], self._ask,
                       self.failed.emit)

    def _ask(self, roots: list[str]) -> None:
        if not roots:
            return
        folder, ok = QInputDialog.getItem(
            self.window, "Remove a folder", "Forget this folder (the photos stay on disk):",
            roots, 0, False)
        if ok and folder:
            self.remove([folder])

    def remove(self, folders: list[str]) -> None:
        library = self.library
        self.pending += 1

        def done(_n: int) -> None:
            self.pending -= 1
            self.removed.emit(folders)

        def failed(message: str) -> None:
            self.pending -= 1
            self.failed.emit(message)

        self.calls.run(lambda: library.remove_roots(folders), done, failed)
