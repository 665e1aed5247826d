"""The preview pane's tags: the photo's tags by label set, with score and source; accept,
reject, remove, add; and "why this tag" for the selected one."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from PySide6.QtCore import QSize, QStringListModel, Qt, QThreadPool, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCompleter,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from photoclip.core.types import Label, Photo, PhotoTag, TagScore
from photoclip.gui.jobs import Calls, LatestCall

if TYPE_CHECKING:
    from photoclip.core.api import LabelSets, Tagger
    from photoclip.core.library import Library

T = TypeVar("T")

# How each kind of tag row reads in the State column, and what it means (its tooltip).
_STATES = {
    "auto": ("auto", "Suggested by auto-tagging: accept it to keep it, reject it to remove it."),
    "accepted": ("auto · accepted", "Suggested by auto-tagging and accepted by you."),
    "user": ("user", "A tag you added by hand."),
    "rejected": ("rejected", "You rejected this tag; auto-tagging will not bring it back."),
}
_ACTIONS_BY_STATE = {"auto": ("accept", "reject"), "accepted": ("reject",), "user": ("remove",),
                     "rejected": ("undo",)}
_BUTTONS = {
    "accept": ("Accept", "Keep this tag: auto-tagging will not drop it, and it teaches the "
                         "label's threshold"),
    "reject": ("Reject", "Not this: the tag goes, and auto-tagging will not bring it back"),
    "remove": ("Remove", "Remove the tag you added"),
    "undo": ("Undo", "Take the rejection back: auto-tagging decides again"),
}
_DIM = QColor("#8a8a8a")
_TAG, _SCORE, _STATE, _ACTIONS = range(4)
_ROW_HEIGHT = 26  # room for the row's buttons
_GROUP_HEIGHT = 20  # a set's heading row: text only
_WHY_ROWS = 7  # the "why" table shows this many rows (4 of them the decision), then scrolls
_ID = Qt.ItemDataRole.UserRole


def tag_state(tag: PhotoTag) -> str:
    if tag.accepted is False:
        return "rejected"
    if tag.source == "user":
        return "user"
    return "accepted" if tag.accepted else "auto"


class TagPanel(QWidget):
    """The photo's tags by label set, with score and source; accept, reject, remove, add; and
    "why this tag" for the selected one.

    Reading and changing tags is catalog work, so it runs off the UI thread, one call at a time
    and in the order asked (a click's change lands before the re-read that shows it); only the
    newest read is shown. "Why" runs the text encoder (the first time for a label set), so it
    goes to the shared thread pool, not to this panel's queue.
    """

    message = Signal(str)  # a problem to show the user, with the fix
    changed = Signal(int)  # photo id: the user changed its tags

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.photo: Photo | None = None
        self._store: LabelSets | None = None
        self._tagger: Callable[[], Tagger | None] = lambda: None
        self._tags: list[PhotoTag] = []
        self._items: dict[int, QTreeWidgetItem] = {}  # label id -> its row
        # "Why" of the selected row; selecting another (or new rows) drops a pending answer.
        self._why = LatestCall(Calls(self))
        # The tags' reads and changes: one thread, so they run in the order they were asked.
        pool = QThreadPool(self)
        pool.setMaxThreadCount(1)
        self._work = Calls(self, pool)
        self._read_seq = 0  # only the newest read's answer is shown
        self._busy = 0  # reads and changes asked for and not yet answered
        self._shown: int | None = None  # the photo whose tags the rows are

        title = QLabel("Tags")
        title.setStyleSheet("font-weight: bold;")
        self.tree = QTreeWidget()
        self.tree.setColumnCount(4)
        self.tree.setHeaderLabels(["Tag", "Score", "State", ""])
        self.tree.setRootIsDecorated(False)
        self.tree.setIndentation(12)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tree.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.tree.setMinimumHeight(4 * _ROW_HEIGHT + 24)
        header = self.tree.header()
        header.setStretchLastSection(False)
        header.setMinimumSectionSize(24)
        header.setSectionResizeMode(_TAG, QHeaderView.ResizeMode.Stretch)
        for col in (_SCORE, _STATE, _ACTIONS):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.currentItemChanged.connect(self._current_changed)
        self.empty = QLabel()
        self.empty.setWordWrap(True)
        self.empty.setStyleSheet("color: #666;")

        self.add_field = QLineEdit()
        self.add_field.setPlaceholderText("Add a tag…")
        self.add_field.setClearButtonEnabled(True)
        self._labels = QStringListModel(self)
        completer = QCompleter(self._labels, self)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        self.add_field.setCompleter(completer)
        self.add_field.returnPressed.connect(self.add_tag)
        self.add_button = QPushButton("Add")
        self.add_button.clicked.connect(self.add_tag)
        add_row = QHBoxLayout()
        add_row.addWidget(self.add_field, 1)
        add_row.addWidget(self.add_button)

        # "Why this tag": the numbers Tagger.explain gives, for the selected row.
        self.why_box = self._build_why()

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(title)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.empty)
        layout.addLayout(add_row)
        layout.addWidget(self.why_box)
        self.show_photo(None)

    def _build_why(self) -> QFrame:
        box = QFrame()
        box.setFrameShape(QFrame.Shape.StyledPanel)
        self.why_title = QLabel()
        self.why_title.setWordWrap(True)
        self.why_title.setTextFormat(Qt.TextFormat.RichText)
        self.why_title.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        self.why_table = QTableWidget(0, 2)
        self.why_table.setHorizontalHeaderLabels(["", "Value"])
        self.why_table.verticalHeader().setVisible(False)
        self.why_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.why_table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.why_table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.why_table.setWordWrap(False)
        self.why_table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.why_table.horizontalHeader().setVisible(False)
        why_header = self.why_table.horizontalHeader()
        why_header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        why_header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.why_table.setVisible(False)
        why_layout = QVBoxLayout(box)
        why_layout.setContentsMargins(6, 6, 6, 6)
        why_layout.addWidget(self.why_title)
        why_layout.addWidget(self.why_table)
        return box

    # -- wiring -------------------------------------------------------------------------------

    def attach(self, library: Library, tagger: Callable[[], Tagger | None]) -> None:
        """Read tags from `library`'s catalog; change them and explain them through `tagger()`,
        which is None while the model is not loaded (the tagger is built on the model)."""
        self._store = library.label_sets
        self._tagger = tagger
        self.refresh()

    def shutdown(self) -> None:
        """The window is closing: wait for the reads and changes under way (the library closes
        next) and drop every answer from now on; a pending "why" is dropped."""
        self._why.drop()
        self._work.close()

    # -- showing ------------------------------------------------------------------------------

    def show_photo(self, photo: Photo | None) -> None:
        self.photo = photo
        self.refresh()

    @property
    def idle(self) -> bool:
        """No read or change of tags under way: the rows show what the catalog has."""
        return self._busy == 0

    def _run(self, fn: Callable[[], T], done: Callable[[T], None],
             failed: Callable[[str], None]) -> None:
        """`fn` on the panel's own thread, after what was asked before it."""
        self._busy += 1

        def ok(value: T) -> None:
            self._busy -= 1
            done(value)

        def error(message: str) -> None:
            self._busy -= 1
            failed(message)

        self._work.run(fn, ok, error)

    def refresh(self, select: int | None = None) -> None:
        """Re-read the photo's tags (off the UI thread); `select` a label id's row (else keep
        the selected one)."""
        current = self.tree.currentItem()
        if select is None and current is not None and current.data(_TAG, _ID) is not None:
            select = int(current.data(_TAG, _ID))
        self._why.drop()  # a pending "why" belongs to the rows being replaced
        photo, store = self.photo, self._store
        if photo is None or photo.id != self._shown:
            self._show([], None)  # not another photo's rows meanwhile
        if store is None:
            return
        photo_id = photo.id if photo is not None else None

        def read() -> tuple[list[PhotoTag], list[str]]:
            tags = store.photo_tags(photo_id) if photo_id is not None else []
            names = {lb.name for ls in store.label_sets() for lb in ls.labels}
            return tags, sorted(names, key=str.casefold)

        self._read_seq += 1
        seq = self._read_seq

        def answer(value: tuple[list[PhotoTag], list[str]]) -> None:
            if seq == self._read_seq and self.photo is photo:
                self._labels.setStringList(value[1])
                self._show(value[0], select)

        self._run(read, answer, self.message.emit)

    def _show(self, tags: list[PhotoTag], select: int | None) -> None:
        """Show `tags` as the photo's rows; `select` a label id's row."""
        photo = self.photo
        self._shown = photo.id if photo is not None else None
        self.tree.blockSignals(True)
        self.tree.clear()
        self._items = {}
        self._tags = tags if photo is not None else []
        ready = photo is not None and self._tagger() is not None
        group: QTreeWidgetItem | None = None
        for tag in self._tags:  # sorted by set, then label
            if group is None or group.text(_TAG) != tag.set_name:
                group = self._add_group(tag.set_name)
            self._add_row(group, tag, ready)
        self.tree.expandAll()
        self.tree.blockSignals(False)
        self.add_field.setEnabled(ready)
        self.add_button.setEnabled(ready)
        waiting = "" if ready or photo is None else " (once the model has loaded)"
        self.add_field.setToolTip(f"Tag this photo by hand{waiting}: a label name, or "
                                  "SET|LABEL; a new name becomes a label of the set 'my tags'.")
        self.tree.setVisible(bool(self._tags))
        self.empty.setVisible(not self._tags)
        self.empty.setText("" if photo is None or self._busy else
                           "No tags yet. Add one below, or enable a label set (Label sets) to "
                           "have photos tagged as they are indexed.")
        item = self._items.get(select) if select is not None else None
        if item is not None:
            self.tree.setCurrentItem(item)
        else:
            self._show_why(None)

    def _add_group(self, set_name: str) -> QTreeWidgetItem:
        group = QTreeWidgetItem([set_name])
        font = group.font(_TAG)
        font.setBold(True)
        group.setFont(_TAG, font)
        group.setForeground(_TAG, QBrush(QColor("#555")))
        group.setFlags(Qt.ItemFlag.ItemIsEnabled)  # a heading, not a tag to select
        group.setSizeHint(_TAG, QSize(0, _GROUP_HEIGHT))
        group.setToolTip(_TAG, f"Label set {set_name}")
        self.tree.addTopLevelItem(group)
        group.setFirstColumnSpanned(True)
        return group

    def _add_row(self, group: QTreeWidgetItem, tag: PhotoTag, ready: bool) -> None:
        state = tag_state(tag)
        text, tip = _STATES[state]
        score = "—" if tag.score is None else f"{tag.score:.2f}"
        item = QTreeWidgetItem([tag.label, score, text, ""])
        item.setData(_TAG, _ID, tag.label_id)
        item.setSizeHint(_TAG, QSize(0, _ROW_HEIGHT))
        item.setTextAlignment(_SCORE, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        item.setToolTip(_TAG, f"{tag.set_name}|{tag.label}: select it to see why")
        item.setToolTip(_SCORE, "Auto-tagging's score: softmax over the set's labels and "
                                "'none of these'" if tag.score is not None else
                                "Tags you add have no score; select it to see the numbers")
        item.setToolTip(_STATE, tip)
        if state == "rejected":
            font = item.font(_TAG)
            font.setStrikeOut(True)
            item.setFont(_TAG, font)
            for col in range(_ACTIONS):
                item.setForeground(col, QBrush(_DIM))
        group.addChild(item)
        self._items[tag.label_id] = item

        actions = QWidget()
        row = QHBoxLayout(actions)
        row.setContentsMargins(0, 1, 2, 1)
        row.setSpacing(2)
        row.addStretch(1)
        for action in _ACTIONS_BY_STATE[state]:
            button = QToolButton()
            button.setObjectName(action)
            button.setText(_BUTTONS[action][0])
            button.setToolTip(_BUTTONS[action][1])
            button.setAccessibleName(f"{action} {tag.label}")
            button.setEnabled(ready)
            button.clicked.connect(lambda _=False, a=action, t=tag: self.decide(t, a))
            row.addWidget(button)
        self.tree.setItemWidget(item, _ACTIONS, actions)

    def rows(self) -> list[tuple[str, str, str, str]]:
        """(set, label, score, state) as shown, top to bottom."""
        out = []
        groups = (self.tree.topLevelItem(n) for n in range(self.tree.topLevelItemCount()))
        for group in filter(None, groups):
            for item in filter(None, (group.child(k) for k in range(group.childCount()))):
                out.append((group.text(_TAG), item.text(_TAG), item.text(_SCORE),
                            item.text(_STATE)))
        return out

    def button(self, label: str, action: str) -> QToolButton | None:
        """The `action` button (accept, reject, remove, undo) of a row ("label" or
        "set|label"), if that row shows one."""
        for tag in self._tags:
            if label in (tag.label, f"{tag.set_name}|{tag.label}"):
                widget = self.tree.itemWidget(self._items[tag.label_id], _ACTIONS)
                found = widget.findChild(QToolButton, action) if widget else None
                if found is not None:
                    return found
        return None

    def select(self, label: str) -> None:
        """Select a row ("label" or "set|label"): its "why" is worked out and shown."""
        for tag in self._tags:
            if label in (tag.label, f"{tag.set_name}|{tag.label}"):
                self.tree.setCurrentItem(self._items[tag.label_id])
                return

    # -- changing -----------------------------------------------------------------------------

    def decide(self, tag: PhotoTag, action: str) -> None:
        """accept / reject an auto tag, remove one the user added, undo a rejection."""
        tagger = self._tagger()
        if tagger is None or self.photo is None:
            self.message.emit("Tags can be changed once the model has loaded.")
            return
        change = {"accept": tagger.accept_tag, "reject": tagger.unset_tag,
                  # Removing a hand-made tag, or undoing a "no": forget the row, so auto-tagging
                  # decides again (a rejection would be a "no" the user never said).
                  "remove": tagger.reset_tag, "undo": tagger.reset_tag}[action]
        photo_id, name = self.photo.id, f"{tag.set_name}|{tag.label}"

        def done(_value: object = None) -> None:
            if self.photo is not None and self.photo.id == photo_id:
                self.refresh(select=tag.label_id)
            self.changed.emit(photo_id)

        def failed(message: str) -> None:  # e.g. the tag changed meanwhile: say so, show it
            self.message.emit(message)
            done()

        self._run(lambda: change(photo_id, name), done, failed)

    def add_tag(self) -> None:
        text = " ".join(self.add_field.text().split())
        tagger = self._tagger()
        if not text or self.photo is None:
            return
        if tagger is None:
            self.message.emit("Tags can be changed once the model has loaded.")
            return
        photo_id = self.photo.id

        def done(value: tuple[object, Label]) -> None:
            if self.add_field.text().split() == text.split():
                self.add_field.clear()  # unless the user typed on meanwhile
            if self.photo is not None and self.photo.id == photo_id:
                self.refresh(select=value[1].id)
            self.changed.emit(photo_id)

        # An ambiguous or malformed name: the message says what to type (the text stays).
        self._run(lambda: tagger.set_tag(photo_id, text), done, self.message.emit)

    # -- why ----------------------------------------------------------------------------------

    def _current_changed(self, item: QTreeWidgetItem | None, _previous: object) -> None:
        label_id = item.data(_TAG, _ID) if item is not None else None
        tag = next((t for t in self._tags if t.label_id == label_id), None)
        if tag is None or self.photo is None:
            self._show_why(None)
            return
        tagger = self._tagger()
        if tagger is None:
            self._why.drop()
            self._show_why(f"Why {_name(tag)}: shown once the model has loaded.")
            return
        photo_id = self.photo.id
        self._show_why(f"Why {_name(tag)}: working it out…")
        self._why.run(lambda: tagger.explain(photo_id, tag.label_id), self.show_why,
                      lambda message: self._show_why(html.escape(message)))

    def _show_why(self, text: str | None) -> None:
        self.why_table.setVisible(False)
        self.why_table.setRowCount(0)
        if text is None:
            text = "Select a tag to see why it was given." if self._tags else ""
        self.why_title.setText(text)
        self.why_box.setVisible(bool(text))

    def show_why(self, why: TagScore) -> None:
        rejected = any(t.label_id == why.label_id and t.accepted is False for t in self._tags)
        self.why_title.setText(f"Why <b>{html.escape(why.label)}</b> "
                               f"<span style='color:#666'>({html.escape(why.set_name)})</span>: "
                               + _verdict(why, rejected))
        source = {"default": "default", "set": "the set's", "label": "the label's",
                  "calibrated": "learned from your decisions"}.get(why.threshold_source,
                                                                   why.threshold_source)
        # The decision first (score vs threshold, cosine vs floor), then what the cosine is
        # made of: one row per prompt of the ensemble.
        rows: list[tuple[str, str, str, bool]] = [
            ("score (softmax)", f"{why.score:.3f}",
             "softmax over the set's labels and 'none of these' (the floor)", True),
            (f"threshold ({source})", f"{why.threshold:.3f}", "the score must reach this", True),
            ("ensemble cosine (mean of the prompts)", f"{why.similarity:+.3f}",
             "cosine between the photo and the average of the prompts below", True),
            ("floor", f"{why.floor:+.3f}", "the ensemble cosine must reach this", True),
        ]
        rows += [(t.prompt, f"{t.similarity:+.3f}",
                  f"cosine between the photo and '{t.prompt}'", False) for t in why.templates]
        self.why_table.setRowCount(len(rows))
        for n, (name, value, tip, bold) in enumerate(rows):
            key, val = QTableWidgetItem(name), QTableWidgetItem(value)
            val.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            for cell in (key, val):
                cell.setToolTip(tip)
                if bold:
                    font = cell.font()
                    font.setBold(True)
                    cell.setFont(font)
                else:
                    cell.setForeground(QBrush(QColor("#444")))
            self.why_table.setItem(n, 0, key)
            self.why_table.setItem(n, 1, val)
        self.why_table.resizeRowsToContents()
        shown = min(len(rows), _WHY_ROWS)
        self.why_table.setFixedHeight(2 * self.why_table.frameWidth()
                                      + sum(self.why_table.rowHeight(n) for n in range(shown)))
        self.why_table.setVisible(True)
        self.why_box.setVisible(True)

    def why_values(self) -> dict[str, str]:
        """What the "why" table shows, row name -> value text."""
        cells = ((self.why_table.item(n, 0), self.why_table.item(n, 1))
                 for n in range(self.why_table.rowCount()))
        return {key.text(): value.text() for key, value in cells
                if key is not None and value is not None}


def _name(tag: PhotoTag) -> str:
    return f"<b>{html.escape(tag.label)}</b>"


def _verdict(why: TagScore, rejected: bool) -> str:
    if why.passes:
        # The table below says by how much: score over threshold, cosine over floor.
        return "auto-tagging <span style='color:#1b7f3b'>gives this tag</span>."
    if rejected:
        reason = "you rejected it"
    elif why.score < why.threshold:
        reason = f"score {why.score:.2f} &lt; threshold {why.threshold:.2f}"
    elif why.similarity < why.floor:
        reason = f"cosine {why.similarity:.3f} &lt; floor {why.floor:.2f}"
    else:
        reason = "another label of this set scores higher"
    return (f"auto-tagging <span style='color:#b00020'>would not give it</span>: {reason}.")
