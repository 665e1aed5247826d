"""The Training page's Blind spots table, as a user sees it: Measure fills Before with the
library's model, a fine-tuned model fills After, the worst family comes first, each row says
what to type instead, and the probes run off the UI thread."""

from __future__ import annotations

import threading

import pytest

from photoclip.gui.views.blindspots import BlindSpotsBox, cell_text, worst_first
from photoclip.gui.views.training import TrainingPage

FAMILIES = {"spatial", "negation", "counting", "binding", "typographic"}


@pytest.fixture
def page(show_page, library):
    return show_page(TrainingPage(library))


def _rows(box: BlindSpotsBox) -> list[list[str]]:
    t = box.table
    return [[t.item(r, c).text() for c in range(t.columnCount())] for r in range(t.rowCount())]


def test_measure_fills_before_worst_first_with_advice(qtbot, page, library, monkeypatch):
    box = page.blindspots
    ui = threading.get_ident()
    threads = []
    real = type(library).probe

    def probe(self, *args, **kwargs):
        threads.append(threading.get_ident())
        return real(self, *args, **kwargs)

    monkeypatch.setattr(type(library), "probe", probe)
    assert box.measure_button.isEnabled()
    with qtbot.waitSignal(box.measured, timeout=120_000) as measured:
        box.measure_button.click()
        assert not box.measure_button.isEnabled()
    assert measured.args == ["before"]
    assert threads
    assert ui not in threads  # the model and the pictures are off the UI thread
    rows = _rows(box)
    assert {r[0] for r in rows} == FAMILIES
    assert all(r[1].endswith(")") and "%" in r[1] for r in rows)
    assert all(r[2] == "–" for r in rows)  # noqa: RUF001 - nothing fine-tuned yet
    shown = [box.figures["before"][r[0]]["accuracy"] for r in rows]
    assert shown == sorted(shown)  # the worst blind spot first
    negation = next(r for r in rows if r[0] == "negation")
    assert "-people" in negation[3]  # what to type instead
    assert box.measure_button.isEnabled()


def test_a_fine_tuned_model_fills_after_and_before_if_missing(qtbot, page, tiny_clip_dir):
    box = page.blindspots
    with qtbot.waitSignal(box.measured, timeout=120_000,
                          check_params_cb=lambda column: column == "before"):
        box.measure_after(str(tiny_clip_dir))
        qtbot.waitUntil(lambda: bool(box.figures["after"]), timeout=120_000)
    rows = _rows(box)
    assert all("%" in r[1] and "%" in r[2] for r in rows)
    # The same weights measured twice, with the same seed: the same figures.
    assert [r[1] for r in rows] == [r[2] for r in rows]


def test_the_library_model_waits_while_the_window_loads_it(qtbot, page):
    box = page.blindspots
    page.set_model_state("Loading the model…", evaluation="Loading the model…")
    assert not box.measure_button.isEnabled()
    assert "Loading" in box.measure_button.toolTip()
    box.measure_before()
    assert not box.busy
    assert "Waiting" in box.state.text()
    with qtbot.waitSignal(box.measured, timeout=120_000):
        page.set_model_state(None)  # loaded: the waiting measurement starts


def test_cells_and_order():
    fam = {"accuracy": 0.625, "ci95": [0.55, 0.69]}
    assert cell_text(fam) == "62% (55–69)"  # noqa: RUF001
    before = {"a": {"accuracy": 0.9}, "b": {"accuracy": 0.5}}
    after = {"a": {"accuracy": 0.4}}
    assert worst_first(before, after) == ["a", "b"]
