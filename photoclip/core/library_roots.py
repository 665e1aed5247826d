"""Which folder a user may add as a library root, and why not."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from photoclip.core.errors import NotFoundError, PhotoclipError

if TYPE_CHECKING:
    from photoclip.core.catalog import Catalog
    from photoclip.core.vectors import VectorIndex


def root_to_add(folder: str, library_root: Path) -> str:
    """`folder` resolved, as the catalog will hold it; refused, with the fix, when it is not a
    folder, its name is not UTF-8, or it lies inside the library folder."""
    path = Path(folder).expanduser()
    if not path.is_dir():
        raise PhotoclipError(f"{folder} is not a folder: give a folder of photos.")
    resolved = path.resolve()
    try:
        str(resolved).encode("utf-8")
    except UnicodeEncodeError:
        raise PhotoclipError(
            f"{ascii(str(resolved))[1:-1]}: the folder's name (or a folder above it) "
            "is not valid UTF-8; rename it to add it.") from None
    if resolved == library_root or library_root in resolved.parents:
        raise PhotoclipError(
            f"{folder} is inside the library folder {library_root}; "
            "add your photo folders, not the library."
        )
    return str(resolved)


def remove_roots(catalog: Catalog, folders: list[str], vectors: VectorIndex | None) -> int:
    """Remove library folders and their photos; the number of photos removed. Their vectors go
    from `vectors` when it is loaded (else the next open's sync drops them)."""
    removed = 0
    for folder in folders:
        path = str(Path(folder).expanduser().resolve())
        if catalog.root_by_path(path) is None:
            raise NotFoundError(f"{folder} is not a library folder (see `photoclip status`).")
        ids = catalog.remove_root(path)
        if ids and vectors is not None:
            vectors.remove(ids)
            vectors.save()
        removed += len(ids)
    return removed
