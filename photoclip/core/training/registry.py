"""The library's named models (catalog table `models`): base models and fine-tuned versions."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from photoclip.config import LibraryPaths
from photoclip.core.errors import PhotoclipError, StorageError
from photoclip.core.evaluation import METADATA_FILE

if TYPE_CHECKING:
    from photoclip.core.catalog import Catalog

log = logging.getLogger(__name__)

# A model name becomes a folder name under checkpoints/: keep it portable across file systems.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class ModelEntry:
    name: str
    base: str
    path: str | None  # checkpoint folder of a fine-tuned model; None for a base model
    kind: str  # base | finetuned | adapter
    metrics: dict[str, Any] | None
    created_at: str

    @property
    def source(self) -> str:
        """What ClipEncoder loads: the folder of a fine-tuned model, else the base id."""
        return self.path or self.base

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "base": self.base, "path": self.path,
                "created_at": self.created_at, "metrics": self.metrics}


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise PhotoclipError(
            f"{name!r} cannot name a model: use up to 64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit."
        )
    return name


def slug(text: str) -> str:
    """A model name made from free text ("Grandma's garden" -> "Grandma-s-garden")."""
    out = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-._")[:48]
    return out or "model"


def register(
    catalog: Catalog,
    name: str,
    *,
    base: str,
    path: str | None,
    kind: str,
    metrics: dict[str, Any] | None = None,
) -> None:
    with catalog.transaction() as c:
        c.execute(
            """INSERT INTO models(name, base, path, kind, metrics) VALUES (?,?,?,?,?)
               ON CONFLICT(name) DO UPDATE SET base = excluded.base, path = excluded.path,
                 kind = excluded.kind, metrics = excluded.metrics""",
            (name, base, path, kind, json.dumps(metrics) if metrics is not None else None),
        )


def ensure_base(catalog: Catalog, model: str) -> None:
    """List a base model once, so `models use` can go back to it by name."""
    with catalog.transaction() as c:
        c.execute(
            "INSERT OR IGNORE INTO models(name, base, path, kind) VALUES (?, ?, NULL, 'base')",
            (model, model),
        )


def _entry(row: tuple[Any, ...]) -> ModelEntry:
    name, base, path, kind, metrics, created = row
    try:
        parsed = json.loads(metrics) if metrics else None
    except ValueError:
        parsed = None
    return ModelEntry(str(name), str(base), path, str(kind), parsed, str(created))


def recover(catalog: Catalog, checkpoints: Path) -> list[str]:
    """List the finished model folders in `checkpoints` that have no row (a kill between saving
    a model and registering it): a folder's photoclip.json is the source of truth. Temp and
    partial folders (names starting with '.') are never finished models. Returns the names
    added; a read-only catalog adds none."""
    if catalog.read_only:
        return []
    try:
        folders = sorted(p for p in Path(checkpoints).iterdir()
                         if not p.name.startswith(".") and p.is_dir())
    except OSError:
        return []
    if not folders:
        return []
    known = {str(r[0]) for r in catalog.query("SELECT name FROM models")}
    added: list[str] = []
    for folder in folders:
        if folder.name in known or not _NAME.match(folder.name):
            continue
        meta = _finished_model(folder)
        if meta is None:
            continue
        metrics = meta.get("metrics")
        try:
            with catalog.transaction() as c:
                if c.execute("SELECT 1 FROM models WHERE name = ?", (folder.name,)).fetchone():
                    continue  # another process registered it meanwhile
                register(catalog, folder.name, base=meta["base"], path=str(folder),
                         kind="finetuned", metrics=metrics if isinstance(metrics, dict) else None)
        except StorageError as exc:
            log.warning("cannot list the model %s: %s", folder, exc)
            return added
        log.warning("model folder %s had no catalog entry (saving was interrupted): listed it "
                    "as %r", folder, folder.name)
        added.append(folder.name)
    return added


def _finished_model(folder: Path) -> dict[str, Any] | None:
    """The photoclip.json of a model folder saved whole, or None."""
    try:
        meta = json.loads((folder / METADATA_FILE).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or meta.get("name") != folder.name:
        return None
    if not isinstance(meta.get("base"), str) or not meta["base"]:
        return None
    return meta


def _recover_library(catalog: Catalog) -> None:
    """`recover` for a library's own catalog, whose checkpoints folder sits beside it."""
    paths = LibraryPaths(Path(catalog.path).parent)
    if paths.catalog == Path(catalog.path):
        recover(catalog, paths.checkpoints)


# Reads go through `query`, not a transaction: a read-only library lists its models too.
def list_models(catalog: Catalog) -> list[ModelEntry]:
    _recover_library(catalog)
    rows = catalog.query(
        "SELECT name, base, path, kind, metrics, created_at FROM models ORDER BY id")
    return [_entry(r) for r in rows]


def find(catalog: Catalog, name: str) -> ModelEntry | None:
    _recover_library(catalog)
    rows = catalog.query(
        "SELECT name, base, path, kind, metrics, created_at FROM models WHERE name = ?",
        (name,),
    )
    return _entry(rows[0]) if rows else None


def by_source(catalog: Catalog, source: str) -> ModelEntry | None:
    """The entry whose folder or base id is `source` (the library's model setting)."""
    for entry in list_models(catalog):
        if source in (entry.path, entry.name) or (entry.kind == "base" and entry.base == source):
            return entry
    return None
