"""Numbered, forward-only schema migrations. Never edit a shipped step; append a new one."""

from __future__ import annotations

# Each entry brings the catalog from version i to i+1 (index 0 creates version 1).
MIGRATIONS: tuple[str, ...] = (
    # v1: the first schema: roots, photos and their embeddings.
    """
    CREATE TABLE roots (
        id       INTEGER PRIMARY KEY,
        path     TEXT NOT NULL UNIQUE,
        added_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%S', 'now')),
        online   INTEGER NOT NULL DEFAULT 1
    );
    CREATE TABLE photos (
        id         INTEGER PRIMARY KEY,
        root_id    INTEGER NOT NULL REFERENCES roots(id) ON DELETE CASCADE,
        path       TEXT NOT NULL UNIQUE,
        size       INTEGER NOT NULL,
        mtime_ns   INTEGER NOT NULL,
        hash       TEXT,
        width      INTEGER,
        height     INTEGER,
        taken_at   TEXT,
        status     TEXT NOT NULL DEFAULT 'ok' CHECK (status IN ('ok', 'failed')),
        error      TEXT,
        indexed_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%S', 'now'))
    );
    CREATE INDEX photos_root ON photos(root_id);
    CREATE INDEX photos_hash ON photos(hash);
    CREATE TABLE embeddings (
        photo_id INTEGER NOT NULL REFERENCES photos(id) ON DELETE CASCADE,
        model    TEXT NOT NULL,
        vector   BLOB NOT NULL,
        PRIMARY KEY (photo_id, model)
    ) WITHOUT ROWID;
    """,
    # v2: job history (resumable work, shown in status) and indexes for date filters and
    # per-model embedding scans, which became hot once libraries passed ~100k photos.
    """
    CREATE TABLE jobs (
        id          INTEGER PRIMARY KEY,
        kind        TEXT NOT NULL,
        state       TEXT NOT NULL
                    CHECK (state IN ('running', 'done', 'cancelled', 'failed', 'interrupted')),
        started_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%S', 'now')),
        finished_at TEXT,
        done        INTEGER NOT NULL DEFAULT 0,
        total       INTEGER NOT NULL DEFAULT 0,
        failed      INTEGER NOT NULL DEFAULT 0,
        message     TEXT
    );
    CREATE INDEX photos_taken_at ON photos(taken_at);
    CREATE INDEX embeddings_model ON embeddings(model, photo_id);
    """,
)

LATEST_VERSION = len(MIGRATIONS)
