"""The Label sets page's "How sure before tagging" panel as a user works it: measure the selected
set on the tags they decided, read the trade-off, save a threshold, see it in force."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from photoclip.core.tagging import LabelSetSpec, LabelSpec, TagStore
from photoclip.core.types import PhotoRecord
from photoclip.gui.views.labelset_tradeoff import T_COVERAGE
from photoclip.gui.views.labelsets import LabelSetsPage

LABELS = ("red", "green", "blue")


@pytest.fixture
def page(qtbot, show_page, library):
    """A library whose 'colours' set has 45 photos decided by hand (hand-set vectors near their
    label's text, some between two labels) and an empty set 'pets'; the page on it."""
    store = TagStore(library.catalog)
    ls, _ = store.save_set(LabelSetSpec("colours", tuple(LabelSpec(n) for n in LABELS),
                                        floor=-1.0))
    store.save_set(LabelSetSpec("pets", (LabelSpec("cat"), LabelSpec("dog"))))
    texts = library.tagger().set_vectors(ls).labels
    rng = np.random.default_rng(0)
    root = library.catalog.add_root(str(library.paths.root / "photos"))
    for i in range(45):
        label = i % 3
        pull = texts[label] + rng.uniform(0, 1.2) * texts[(label + 1) % 3]
        v = pull + rng.normal(0, 0.35, texts.shape[1])
        pid = library.catalog.upsert_photo(PhotoRecord(root.id, f"{root.path}/p{i}.jpg", 1, 1,
                                                       f"h{i}"))
        library.catalog.put_embeddings(library.model, [pid], (v / np.linalg.norm(v))[None, :])
        store.set_user_tag(pid, ls.labels[label].id)
    page = show_page(LabelSetsPage(library))
    qtbot.waitUntil(lambda: not page.reading, timeout=10_000)
    page.select_set("colours")
    return page


def test_measure_shows_the_tradeoff_and_saves_a_threshold(qtbot, page, tmp_path):
    panel = page.tradeoff
    assert panel.measure_button.isEnabled()
    assert not panel.body.isVisible()
    assert "default threshold" in panel.intro.text()
    with qtbot.waitSignal(panel.measured, timeout=60_000) as done:
        panel.measure_button.click()
        assert not panel.measure_button.isEnabled()  # one measurement at a time
    result = done.args[0]
    assert result is not None
    assert panel.body.isVisible()
    assert panel.table.rowCount() == len(result.curve)
    assert [panel.table.item(r, T_COVERAGE).data(Qt.ItemDataRole.UserRole)
            for r in range(panel.table.rowCount())] == [c for c, *_ in result.curve]
    summary = panel.summary.text()
    assert f"the {result.photos} photos you decided on" in summary
    assert f"best guess on those {result.measured_on}: {result.accuracy:.0%}" in summary
    assert f"at {result.precision:.0%} right" in summary
    default = next(r for r, (c, *_) in enumerate(result.curve) if c == 0.8)
    assert panel.table.currentRow() == default
    assert panel.use_button.text() == f"Use threshold for {result.curve[default][3]:.0%} coverage"
    panel.grab().save(str(tmp_path / "tradeoff.png"))
    page.grab().save(str(tmp_path / "page.png"))

    row = next(r for r, (c, *_) in enumerate(result.curve) if c == 0.6)
    panel.table.setCurrentCell(row, T_COVERAGE)
    assert panel.use_button.text() == f"Use threshold for {result.curve[row][3]:.0%} coverage"
    with qtbot.waitSignal(panel.saved, timeout=10_000) as saved:
        panel.use_button.click()
    threshold = result.curve[row][1]
    assert saved.args[1] == threshold
    assert TagStore(page.library.catalog).require_set("colours").threshold == threshold
    assert "Saved threshold" in panel.message_label.text()
    qtbot.waitUntil(lambda: not page.reading, timeout=10_000)
    assert page.editor.threshold_edit.text() == f"{threshold:g}"  # the page shows it
    assert "saved for this set" in panel.intro.text()
    assert panel.body.isVisible()  # the same set: its figures stay
    panel.grab().save(str(tmp_path / "saved.png"))


def test_too_few_decisions_and_a_model_not_ready_are_explained(qtbot, page):
    panel = page.tradeoff
    page.set_model_state("Re-tagging waits for the model to load")
    assert not panel.measure_button.isEnabled()
    assert "waits for the model" in panel.measure_button.toolTip()
    page.set_model_state(None)
    assert panel.measure_button.isEnabled()

    page.select_set("pets")
    assert page.current is not None
    assert page.current.name == "pets"
    with qtbot.waitSignal(panel.measured, timeout=60_000) as done:
        panel.measure_button.click()
    assert done.args[0] is None
    assert "at least 20" in panel.message_label.text()
    assert not panel.body.isVisible()
    assert not panel.use_button.isEnabled()
