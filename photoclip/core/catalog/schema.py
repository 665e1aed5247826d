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
    # v3: auto-tagging (label sets, labels, tags with the user's decisions), a per-model cache
    # of text embeddings (prompt ensembles re-tag without re-encoding), and the models a
    # library has used or trained.
    """
    CREATE TABLE label_sets (
        id          INTEGER PRIMARY KEY,
        name        TEXT NOT NULL UNIQUE,
        enabled     INTEGER NOT NULL DEFAULT 1,
        multi_label INTEGER NOT NULL DEFAULT 0,
        threshold   REAL,              -- set-wide override of the default threshold
        templates   TEXT,              -- JSON list of prompt templates; NULL = the defaults
        created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%S', 'now'))
    );
    CREATE TABLE labels (
        id         INTEGER PRIMARY KEY,
        set_id     INTEGER NOT NULL REFERENCES label_sets(id) ON DELETE CASCADE,
        name       TEXT NOT NULL,
        threshold  REAL,               -- per-label override (user or calibration)
        calibrated INTEGER NOT NULL DEFAULT 0,
        UNIQUE (set_id, name)
    );
    CREATE TABLE tags (
        photo_id   INTEGER NOT NULL REFERENCES photos(id) ON DELETE CASCADE,
        label_id   INTEGER NOT NULL REFERENCES labels(id) ON DELETE CASCADE,
        score      REAL,               -- NULL for a tag the user set by hand
        source     TEXT NOT NULL CHECK (source IN ('auto', 'user')),
        accepted   INTEGER,            -- NULL undecided, 1 accepted, 0 rejected by the user
        model      TEXT,               -- model that scored an auto tag
        updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%S', 'now')),
        PRIMARY KEY (photo_id, label_id)
    ) WITHOUT ROWID;
    CREATE INDEX tags_label ON tags(label_id);
    CREATE TABLE text_embeddings (
        model  TEXT NOT NULL,
        text   TEXT NOT NULL,
        vector BLOB NOT NULL,
        PRIMARY KEY (model, text)
    ) WITHOUT ROWID;
    CREATE TABLE models (
        id         INTEGER PRIMARY KEY,
        name       TEXT NOT NULL UNIQUE,
        base       TEXT NOT NULL,      -- hub id or folder it started from
        path       TEXT,               -- checkpoint folder of a fine-tuned model
        kind       TEXT NOT NULL DEFAULT 'base' CHECK (kind IN ('base', 'finetuned', 'adapter')),
        metrics    TEXT,               -- JSON: before/after evaluation
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%S', 'now'))
    );
    """,
    # v4: a per-set similarity floor ("none of these"). Cosine ranges differ between sets of
    # prompts (documents vs animals) and between models, so one library-wide value is not enough.
    """
    ALTER TABLE label_sets ADD COLUMN floor REAL;  -- NULL = the default floor
    """,
    # v5: a change counter on embeddings. The vector file records the counter it has caught up
    # with, so after a crash the embeddings that changed since (a re-embedded photo, an id
    # reused by a new photo) are refreshed, not only the ids it lacks. A table, not max(seq):
    # the counter must never go back when the newest rows are deleted.
    """
    ALTER TABLE embeddings ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX embeddings_seq ON embeddings(model, seq);
    CREATE TABLE counters (
        name  TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    ) WITHOUT ROWID;
    INSERT INTO counters(name, value) VALUES ('embedding_seq', 0);
    """,
    # v6: albums (a smart album keeps its query and is re-run, so it has no members),
    # their photos (a photo may be in many; they follow the photo's row, which keeps its id
    # through moves and renames), and the user's rating (0-5 stars) and favourite flag.
    """
    CREATE TABLE albums (
        id         INTEGER PRIMARY KEY,
        name       TEXT NOT NULL UNIQUE COLLATE NOCASE,
        query      TEXT,               -- a smart album's saved query; NULL = a plain album
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%S', 'now'))
    );
    CREATE TABLE album_photos (
        album_id INTEGER NOT NULL REFERENCES albums(id) ON DELETE CASCADE,
        photo_id INTEGER NOT NULL REFERENCES photos(id) ON DELETE CASCADE,
        added_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f', 'now')),
        PRIMARY KEY (album_id, photo_id)
    ) WITHOUT ROWID;
    CREATE INDEX album_photos_photo ON album_photos(photo_id);
    ALTER TABLE photos ADD COLUMN rating INTEGER NOT NULL DEFAULT 0
        CHECK (rating BETWEEN 0 AND 5);
    ALTER TABLE photos ADD COLUMN favourite INTEGER NOT NULL DEFAULT 0;
    """,
    # v7: the file's identity on its file system, (device, inode), where the platform has one
    # (NULL where not). A move keeps it and a copy does not, so of two byte-identical files
    # found in place of a vanished photo, the moved original keeps the photo's id and tags.
    """
    ALTER TABLE photos ADD COLUMN dev INTEGER;
    ALTER TABLE photos ADD COLUMN ino INTEGER;
    """,
    # v8: the words in photos (OCR), keyed to the content hash so a moved or renamed photo
    # keeps its text and a changed one (a rotation included) is read again. `norm` is what
    # queries match (core/ocr/normalise.py); the FTS5 trigram index over it is made by
    # core/ocr/store.py where this SQLite has the trigram tokenizer (a cache, like the vectors).
    """
    CREATE TABLE photo_text (
        hash    TEXT PRIMARY KEY,
        state   TEXT NOT NULL CHECK (state IN ('text', 'none', 'skipped', 'failed')),
        text    TEXT NOT NULL DEFAULT '',  -- the lines as recognised, one per line
        norm    TEXT NOT NULL DEFAULT '',  -- compact form: NFKC, casefolded, no whitespace
        lines   TEXT,                      -- JSON [[text, confidence, [[x, y] x4]], ...]
        error   TEXT,                      -- why reading failed (state 'failed')
        read_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%S', 'now'))
    ) WITHOUT ROWID;
    CREATE INDEX photo_text_state ON photo_text(state);
    """,
)

LATEST_VERSION = len(MIGRATIONS)
