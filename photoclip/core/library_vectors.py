"""The vector cache a library opens: healed from the catalog, its source of truth."""

from __future__ import annotations

import logging
from pathlib import Path

from photoclip.core.catalog import Catalog
from photoclip.core.vectors import VectorIndex

log = logging.getLogger(__name__)


def open_vectors(catalog: Catalog, path: Path, dim: int, model_id: str) -> VectorIndex:
    """The vector cache at `path`, brought in line with the catalog: ids it lacks or should not
    have, and vectors the catalog changed since the file was saved (a crash after a re-embed).
    A file that claims changes the catalog never made (the catalog was restored from a backup
    or replaced) is rebuilt whole."""
    seq = catalog.embedding_seq()
    vecs = VectorIndex(path, dim, model_id)
    if vecs.seq > seq:
        log.warning("vector cache %s is ahead of the catalog (change %d vs %d): rebuilding it",
                    path, vecs.seq, seq)
        vecs.reset()
    changed = catalog.embedding_ids_since(model_id, vecs.seq) if vecs.seq < seq else None
    added, removed = vecs.sync(
        catalog.embedding_ids(model_id),
        lambda ids: catalog.get_embeddings(model_id, ids, dim),
        changed=changed,
        seq=seq,
    )
    if added or removed:
        log.info("vector index %s resynced: +%d -%d", path.name, added, removed)
    return vecs
