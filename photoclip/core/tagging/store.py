"""Catalog access for tagging: label sets, labels, tags and decisions, text-embedding cache.

Uses the Catalog's one connection and lock (`transaction()`, `query`), so tagging from the
indexer thread and reading from the UI never race.

Tag rows (schema v3): source 'auto' or 'user'; accepted NULL (undecided), 1 or 0. A row counts as
a tag of the photo unless it is rejected (accepted = 0); a rejected row is kept as the user's
"no", so auto-tagging never brings that tag back. Auto-tagging rewrites only undecided auto rows.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from photoclip.core.catalog import Catalog
from photoclip.core.catalog.database import in_chunks, under
from photoclip.core.errors import LabelSetError
from photoclip.core.tagging.labelsets import LabelSetSpec, check_name, check_spec
from photoclip.core.types import Label, LabelSet, PhotoTag

log = logging.getLogger(__name__)

# Where tags the user types by hand land when no label set has that label. Created disabled:
# auto-tagging with labels nobody chose as prompts would surprise; enabling it is one command.
MANUAL_SET = "my tags"
# A row is one of the photo's tags unless the user rejected it.
EFFECTIVE = "(t.accepted IS NULL OR t.accepted = 1)"


@dataclass(frozen=True)
class Decision:
    photo_id: int
    label_id: int
    positive: bool  # accepted, or set by the user; False: rejected


@dataclass(frozen=True)
class WriteResult:
    applied: int  # auto tags written (new or refreshed)
    removed: int  # undecided auto tags that no longer pass
    tagged: frozenset[int]  # photos that got at least one auto tag


class TagStore:
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    # -- label sets -------------------------------------------------------------------------

    def label_sets(self, enabled_only: bool = False) -> list[LabelSet]:
        where = "WHERE enabled = 1" if enabled_only else ""
        rows = self.catalog.query(
            f"SELECT id, name, enabled, multi_label, threshold, floor, templates "
            f"FROM label_sets {where} ORDER BY name"
        )
        labels = self._labels([int(r[0]) for r in rows])
        return [self._set(r, labels.get(int(r[0]), ())) for r in rows]

    def label_set(self, name: str) -> LabelSet | None:
        rows = self.catalog.query(
            "SELECT id, name, enabled, multi_label, threshold, floor, templates "
            "FROM label_sets WHERE name = ?", (name,))
        if not rows:
            rows = self.catalog.query(
                "SELECT id, name, enabled, multi_label, threshold, floor, templates "
                "FROM label_sets WHERE lower(name) = lower(?)", (name,))
        if len(rows) != 1:
            return None
        set_id = int(rows[0][0])
        return self._set(rows[0], self._labels([set_id]).get(set_id, ()))

    def label_set_by_id(self, set_id: int) -> LabelSet:
        rows = self.catalog.query(
            "SELECT id, name, enabled, multi_label, threshold, floor, templates "
            "FROM label_sets WHERE id = ?", (set_id,))
        return self._set(rows[0], self._labels([set_id]).get(set_id, ()))

    def _labels(self, set_ids: Sequence[int]) -> dict[int, tuple[Label, ...]]:
        out: dict[int, list[Label]] = {}
        for chunk, marks in in_chunks(map(int, set_ids)):
            for i, sid, name, thr, cal in self.catalog.query(
                f"SELECT id, set_id, name, threshold, calibrated FROM labels "
                f"WHERE set_id IN ({marks}) ORDER BY id", chunk
            ):
                out.setdefault(int(sid), []).append(
                    Label(int(i), int(sid), str(name), None if thr is None else float(thr),
                          bool(cal)))
        return {k: tuple(v) for k, v in out.items()}

    @staticmethod
    def _set(row: tuple[Any, ...], labels: tuple[Label, ...]) -> LabelSet:
        i, name, enabled, multi, thr, floor, templates = row
        return LabelSet(
            id=int(i),
            name=str(name),
            labels=labels,
            enabled=bool(enabled),
            multi_label=bool(multi),
            threshold=None if thr is None else float(thr),
            floor=None if floor is None else float(floor),
            templates=None if templates is None else tuple(json.loads(str(templates))),
        )

    def save_set(self, spec: LabelSetSpec) -> tuple[LabelSet, bool]:
        """Create the set, or update the one of that name; returns (set, created).

        A label that stays keeps its id, so its tags and the user's decisions survive; a label
        that goes takes its tags with it.
        """
        check_spec(spec)  # however it was made: a file, --labels, the GUI
        templates = None if spec.templates is None else json.dumps(list(spec.templates))
        with self.catalog.transaction() as c:
            row = c.execute("SELECT id FROM label_sets WHERE name = ?", (spec.name,)).fetchone()
            created = row is None
            if created:
                set_id = int(c.execute(
                    "INSERT INTO label_sets(name, enabled, multi_label, threshold, floor, "
                    "templates) VALUES (?,?,?,?,?,?) RETURNING id",
                    (spec.name, int(spec.enabled), int(spec.multi_label), spec.threshold,
                     spec.floor, templates)).fetchone()[0])
            else:
                set_id = int(row[0])
                c.execute("UPDATE label_sets SET enabled = ?, multi_label = ?, threshold = ?, "
                          "floor = ?, templates = ? WHERE id = ?",
                          (int(spec.enabled), int(spec.multi_label), spec.threshold, spec.floor,
                           templates, set_id))
            existing = {str(n).casefold(): int(i) for i, n in c.execute(
                "SELECT id, name FROM labels WHERE set_id = ?", (set_id,))}
            keep: set[int] = set()
            for lb in spec.labels:
                label_id = existing.get(lb.name.casefold())
                if label_id is None:
                    c.execute("INSERT INTO labels(set_id, name, threshold, calibrated) "
                              "VALUES (?,?,?,?)",
                              (set_id, lb.name, lb.threshold, int(lb.calibrated)))
                else:
                    keep.add(label_id)
                    c.execute("UPDATE labels SET name = ?, threshold = ?, calibrated = ? "
                              "WHERE id = ?",
                              (lb.name, lb.threshold, int(lb.calibrated), label_id))
            gone = [i for i in existing.values() if i not in keep]
            for chunk, marks in in_chunks(gone):
                c.execute(f"DELETE FROM labels WHERE id IN ({marks})", chunk)
        return self.label_set_by_id(set_id), created

    def remove_set(self, name: str) -> int:
        """Delete a set with its labels and their tags; returns how many tags went."""
        found = self.require_set(name)
        with self.catalog.transaction() as c:
            n = int(c.execute("SELECT count(*) FROM tags t JOIN labels l ON l.id = t.label_id "
                              f"WHERE l.set_id = ? AND {EFFECTIVE}", (found.id,)).fetchone()[0])
            c.execute("DELETE FROM label_sets WHERE id = ?", (found.id,))
        return n

    def rename_label(self, label_id: int, name: str) -> Label:
        """Rename a label in place: unlike save_set (which matches labels by name), its tags and
        the user's decisions stay with it, so fixing a typo loses nothing."""
        name = check_name(name, "label")
        ls, _ = self.label_by_id(label_id)
        if any(lb.id != label_id and lb.name.casefold() == name.casefold() for lb in ls.labels):
            raise LabelSetError(f"The set {ls.name!r} already has a label {name!r}.")
        with self.catalog.transaction() as c:
            c.execute("UPDATE labels SET name = ? WHERE id = ?", (name, label_id))
        return self.label_by_id(label_id)[1]

    def set_enabled(self, set_id: int, enabled: bool) -> None:
        with self.catalog.transaction() as c:
            c.execute("UPDATE label_sets SET enabled = ? WHERE id = ?", (int(enabled), set_id))

    def require_set(self, name: str) -> LabelSet:
        found = self.label_set(name)
        if found is None:
            known = ", ".join(s.name for s in self.label_sets()) or "none yet"
            raise LabelSetError(f"No label set named {name!r} (label sets: {known}); see "
                                "`photoclip labels list`.")
        return found

    def set_calibration(self, updates: Iterable[tuple[int, float | None]]) -> None:
        """(label id, learned threshold or None to forget it) for calibrated labels."""
        with self.catalog.transaction() as c:
            c.executemany("UPDATE labels SET threshold = ?, calibrated = ? WHERE id = ?",
                          [(t, int(t is not None), i) for i, t in updates])

    # -- labels -----------------------------------------------------------------------------

    def find_labels(self, ref: str) -> list[tuple[LabelSet, Label]]:
        """Labels named `ref`, or `SET|LABEL` / `SET/LABEL` for one set's label."""
        ref = " ".join(ref.split())
        out: list[tuple[LabelSet, Label]] = []
        for sep in ("|", "/"):
            if sep in ref:
                set_name, _, label_name = ref.partition(sep)
                found = self.label_set(set_name.strip())
                if found is not None:
                    out += [(found, lb) for lb in found.labels
                            if lb.name.casefold() == label_name.strip().casefold()]
        if out:
            return out
        rows = self.catalog.query(
            "SELECT l.id, l.set_id FROM labels l JOIN label_sets s ON s.id = l.set_id "
            "WHERE lower(l.name) = lower(?) ORDER BY s.name", (ref,))
        sets: dict[int, LabelSet] = {}
        for label_id, set_id in rows:
            ls = sets.setdefault(int(set_id), self.label_set_by_id(int(set_id)))
            out += [(ls, lb) for lb in ls.labels if lb.id == int(label_id)]
        return out

    def label_by_id(self, label_id: int) -> tuple[LabelSet, Label]:
        rows = self.catalog.query("SELECT set_id FROM labels WHERE id = ?", (label_id,))
        if not rows:
            raise LabelSetError(f"No label with id {label_id}.")
        ls = self.label_set_by_id(int(rows[0][0]))
        return ls, next(lb for lb in ls.labels if lb.id == label_id)

    def manual_label(self, name: str) -> tuple[LabelSet, Label]:
        """The label `name` of the hand-made tags set, created (disabled) when missing."""
        name = check_name(name, "label")
        with self.catalog.transaction() as c:
            c.execute("INSERT OR IGNORE INTO label_sets(name, enabled) VALUES (?, 0)",
                      (MANUAL_SET,))
            set_id = int(c.execute("SELECT id FROM label_sets WHERE name = ?",
                                   (MANUAL_SET,)).fetchone()[0])
            c.execute("INSERT OR IGNORE INTO labels(set_id, name) VALUES (?, ?)", (set_id, name))
            label_id = int(c.execute("SELECT id FROM labels WHERE set_id = ? AND name = ?",
                                     (set_id, name)).fetchone()[0])
        return self.label_by_id(label_id)

    # -- tags -------------------------------------------------------------------------------

    def photo_tags(self, photo_id: int) -> list[PhotoTag]:
        """Every tag row of a photo, rejected ones included, by set then label."""
        rows = self.catalog.query(
            "SELECT t.label_id, l.name, s.name, t.score, t.source, t.accepted "
            "FROM tags t JOIN labels l ON l.id = t.label_id JOIN label_sets s ON s.id = l.set_id "
            "WHERE t.photo_id = ? ORDER BY s.name, l.name", (photo_id,))
        return [PhotoTag(photo_id, int(lid), str(ln), str(sn),
                         None if sc is None else float(sc), str(src),
                         None if acc is None else bool(acc))
                for lid, ln, sn, sc, src, acc in rows]

    def effective_tags(self, photo_ids: Sequence[int]) -> dict[int, list[tuple[str, str]]]:
        """photo id -> [(set, label)] of its tags (rejected ones left out), sorted."""
        out: dict[int, list[tuple[str, str]]] = {}
        for chunk, marks in in_chunks(map(int, photo_ids)):
            for pid, sname, lname in self.catalog.query(
                "SELECT t.photo_id, s.name, l.name FROM tags t "
                "JOIN labels l ON l.id = t.label_id JOIN label_sets s ON s.id = l.set_id "
                f"WHERE t.photo_id IN ({marks}) AND {EFFECTIVE} "
                "ORDER BY s.name, l.name", chunk
            ):
                out.setdefault(int(pid), []).append((str(sname), str(lname)))
        return out

    def tag_counts(self, set_id: int) -> dict[int, tuple[int, int, int]]:
        """label id -> (tags, accepted or user-set, rejected)."""
        rows = self.catalog.query(
            f"SELECT t.label_id, sum({EFFECTIVE}), "
            "sum(t.accepted = 1 OR t.source = 'user'), sum(t.accepted = 0) "
            "FROM tags t JOIN labels l ON l.id = t.label_id WHERE l.set_id = ? "
            "GROUP BY t.label_id", (set_id,))
        return {int(i): (int(a or 0), int(b or 0), int(c or 0)) for i, a, b, c in rows}

    def write_auto(
        self,
        label_set: LabelSet,
        model: str,
        photo_ids: Sequence[int],
        scores: np.ndarray,
        passes: np.ndarray,
    ) -> WriteResult:
        """Store one set's auto tags for these photos, in one transaction.

        Undecided auto tags are replaced by what passes now; user tags and decided (accepted or
        rejected) tags are left exactly as they are.
        """
        label_ids = [lb.id for lb in label_set.labels]
        applied = removed = 0
        tagged: set[int] = set()
        if not label_ids or not len(photo_ids):
            return WriteResult(0, 0, frozenset())
        start = 0  # where this chunk's rows begin in `scores` and `passes`
        with self.catalog.transaction() as c:
            for pids, marks in in_chunks(map(int, photo_ids)):
                # The set's labels by subquery: one parameter however many labels it has.
                filt = (f"photo_id IN ({marks}) "
                        "AND label_id IN (SELECT id FROM labels WHERE set_id = ?)")
                protected: set[tuple[int, int]] = set()
                undecided: set[tuple[int, int]] = set()
                for pid, lid, src, acc in c.execute(
                    f"SELECT photo_id, label_id, source, accepted FROM tags WHERE {filt}",
                    [*pids, label_set.id],
                ):
                    key = (int(pid), int(lid))
                    (protected if src == "user" or acc is not None else undecided).add(key)
                rows: list[tuple[int, int, float, str]] = []
                sub_pass = passes[start : start + len(pids)]
                sub_score = scores[start : start + len(pids)]
                for n, l_idx in zip(*np.nonzero(sub_pass), strict=True):
                    key = (pids[int(n)], label_ids[int(l_idx)])
                    if key not in protected:
                        rows.append((*key, float(sub_score[n, l_idx]), model))
                        tagged.add(key[0])
                c.execute(f"DELETE FROM tags WHERE {filt} AND source = 'auto' "
                          "AND accepted IS NULL", [*pids, label_set.id])
                c.executemany(
                    "INSERT INTO tags(photo_id, label_id, score, source, model) "
                    "VALUES (?, ?, ?, 'auto', ?)", rows)
                applied += len(rows)
                removed += len(undecided - {(p, lb) for p, lb, _, _ in rows})
                start += len(pids)
        return WriteResult(applied, removed, frozenset(tagged))

    def decisions(self, label_ids: Sequence[int], model: str) -> list[Decision]:
        """The user's yes/no on these labels, for photos that have an embedding of `model`."""
        out: list[Decision] = []
        for chunk, marks in in_chunks(map(int, label_ids)):
            for pid, lid, src, acc in self.catalog.query(
                "SELECT t.photo_id, t.label_id, t.source, t.accepted FROM tags t "
                "JOIN embeddings e ON e.photo_id = t.photo_id AND e.model = ? "
                f"WHERE t.label_id IN ({marks}) "
                "AND (t.source = 'user' OR t.accepted IS NOT NULL)", [model, *chunk]
            ):
                out.append(Decision(int(pid), int(lid), src == "user" or acc == 1))
        return out

    def rejections(self, photo_ids: Sequence[int], set_id: int) -> set[tuple[int, int]]:
        """(photo id, label id) pairs of this set the user rejected for these photos."""
        out: set[tuple[int, int]] = set()
        for chunk, marks in in_chunks(map(int, photo_ids)):
            out.update((int(p), int(lb)) for p, lb in self.catalog.query(
                f"SELECT photo_id, label_id FROM tags WHERE accepted = 0 "
                f"AND photo_id IN ({marks}) "
                "AND label_id IN (SELECT id FROM labels WHERE set_id = ?)", [*chunk, set_id]))
        return out

    def set_user_tag(self, photo_id: int, label_id: int) -> None:
        with self.catalog.transaction() as c:
            c.execute(
                "INSERT INTO tags(photo_id, label_id, score, source, accepted) "
                "VALUES (?, ?, NULL, 'user', 1) ON CONFLICT(photo_id, label_id) DO UPDATE SET "
                "score = NULL, source = 'user', accepted = 1, model = NULL, "
                "updated_at = strftime('%Y-%m-%dT%H:%M:%S', 'now')", (photo_id, label_id))

    def reject(self, photo_id: int, label_id: int) -> None:
        """The user says no: any tag goes, and the "no" stays so auto-tagging respects it."""
        with self.catalog.transaction() as c:
            c.execute(
                "INSERT INTO tags(photo_id, label_id, score, source, accepted) "
                "VALUES (?, ?, NULL, 'auto', 0) ON CONFLICT(photo_id, label_id) DO UPDATE SET "
                "source = 'auto', accepted = 0, "
                "updated_at = strftime('%Y-%m-%dT%H:%M:%S', 'now')", (photo_id, label_id))

    def accept(self, photo_id: int, label_id: int) -> bool:
        """Confirm an auto tag; False when the photo has no such tag to confirm."""
        with self.catalog.transaction() as c:
            return c.execute(
                "UPDATE tags SET accepted = 1, updated_at = strftime('%Y-%m-%dT%H:%M:%S', 'now') "
                "WHERE photo_id = ? AND label_id = ? AND source = 'auto' "
                "AND (accepted IS NULL OR accepted = 1)", (photo_id, label_id)).rowcount > 0

    def forget(self, photo_id: int, label_id: int) -> bool:
        """Drop the tag and any decision: the label is left to auto-tagging again."""
        with self.catalog.transaction() as c:
            return c.execute("DELETE FROM tags WHERE photo_id = ? AND label_id = ?",
                             (photo_id, label_id)).rowcount > 0

    # -- photos and vectors -----------------------------------------------------------------

    def embedded_photo_ids(self, model: str, folder: str | None = None) -> list[int]:
        sql = ("SELECT p.id FROM photos p JOIN embeddings e ON e.photo_id = p.id AND e.model = ? "
               "WHERE p.status = 'ok'")
        params: list[object] = [model]
        if folder:
            lo, hi = under(folder)
            sql += " AND p.path >= ? AND p.path < ?"
            params += [lo, hi]
        return [int(r[0]) for r in self.catalog.query(sql + " ORDER BY p.id", params)]

    def embedding(self, model: str, photo_id: int) -> np.ndarray | None:
        rows = self.catalog.query(
            "SELECT vector FROM embeddings WHERE photo_id = ? AND model = ?", (photo_id, model))
        return np.frombuffer(bytes(rows[0][0]), dtype=np.float32).copy() if rows else None

    def text_vectors(self, model: str, texts: Sequence[str]) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for chunk, marks in in_chunks(texts):
            for text, blob in self.catalog.query(
                f"SELECT text, vector FROM text_embeddings WHERE model = ? "
                f"AND text IN ({marks})", [model, *chunk]
            ):
                out[str(text)] = np.frombuffer(bytes(blob), dtype=np.float32).copy()
        return out

    def put_text_vectors(self, model: str, texts: Sequence[str], vectors: np.ndarray) -> None:
        vecs = np.ascontiguousarray(vectors, dtype=np.float32)
        with self.catalog.transaction() as c:
            c.executemany(
                "INSERT OR REPLACE INTO text_embeddings(model, text, vector) VALUES (?, ?, ?)",
                [(model, t, vecs[n].tobytes()) for n, t in enumerate(texts)])
