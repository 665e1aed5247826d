"""A photo renamed and edited while photoclip was away: its user tags follow it.

Content and path both changed (a crop, a rotation, a re-export under a new name), so neither
the hash nor an event ties the new file to the vanished one. What does: the same folder, the
same catch-up, and near-identical embeddings. A vanished photo carrying the user's tags or
decisions, in a folder where new photos appeared, is held (its row, and so its embedding, kept)
until the new photos of this run are embedded; then each held photo is paired with the most
similar new one there. Above CARRY_COSINE the user's tags and decisions move to the new photo;
above SUGGEST_COSINE the pair is only listed (IndexReport.suggested_carry) with the tags, and
kept for the user to apply or dismiss (edit_suggestions.py: `photoclip edits`, the window's
"Review possible edits…"), as is the best of several near-identical new photos (a burst); the rest
are deleted as any vanished photo is. A held photo whose file is back is left alone: two
photos that both exist are never merged.
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from photoclip.core.catalog import Catalog, FileState
from photoclip.core.indexing import edit_suggestions
from photoclip.core.indexing.report import CarryOver, IndexReport
from photoclip.core.vectors import VectorIndex

# Cosine of two embeddings above which a vanished photo's tags move to a new photo in its
# folder without asking. Not measured with pretrained weights (none can be had where this was
# built): with random weights (ViT-B/32 architecture, 25 skimage.data photos) edits scored
# 0.99+ but so did 11% of unrelated pairs (24% >= 0.95), so random weights cannot set these
# bars. A wrong carry costs the user a stray tag, a missed one costs their tags, so the
# automatic bar is the stricter one; the same folder and the same catch-up narrow the pairs.
CARRY_COSINE = 0.98
# Above this (and below CARRY_COSINE) the pair is offered in the report, not applied: the
# issue's "near-identical" bar, which heavier edits (a 90 degree turn, a 15% crop) may need.
SUGGEST_COSINE = 0.95
# A second new photo this close to the best one's cosine makes the pairing unsure (a burst of
# near-identical shots, two exports of one edit): offered, not applied.
RIVAL_MARGIN = 0.02


@dataclass
class Held:
    """Vanished photos with the user's tags, kept until the new photos of their folder are
    embedded (see resolve_edits)."""

    gone: dict[str, FileState] = field(default_factory=dict)  # vanished path: its row
    new: dict[str, list[str]] = field(default_factory=dict)  # folder: paths new there


def hold_for_edits(gone: dict[str, FileState], new_paths: Iterable[str],
                   catalog: Catalog) -> Held:
    """Take out of `gone` the photos with user decisions in a folder where `new_paths` (not
    moves: unknown content) appeared: they may have been edited and renamed."""
    folders: dict[str, list[str]] = defaultdict(list)
    for path in new_paths:
        folders[os.path.dirname(path)].append(path)
    maybe = {st.id: path for path, st in gone.items()
             if st.status == "ok" and st.has_embedding and os.path.dirname(path) in folders}
    held = Held()
    if not maybe:
        return held
    for pid in sorted(catalog.decided_photo_ids(maybe)):
        path = maybe[pid]
        folder = os.path.dirname(path)
        held.gone[path] = gone.pop(path)
        held.new[folder] = sorted(folders[folder])
    return held


def resolve_edits(catalog: Catalog, vectors: VectorIndex, model: str, held: Held,
                  report: IndexReport, finished: bool = True,
                  ) -> tuple[list[tuple[str, str]], dict[str, FileState]]:
    """Once this run embedded the new photos: carry the held photos' tags to their edits, or
    list the pair, or delete them. A folder whose new photos were not all reached (`finished`
    false: cancelled, stopped) keeps its held photos for the next run.

    Returns (old path, new path) per carried photo and the held photos deleted (the caller
    keeps their decisions a while and tells the sidecars); `held` is emptied."""
    new_ids = catalog.photo_ids_at(p for paths in held.new.values() for p in paths)
    vecs = catalog.embeddings_of(model, [*new_ids.values(),
                                         *(st.id for st in held.gone.values())])
    carried: list[tuple[str, str, FileState, int]] = []
    removed: dict[str, FileState] = {}
    kept: list[tuple[str, str, float, tuple[str, ...], int, str | None, int]] = []
    by_folder: dict[str, list[tuple[str, FileState]]] = defaultdict(list)
    for path, st in held.gone.items():
        by_folder[os.path.dirname(path)].append((path, st))
    for folder, olds in by_folder.items():
        news = held.new.get(folder, [])
        if not finished and any(p not in new_ids for p in news):
            continue  # the rest of the folder is read next run; the rows stay till then
        pairs: list[tuple[float, str, str]] = []
        gone = [(p, st) for p, st in olds if not os.path.lexists(p)]  # back: not ours to touch
        for old, st in gone:
            for new in news:
                nid = new_ids.get(new)
                if nid in vecs and st.id in vecs and os.path.exists(new):
                    pairs.append((float(vecs[st.id] @ vecs[nid]), old, new))
        states = dict(gone)
        # A photo with several near-identical newcomers (a burst, two exports) is not sure:
        # the best of them is offered, not applied.
        best: dict[str, float] = {}
        for sim, old, _ in pairs:
            best[old] = max(sim, best.get(old, sim))
        rivals = Counter(old for sim, old, _ in pairs
                         if sim >= max(SUGGEST_COSINE, best[old] - RIVAL_MARGIN))
        used: set[str] = set()
        for sim, old, new in sorted(pairs, reverse=True):  # best first, one to one
            if old in used or new in used or sim < SUGGEST_COSINE:
                continue
            used.update((old, new))
            if sim >= CARRY_COSINE and rivals[old] == 1:
                carried.append((old, new, states[old], new_ids[new]))
            else:
                hint = CarryOver(old, new, round(sim, 4), catalog.user_tag_names(states[old].id))
                report.suggested_carry.append(hint)
                kept.append((old, new, hint.similarity, hint.tags, states[old].id,
                             states[old].hash, new_ids[new]))
        taken = {c[0] for c in carried}
        removed.update((old, st) for old, st in gone if old not in taken)
    edit_suggestions.record(catalog, kept)  # before the vanished rows (and tags) go
    if carried:
        with catalog.transaction():
            for _, _, st, nid in carried:
                catalog.carry_decisions(st.id, nid)
        vectors.remove([st.id for *_, st, _ in carried])
    report.carried_over += [(old, new) for old, new, *_ in carried]
    held.gone.clear()
    held.new.clear()
    return [(old, new) for old, new, *_ in carried], removed
