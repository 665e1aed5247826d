"""User-facing errors: each message says what went wrong and what to do about it."""

from __future__ import annotations


class PhotoclipError(Exception):
    """Base of every error a user may see; str(err) is one line, fit for stderr or a banner."""


class ImageError(PhotoclipError):
    """A file could not be read as an image. The indexer records it and moves on."""

    def __init__(self, path: object, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class ModelLoadError(PhotoclipError):
    """The CLIP model could not be loaded (bad path, offline with no cached copy...)."""


class CatalogError(PhotoclipError):
    """The catalog cannot be opened or used (newer schema, corrupt file, read-only disk...)."""


class SchemaTooNewError(CatalogError):
    """The catalog was written by a newer photoclip; we refuse to touch it."""


class NotFoundError(PhotoclipError):
    """A photo, root or other named thing is not in the library."""


class QueryError(PhotoclipError):
    """A search query or filter could not be understood."""


class LabelSetError(PhotoclipError):
    """A label set, label file or prompt template is malformed or names something unknown."""


class StorageError(CatalogError):
    """The disk under the library refuses writes: full, or read-only. Reading still works."""


class DiskFullError(StorageError):
    """No space left where the library (or a sidecar) is written; nothing was half-written."""

    def __init__(self, where: object = None) -> None:
        place = f" ({where})" if where else ""
        super().__init__(
            f"the disk holding the library{place} is full: free space or move the library "
            "with --library"
        )
        self.where = where


class ReadOnlyLibraryError(StorageError):
    """The library is on a read-only disk or folder: search works, changes are refused."""

    def __init__(self, where: object = None) -> None:
        place = f" {where}" if where else ""
        super().__init__(
            f"the library{place} is read-only (read-only disk or no write permission): "
            "search works, changes are refused; make it writable or use --library"
        )
        self.where = where
