"""The preview's text: the words read in the photo (selectable, copyable) with what the search
matched highlighted, and the matched lines' boxes drawn over the photo."""

from __future__ import annotations

import html
from typing import Any

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor, QPainter, QPen, QPixmap, QPolygonF
from PySide6.QtWidgets import QLabel, QTextBrowser, QVBoxLayout, QWidget

HIGHLIGHT = "#ffe066"  # matched words in the text, and their boxes over the photo
BOX = QColor(255, 200, 0)
MAX_TEXT_HEIGHT = 110  # px: a receipt's lines scroll, the photo keeps its room


class PhotoTextPanel(QWidget):
    """Hidden when the photo has no text read; `show_match(None)` hides it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = QLabel("Text in photo")
        self.title.setStyleSheet("font-weight: bold;")
        self.text = QTextBrowser()
        self.text.setOpenLinks(False)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse
                                          | Qt.TextInteractionFlag.TextSelectableByKeyboard)
        self.text.setToolTip("The words read in this photo: select and copy them")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.text)
        self.match: Any = None
        self.setVisible(False)

    def show_match(self, match: Any) -> None:
        """`match`: a core TextMatch (text, lines, spans, matched), or None."""
        self.match = match
        if match is None:
            self.text.clear()
            self.setVisible(False)
            return
        self.text.setHtml(marked_html(match.text, match.spans))
        # As tall as its lines, up to MAX_TEXT_HEIGHT (then it scrolls).
        doc = self.text.document()
        doc.setTextWidth(max(100, self.text.viewport().width()))
        height = int(doc.size().height()) + 2 * self.text.frameWidth() + 2
        self.text.setFixedHeight(min(MAX_TEXT_HEIGHT, max(28, height)))
        found = len(match.matched)
        self.title.setText(f"Text in photo · {found} line{'s' if found != 1 else ''} match"
                           if match.spans else "Text in photo")
        self.setVisible(True)

    def plain_text(self) -> str:
        return self.text.toPlainText()

    def highlighted(self) -> list[str]:
        """The highlighted pieces of the text, as shown (for tests and accessibility)."""
        if self.match is None:
            return []
        return [self.match.text[s:e] for s, e in self.match.spans]


def marked_html(text: str, spans: tuple[tuple[int, int], ...]) -> str:
    """`text` as HTML, its lines kept, the spans marked."""
    out: list[str] = []
    pos = 0
    for start, end in spans:
        out.append(html.escape(text[pos:start]))
        out.append(f'<span style="background-color: {HIGHLIGHT};">'
                   f"{html.escape(text[start:end])}</span>")
        pos = end
    out.append(html.escape(text[pos:]))
    body = "".join(out).replace("\n", "<br>")
    return f'<div style="white-space: pre-wrap;">{body}</div>'


def draw_boxes(pixmap: QPixmap, match: Any, photo_size: tuple[int, int]) -> QPixmap:
    """A copy of `pixmap` (the photo as shown) with the matched lines' boxes drawn; the boxes
    are in the photo's own pixels (`photo_size`)."""
    if match is None or not match.matched or not photo_size[0] or not photo_size[1]:
        return pixmap
    sx = pixmap.width() / photo_size[0]
    sy = pixmap.height() / photo_size[1]
    out = QPixmap(pixmap)
    painter = QPainter(out)
    try:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        pen = QPen(BOX)
        pen.setWidth(max(2, round(min(pixmap.width(), pixmap.height()) / 250)))
        painter.setPen(pen)
        fill = QColor(BOX)
        fill.setAlpha(60)
        painter.setBrush(fill)
        for i in match.matched:
            box = match.lines[i].box
            painter.drawPolygon(QPolygonF([QPointF(x * sx, y * sy) for x, y in box]))
    finally:
        painter.end()
    return out
