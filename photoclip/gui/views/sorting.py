"""The grid's sort order (a choice beside the results' count), that count, and what an
empty grid says.

Browsing (the library, a folder) sorts by date taken (newest first, the default), date added,
name, file size or rating; an album by the order its photos were put in (the default) or any
of those; a search's hits by best match (the default) or any of those. Each keeps its own
choice, and the window keeps them between runs (QSettings, with the splitter)."""

from __future__ import annotations

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtWidgets import QComboBox, QWidget

# (key, what the user reads); the keys are core's catalog orders (and "score").
BROWSE_ORDERS = (("taken", "Date taken"), ("added", "Date added"), ("name", "Name"),
                 ("size", "File size"), ("rating", "Rating"))
ORDERS = {"browse": BROWSE_ORDERS, "album": (("album", "Album order"), *BROWSE_ORDERS),
          "search": (("score", "Best match"), *BROWSE_ORDERS)}
TIPS = {"taken": "Newest taken first (EXIF date, else the file's date)",
        "added": "Added to the library most recently first", "name": "By file name, A to Z",
        "size": "Largest files first", "rating": "Most stars first",
        "score": "Best match to the search first", "album": "As they were put in the album"}


class SortBox(QComboBox):
    """One combo box for both: it lists the orders of what the grid shows now."""

    changed = Signal(str)  # the order chosen by the user (a key of BROWSE/SEARCH_ORDERS)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setToolTip("Sort the photos shown")
        self.chosen = {mode: orders[0][0] for mode, orders in ORDERS.items()}
        self._mode = ""
        self.set_mode("browse")
        self.currentIndexChanged.connect(self._picked)

    @property
    def order(self) -> str:
        return self.chosen[self._mode]

    def set_mode(self, mode: str) -> None:
        """List the orders of browsing, an album or a search's hits; shows that one's choice."""
        if mode == self._mode:
            return
        self._mode = mode
        self.blockSignals(True)
        self.clear()
        for key, text in ORDERS[mode]:
            self.addItem(f"Sort: {text}", key)
            self.setItemData(self.count() - 1, TIPS[key], Qt.ItemDataRole.ToolTipRole)
        self.setCurrentIndex(max(0, self.findData(self.order)))
        self.blockSignals(False)

    def _picked(self, index: int) -> None:
        key = self.itemData(index)
        if key and key != self.order:
            self.chosen[self._mode] = str(key)
            self.changed.emit(str(key))

    def restore(self, qs: QSettings) -> None:
        for mode, orders in ORDERS.items():
            key = str(qs.value(f"photos/sort_{mode}", ""))
            if key in dict(orders):
                self.chosen[mode] = key
        self.blockSignals(True)
        self.setCurrentIndex(max(0, self.findData(self.order)))
        self.blockSignals(False)

    def save(self, qs: QSettings) -> None:
        for mode, key in self.chosen.items():
            qs.setValue(f"photos/sort_{mode}", key)


def empty_text(*, failed: bool, has_roots: bool | None, album: str | None, searching: bool,
               indexing: bool) -> str:
    """What the Photos page says in place of an empty grid, and what to do about it."""
    if failed:
        return "Nothing to show for this search: see the message above."
    if has_roots is False:
        return ("Drop a folder of photos here (or File ▸ Add Folder…).\n"
                "photoclip indexes it, then you find any photo by typing what is in it.")
    if has_roots is None:
        return ""
    if album is not None:
        return (f"No photos in {album} yet: select photos under All photos and drag "
                "them onto the album, or use Selection ▸ Add to album.")
    if searching:
        return "No matching photos. Try other words, or clear the filters."
    if indexing:
        return "Indexing… photos appear here as they are added."
    return "No photos yet in these folders."


def count_text(found: int, size: int, cutoff: float, top: int, *, searching: bool,
               more: bool) -> tuple[str, str]:
    """The count over the grid ("12 of 3,400 photos — show more") and its tooltip."""
    text = (f"{found:,} photos" if found == size else f"{found:,} of {size:,} photos") + (
        ' — <a href="more">show more</a>' if more else "")
    tip = (f"Shown: photos scoring {cutoff:g} standard deviations above the library, at most "
           f"{top:,} (photoclip search --cutoff {cutoff:g} --top {top})" if searching else "")
    return text, tip
