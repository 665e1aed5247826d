"""The catalog's job bookkeeping (table `jobs`): one row per long job (index, tag...), so
`status` can say how the last one went and a job cut short shows as interrupted."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from photoclip.core.catalog.database import Database


@dataclass
class JobRow:
    """A running job's row (see `Catalog.job`): how it ends unless the job says otherwise."""

    id: int
    state: str = "cancelled"
    message: str | None = None


class Jobs(Database):
    """Rows of long jobs: started, updated as they go, finished with a state."""

    def start_job(self, kind: str, total: int = 0) -> int:
        with self.transaction() as c:
            # A job still 'running' from an earlier process was cut short (crash, kill).
            c.execute("UPDATE jobs SET state = 'interrupted' WHERE state = 'running' AND kind = ?",
                      (kind,))
            row = c.execute("INSERT INTO jobs(kind, state, total) VALUES (?, 'running', ?) "
                            "RETURNING id", (kind, total)).fetchone()
        return int(row[0])

    @contextmanager
    def job(self, kind: str, total: int = 0) -> Iterator[JobRow]:
        """A `jobs` row for the duration of a long job. It ends as the job sets `row.state`
        ("done"...); stopped early (cancel, a closed generator, Ctrl-C) it stays "cancelled";
        an error makes it "failed"."""
        row = JobRow(self.start_job(kind, total))
        try:
            yield row
        except BaseException as exc:
            if not isinstance(exc, GeneratorExit | KeyboardInterrupt):
                row.state = "failed"
            raise
        finally:
            self.finish_job(row.id, row.state, row.message)

    def update_job(self, job_id: int, done: int, total: int, failed: int) -> None:
        with self.transaction() as c:
            c.execute("UPDATE jobs SET done = ?, total = ?, failed = ? WHERE id = ?",
                      (done, total, failed, job_id))

    def finish_job(self, job_id: int, state: str, message: str | None = None) -> None:
        with self.transaction() as c:
            c.execute(
                """UPDATE jobs SET state = ?, message = ?,
                   finished_at = strftime('%Y-%m-%dT%H:%M:%S', 'now') WHERE id = ?""",
                (state, message, job_id),
            )

    def last_job(self, kind: str) -> dict[str, object] | None:
        rows = self.query(
            "SELECT id, state, started_at, finished_at, done, total, failed, message "
            "FROM jobs WHERE kind = ? ORDER BY id DESC LIMIT 1",
            (kind,),
        )
        if not rows:
            return None
        keys = ("id", "state", "started_at", "finished_at", "done", "total", "failed", "message")
        return dict(zip(keys, rows[0], strict=True))
