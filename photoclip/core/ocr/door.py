"""What Library hands out for OCR, kept here so library.py stays small."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from photoclip.core.catalog import Catalog
from photoclip.core.errors import PhotoclipError
from photoclip.core.ocr.engine import ENABLE_HINT, OcrEngine, available
from photoclip.core.ocr.job import OcrJob
from photoclip.core.ocr.store import PhotoText, TextStore

if TYPE_CHECKING:
    from photoclip.core.library import Library


def new_job(catalog: Catalog, engine: OcrEngine, *, enabled: bool, folder: str | None,
            force: bool) -> OcrJob:
    """The text pass, or the reason it cannot run (setting off, the extra missing)."""
    if not enabled:
        raise PhotoclipError("Reading text in photos is turned off for this library: "
                             "`photoclip ocr --on` turns it on.")
    if not available():
        raise PhotoclipError(f"Reading text in photos needs the OCR package: {ENABLE_HINT}")
    where = str(Path(folder).expanduser().resolve()) if folder else None
    return OcrJob(catalog, engine, folder=where, force=force)


def status(catalog: Catalog, enabled: bool) -> dict[str, Any]:
    """Photos read (skipped ones count: the detector looked) of those indexed, with text,
    skipped, failed; whether OCR is on and installed."""
    counts = TextStore(catalog).counts()
    return {"enabled": enabled, "installed": available(),
            "photos": catalog.count_photos("ok"), "read": sum(counts.values()),
            "with_text": counts.get("text", 0), "skipped": counts.get("skipped", 0),
            "failed": counts.get("failed", 0)}


class LibraryOcr:
    """`Library.ocr`: what a front end asks of the text pass (one engine per library)."""

    def __init__(self, library: Library) -> None:
        self.library = library
        self.engine = OcrEngine()  # loads the recogniser on first use

    def job(self, folder: str | None = None, force: bool = False) -> OcrJob:
        """The text pass (run() it): photos with an embedding and no text read yet (`force`:
        again), or one folder's; refused when the setting is off or the `ocr` extra missing."""
        lib = self.library
        return new_job(lib.catalog, self.engine, enabled=bool(lib.settings.ocr), folder=folder,
                       force=force)

    def status(self) -> dict[str, Any]:
        return status(self.library.catalog, bool(self.library.settings.ocr))

    def set_enabled(self, on: bool) -> None:
        """Turn reading text in photos on or off for this library (saved)."""
        self.library.settings.ocr = on
        self.library.save_settings()

    def text(self, digest: str) -> PhotoText | None:
        """What was read in the photo with content hash `digest` (text, lines, boxes)."""
        return TextStore(self.library.catalog).get(digest)
