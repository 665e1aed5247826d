"""What Library hands out for possible edits of tagged photos (`Library.edits`): the pairs an
index run found between the two cosine bars, to apply with one click or dismiss
(core/indexing/edit_suggestions.py keeps them; core/indexing/edits.py finds them)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from photoclip.core.indexing import edit_suggestions
from photoclip.core.indexing.edit_suggestions import EditSuggestion, Refused

if TYPE_CHECKING:
    from photoclip.core.library import Library

__all__ = ["EditSuggestion", "LibraryEdits", "Refused"]


class LibraryEdits:
    def __init__(self, library: Library) -> None:
        self.library = library

    def suggestions(self) -> list[EditSuggestion]:
        """The possible edits still to judge, oldest first (a pair whose new photo has left
        the library is dropped)."""
        return edit_suggestions.current(self.library.catalog)

    def apply(self, ids: Iterable[int] | None = None,
              ) -> tuple[list[EditSuggestion], list[Refused]]:
        """Carry the user's tags over for the chosen pairs (every pair when None); the new
        photos' sidecars follow. Two photos that both exist are never merged: such a pair is
        refused, with why."""
        applied, refused = edit_suggestions.apply(self.library.catalog, ids)
        if applied:
            self.library.sync_sidecars([s.new_id for s in applied])
        return applied, refused

    def dismiss(self, ids: Iterable[int] | None = None) -> list[EditSuggestion]:
        """Forget the chosen pairs (every pair when None); no tag moves."""
        return edit_suggestions.dismiss(self.library.catalog, ids)
