"""The grid's model: chunks for the view, and refreshes that change only what changed."""

from __future__ import annotations

import random

import pytest
from PySide6.QtCore import QPersistentModelIndex

from photoclip.gui.models import CHUNK, PhotoGridModel, Results, plan_update


def rows(ids):
    return [(i, f"/p/{i}.jpg", None, None) for i in ids]


def visible(model: PhotoGridModel) -> list[int]:
    return [model.item(r).photo_id for r in range(model.rowCount())]


def test_the_view_gets_a_chunk_then_more_on_demand(qtbot):
    model = PhotoGridModel()
    model.set_rows(rows(range(3000)))
    assert model.rowCount() == CHUNK
    assert model.total == 3000
    while model.canFetchMore():
        model.fetchMore()
    assert visible(model) == list(range(3000))


@pytest.mark.parametrize("seed", range(12))
def test_a_refresh_keeps_the_rows_that_stayed_and_their_indexes(qtbot, qtmodeltester, seed):
    rng = random.Random(seed)
    model = PhotoGridModel()
    qtmodeltester.check(model)  # every signal the refresh sends is checked for consistency
    old = list(range(rng.choice([5, 600, 1200])))
    model.set_rows(rows(old))
    for _ in range(rng.randrange(3)):
        model.fetchMore()
    keep = rng.choice(visible(model))
    persistent = QPersistentModelIndex(model.index(visible(model).index(keep)))
    # photos arrive anywhere (most at the top), some go
    new = [i for i in old if rng.random() > 0.05 or i == keep]
    for n in range(rng.randrange(0, 700)):
        new.insert(rng.randrange(len(new) + 1) if n % 3 == 0 else 0, 10_000 + n)
    model.set_rows(rows(new), keep=True)
    shown = visible(model)
    assert shown == new[:len(shown)]
    assert len(shown) >= min(CHUNK, len(new))
    assert persistent.isValid()
    assert model.item(persistent.row()).photo_id == keep


def test_a_batch_that_lands_in_one_run_is_one_insert(qtbot, qtmodeltester):
    model = PhotoGridModel()
    qtmodeltester.check(model)
    model.set_rows(rows(range(1200)))
    model.fetchMore()
    persistent = QPersistentModelIndex(model.index(700))
    inserted = []
    model.rowsInserted.connect(lambda _p, first, last: inserted.append((first, last)))
    model.set_rows(rows([*range(5000, 5040), *range(1200)]), keep=True)
    assert inserted == [(0, 39)]
    assert model.item(persistent.row()).photo_id == 700
    assert visible(model)[:41] == [*range(5000, 5040), 0]


@pytest.mark.parametrize("seed", range(6))
def test_a_refresh_diffed_in_a_worker_shows_what_a_diff_on_the_spot_shows(qtbot, qtmodeltester,
                                                                          seed):
    """A batch landing at 100,000 rows is diffed in the worker that fetched it; the view ends
    the same as with the diff made on the UI thread, even when the user scrolled meanwhile."""
    rng = random.Random(seed)
    old = list(range(rng.choice([700, 2500])))
    new = [i for i in old if rng.random() > 0.03]
    for n in range(300):
        new.insert(rng.randrange(len(new) + 1), 10_000 + n)
    shown_by = []
    for planned in (False, True):
        model = PhotoGridModel()
        qtmodeltester.check(model)
        model.set_rows(rows(old))
        model.fetchMore()
        keep = rng.choice([i for i in visible(model) if i in set(new)])
        persistent = QPersistentModelIndex(model.index(visible(model).index(keep)))
        fetch = model.planned(lambda: Results(rows(new), len(new)))
        if planned and seed % 2:
            model.fetchMore()  # the user scrolled before the answer came: the plan is stale
        results = fetch() if planned else Results(rows(new), len(new))
        model.set_rows(results.rows, keep=True, plan=results.plan)
        assert persistent.isValid()
        assert model.item(persistent.row()).photo_id == keep
        shown_by.append(visible(model))
        assert shown_by[-1] == new[:len(shown_by[-1])]
    if seed % 2 == 0:
        assert shown_by[0] == shown_by[1]


def test_plan_update_says_which_runs_go_and_come():
    old = rows([1, 2, 3, 4, 5, 6])
    new = rows([1, 9, 2, 4, 8, 5, 6, 7])
    plan = plan_update(old, 6, new)
    assert plan.removed == [(2, 2)]  # photo 3
    assert plan.inserted == [(1, 2), (4, 5)]  # 9, then 8 (7 is below what the view had)
    assert plan.new_shown == 7
    assert plan_update(old, 3, rows([1, 2, 3, 7])).unchanged
