"""The catalog's image embeddings (table `embeddings`): one vector per photo and model, each
stored with a change number so the vector index catches up with only what changed."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from photoclip.core.catalog.database import Database, in_chunks
from photoclip.core.errors import NotFoundError


class Embeddings(Database):
    """Photo vectors by model, stored as float32 bytes."""

    def put_embeddings(self, model: str, ids: Sequence[int], vectors: np.ndarray) -> int:
        """Store vectors; returns the change number they got (see `embedding_seq`)."""
        vecs = np.ascontiguousarray(vectors, dtype=np.float32)
        with self.transaction() as c:
            seq = int(c.execute("UPDATE counters SET value = value + 1 "
                                "WHERE name = 'embedding_seq' RETURNING value").fetchone()[0])
            c.executemany(
                "INSERT OR REPLACE INTO embeddings(photo_id, model, vector, seq) "
                "VALUES (?,?,?,?)",
                [(int(i), model, vecs[n].tobytes(), seq) for n, i in enumerate(ids)],
            )
        return seq

    def embedding_seq(self) -> int:
        """The change number of the latest stored embeddings: it only ever grows, so a cache
        that caught up with number N needs only the rows numbered above N."""
        return int(self.query(
            "SELECT value FROM counters WHERE name = 'embedding_seq'")[0][0])

    def embedding_ids_since(self, model: str, seq: int) -> np.ndarray:
        """Ids of indexed photos whose `model` embedding was stored after change `seq`."""
        rows = self.query(
            """SELECT e.photo_id FROM embeddings e JOIN photos p ON p.id = e.photo_id
               WHERE e.model = ? AND e.seq > ? AND p.status = 'ok'""",
            (model, seq),
        )
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))

    def delete_embeddings(self, ids: Iterable[int]) -> None:
        with self.transaction() as c:
            for chunk, marks in in_chunks(ids):
                c.execute(f"DELETE FROM embeddings WHERE photo_id IN ({marks})", chunk)

    def embedding_ids(self, model: str) -> np.ndarray:
        rows = self.query(
            """SELECT e.photo_id FROM embeddings e JOIN photos p ON p.id = e.photo_id
               WHERE e.model = ? AND p.status = 'ok'""",
            (model,),
        )
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))

    def get_embeddings(self, model: str, ids: Sequence[int] | np.ndarray, dim: int) -> np.ndarray:
        """Vectors in the order of `ids`; a missing one is an error (the caller asked for it)."""
        id_list = [int(i) for i in ids]
        found: dict[int, bytes] = {}
        for chunk, marks in in_chunks(id_list):
            rows = self.query(
                f"SELECT photo_id, vector FROM embeddings WHERE model = ? "
                f"AND photo_id IN ({marks})",
                [model, *chunk],
            )
            found.update((int(i), bytes(v)) for i, v in rows)
        out = np.empty((len(id_list), dim), dtype=np.float32)
        for n, i in enumerate(id_list):
            if i not in found:
                raise NotFoundError(f"photo {i} has no embedding for model {model}")
            out[n] = np.frombuffer(found[i], dtype=np.float32)
        return out

    def embeddings_of(self, model: str, ids: Iterable[int]) -> dict[int, np.ndarray]:
        """Id: vector of those of `ids` that have a `model` embedding (the rest left out)."""
        out: dict[int, np.ndarray] = {}
        for chunk, marks in in_chunks(ids):
            for i, v in self.query(
                    f"SELECT photo_id, vector FROM embeddings WHERE model = ? "
                    f"AND photo_id IN ({marks})", [model, *chunk]):
                out[int(i)] = np.frombuffer(bytes(v), dtype=np.float32)
        return out

    def models_in_use(self) -> list[tuple[str, int]]:
        rows = self.query("SELECT model, count(*) FROM embeddings GROUP BY model")
        return [(str(m), int(n)) for m, n in rows]

    def drop_embeddings_except(self, model: str) -> int:
        """Forget embeddings of other models (after the library switched model)."""
        with self.transaction() as c:
            return c.execute("DELETE FROM embeddings WHERE model != ?", (model,)).rowcount
