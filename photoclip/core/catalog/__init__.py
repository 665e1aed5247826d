"""The catalog: SQLite source of truth for roots, photos, embeddings and jobs."""

from __future__ import annotations

from photoclip.core.catalog.repo import Catalog

__all__ = ["Catalog"]
