"""The catalog's library folders (table `roots`)."""

from __future__ import annotations

from photoclip.core.catalog.database import Database
from photoclip.core.errors import NotFoundError
from photoclip.core.types import Root


class Roots(Database):
    """The folders the library watches; a root's photos go with it (files untouched)."""

    def add_root(self, path: str) -> Root:
        with self.transaction() as c:
            c.execute("INSERT OR IGNORE INTO roots(path) VALUES (?)", (path,))
            c.execute("UPDATE roots SET online = 1 WHERE path = ?", (path,))
        root = self.root_by_path(path)
        assert root is not None
        return root

    def roots(self) -> list[Root]:
        rows = self.query("SELECT id, path, online FROM roots ORDER BY path")
        return [Root(int(i), str(p), bool(o)) for i, p, o in rows]

    def root_by_path(self, path: str) -> Root | None:
        rows = self.query("SELECT id, path, online FROM roots WHERE path = ?", (path,))
        if not rows:
            return None
        i, p, o = rows[0]
        return Root(int(i), str(p), bool(o))

    def set_root_online(self, root_id: int, online: bool) -> None:
        with self.transaction() as c:
            c.execute("UPDATE roots SET online = ? WHERE id = ?", (int(online), root_id))

    def remove_root(self, path: str) -> list[int]:
        """Forget a root and its photos (files untouched); returns the photo ids that left."""
        root = self.root_by_path(path)
        if root is None:
            raise NotFoundError(f"{path} is not a library folder (see `photoclip status`).")
        with self.transaction() as c:
            ids = [int(r[0]) for r in c.execute("SELECT id FROM photos WHERE root_id = ?",
                                                (root.id,))]
            c.execute("DELETE FROM roots WHERE id = ?", (root.id,))
        return ids
