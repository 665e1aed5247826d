"""Which folder a user may add as a library root, and why not."""

from __future__ import annotations

from pathlib import Path

from photoclip.core.errors import PhotoclipError


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
