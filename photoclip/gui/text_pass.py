"""The window's side of reading text in photos (OCR): the text pass's progress in the status
bar, and the preview's text (the words read in the selected photo, the search's matches
highlighted).

The pass itself runs in core beside the window's watcher (core/ocr/follow.py: its own thread,
once the indexer is idle; the reading in a low-priority child process). Its Progress arrives
here from that thread through a queued signal, so the status bar never waits for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QLabel

from photoclip.core.types import Progress

if TYPE_CHECKING:
    from photoclip.gui.main_window import MainWindow


class TextPassStatus(QObject):
    heard = Signal(object)  # a Progress of the text pass, from its thread

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.library = window.library
        self.label = QLabel()
        self.label.setVisible(False)
        self.label.setToolTip("Reading the words in photos so search finds them")
        window.status.addPermanentWidget(self.label)
        self.heard.connect(self.show_progress)
        self._listening = False
        # The follower is made with the window's watcher: listen once it exists.
        window.indexing.progress.connect(self._listen)
        preview = window.photos.preview
        preview.attach_text(self.library)
        window.photos.search_field.textChanged.connect(preview.set_query)

    def _listen(self, _p: Progress) -> None:
        follower = self.library.ocr.follower
        if self._listening or follower is None:
            return
        self._listening = True
        follower.listen(self.heard.emit)

    def show_progress(self, p: Progress) -> None:
        if p.finished or p.extra.get("waiting") or p.total == 0:
            self.label.setVisible(False)
            self.label.setToolTip(p.message)
            return
        failed = f" · {p.failed} unreadable" if p.failed else ""
        self.label.setText(f"Reading text {p.done:,} / {p.total:,}{failed}")
        self.label.setVisible(True)
