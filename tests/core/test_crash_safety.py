"""kill -9 at random moments of `add`, `tag` and `xmp`: the catalog, the vector file and the
sidecars are never corrupt, the next run resumes, and no photo is indexed twice.

Each child is the real CLI (`python -m photoclip ...`, through runpy) with the tiny CLIP. A
few calls are slowed in the child only (a sleep inside the batch's transaction, between the
commit and the vector cache, and in every fsync, i.e. between a temp file and its rename), so
that kills land in the windows where a crash could do harm rather than mostly in the model's
start-up. Kill times are seeded.

Start-up gets kills of its own: each phase (creating or migrating the catalog, writing a backup,
the first settings.json, loading the model, the first scan, the first commit) leaves a mark
file when it begins, and the phase a round aims at is slowed, so the kill lands inside it.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from photoclip.cli import main
from photoclip.config import Settings
from photoclip.core.catalog.backup import check_file
from photoclip.core.catalog.schema import LATEST_VERSION
from photoclip.core.tagging.xmp import read_keywords
from photoclip.core.vectors import VectorIndex

pytestmark = pytest.mark.slow

N_PHOTOS = 60
DIM = 32  # the tiny CLIP's embedding size
SEED = 20260509
ADD_KILLS = 10
TAG_KILLS = 3
XMP_KILLS = 6
LABELS = ["red", "green", "blue"]
MORE_LABELS = [*LABELS, "yellow"]

CHILD = '''
import os, runpy, sqlite3, sys, time

DELAY = float(os.environ["CRASH_TEST_DELAY_S"])
# Start-up phases (see PHASES): each hook leaves a mark file when its phase begins; the phase
# named in CRASH_TEST_PHASE is slowed (CRASH_TEST_PHASE_S) so that a kill lands inside it.
PHASE = os.environ.get("CRASH_TEST_PHASE", "")
PHASE_S = float(os.environ.get("CRASH_TEST_PHASE_S", "0"))
MARK = os.environ.get("CRASH_TEST_MARK", "")

from photoclip.config import Settings
from photoclip.core.catalog import Catalog, backup, migrations
from photoclip.core.encoder.clip import ClipEncoder
from photoclip.core.indexing import pipeline
from photoclip.core.tagging.store import TagStore
from photoclip.core.vectors import VectorIndex

slow_fsync = [False]


def entered(phase):
    """Leave this phase's mark; True when it is the phase to slow."""
    if MARK:
        mark = f"{MARK}.{phase}.{os.getpid()}"
        if not os.path.exists(mark):
            open(mark, "w").close()
    return phase == PHASE


class SlowSchema(sqlite3.Connection):
    def execute(self, sql, *args):  # each step of creating or migrating the catalog
        if sql.lstrip().upper().startswith(("CREATE", "PRAGMA USER_VERSION =")):
            if entered("catalog"):
                time.sleep(PHASE_S)
        return super().execute(sql, *args)


def slowed_fsync(phase, real):  # a temp file written (settings, backup): kill before rename
    def wrapper(*args, **kwargs):
        slow_fsync[0] = entered(phase)
        try:
            return real(*args, **kwargs)
        finally:
            slow_fsync[0] = False
    return wrapper


_connect, _load, _walk = sqlite3.connect, ClipEncoder.load, pipeline.walk_images


def connect(*args, **kwargs):
    kwargs.setdefault("factory", SlowSchema)
    return _connect(*args, **kwargs)


def load(self):  # the model loading
    slow = entered("model") and not self.loaded
    if slow:
        time.sleep(PHASE_S / 2)
    _load(self)
    if slow:
        time.sleep(PHASE_S / 2)


def walk_images(*args, **kwargs):  # the first scan
    slow = entered("scan")
    for found in _walk(*args, **kwargs):
        if slow:
            time.sleep(PHASE_S / 20)
        yield found


sqlite3.connect = connect
ClipEncoder.load = load
pipeline.walk_images = walk_images
Settings.save = slowed_fsync("settings", Settings.save)
backup.write_backup = slowed_fsync("backup", backup.write_backup)
migrations.write_backup = slowed_fsync("backup", migrations.write_backup)

_put, _write_auto, _add, _fsync = (Catalog.put_embeddings, TagStore.write_auto,
                                   VectorIndex.add, os.fsync)


def put_embeddings(self, *args, **kwargs):  # written, inside the batch's transaction
    out = _put(self, *args, **kwargs)
    time.sleep(DELAY)
    return out


def write_auto(self, *args, **kwargs):  # tags written, not committed
    with self.catalog.transaction():
        out = _write_auto(self, *args, **kwargs)
        mark = os.environ.get("CRASH_TEST_MARK")  # tells the test the window is open
        if mark:
            open(f"{mark}.{os.getpid()}", "w").close()
        time.sleep(DELAY)
        return out


def add(self, *args, **kwargs):  # the catalog committed, the vector cache not yet told
    time.sleep(PHASE_S if entered("commit") else DELAY)
    return _add(self, *args, **kwargs)


def fsync(fd):  # a temp file written, not yet renamed over its target
    time.sleep(PHASE_S if slow_fsync[0] else DELAY)
    return _fsync(fd)


Catalog.put_embeddings = put_embeddings
TagStore.write_auto = write_auto
VectorIndex.add = add
os.fsync = fsync
sys.argv = ["photoclip", *sys.argv[1:]]
runpy.run_module("photoclip", run_name="__main__", alter_sys=True)
'''


# -- helpers ----------------------------------------------------------------------------------


def make_photos(folder: Path, n: int = N_PHOTOS) -> list[Path]:
    """Small JPEGs with distinct content (so distinct hashes)."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(SEED)
    out = []
    for i in range(n):
        pixels = rng.integers(0, 256, (72, 96, 3), dtype=np.uint8)
        pixels[8:40, 8:40] = rng.integers(0, 256, 3, dtype=np.uint8)
        path = folder / f"p{i:03d}.jpg"
        Image.fromarray(pixels).save(path, quality=85)
        out.append(path)
    return out


class Child:
    """The CLI in a subprocess, killed with SIGKILL when the test says so."""

    def __init__(self, tmp: Path, library: Path, model: Path, delay: float) -> None:
        self.driver = tmp / "child.py"
        self.driver.write_text(CHILD, encoding="utf-8")
        self.library, self.model, self.delay = library, model, delay
        self.logs = tmp / "child-logs"
        self.logs.mkdir(exist_ok=True)
        self.runs = 0

    def start(self, *args: str, phase: str = "", phase_s: float = 0.0
              ) -> subprocess.Popen[bytes]:
        self.runs += 1
        env = {**os.environ, "CRASH_TEST_DELAY_S": str(self.delay),
               "CRASH_TEST_MARK": str(self.logs / "tags-written"),
               "CRASH_TEST_PHASE": phase, "CRASH_TEST_PHASE_S": str(phase_s)}
        self.err = self.logs / f"{self.runs:02d}.err"
        with open(self.err, "wb") as err:
            return subprocess.Popen(
                [sys.executable, str(self.driver), "--library", str(self.library),
                 "--model", str(self.model), *args],
                env=env, stdout=subprocess.DEVNULL, stderr=err)

    def kill_when(self, proc: subprocess.Popen[bytes], ready: Callable[[], bool],
                  delay: float, timeout: float = 120.0) -> bool:
        """Wait until `ready()` (polled), then `delay` more seconds, then SIGKILL. False when
        the child finished on its own first (it must then have succeeded)."""
        deadline = time.monotonic() + timeout
        while proc.poll() is None and not ready():
            assert time.monotonic() < deadline, "the child never got going"
            time.sleep(0.02)
        end = time.monotonic() + delay
        while proc.poll() is None and time.monotonic() < end:
            time.sleep(0.005)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return True
        assert proc.returncode == 0, self.err.read_text(errors="replace")
        return False


def read_db(db: Path, sql: str, params: tuple[object, ...] = ()) -> list[tuple]:
    """A short read from outside, as a second process would do it."""
    if not db.exists():
        return []
    conn = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True, timeout=30)
    try:
        return conn.execute(sql, params).fetchall()
    except sqlite3.OperationalError:
        return []  # not created yet
    finally:
        conn.close()


def job_count(db: Path, kind: str) -> int:
    rows = read_db(db, "SELECT count(*) FROM jobs WHERE kind = ?", (kind,))
    return int(rows[0][0]) if rows else 0


def assert_catalog_sound(db: Path) -> sqlite3.Connection:
    """integrity_check passes (after SQLite's own recovery, as at the next start)."""
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    return conn


def committed(conn: sqlite3.Connection) -> dict[str, tuple[int, int]]:
    """path -> (photo id, embedding change number) of every photo with its embedding."""
    rows = conn.execute("SELECT p.path, p.id, e.seq FROM photos p "
                        "JOIN embeddings e ON e.photo_id = p.id").fetchall()
    return {str(path): (int(i), int(seq)) for path, i, seq in rows}


def catalog_vectors(conn: sqlite3.Connection) -> dict[int, np.ndarray]:
    return {int(i): np.frombuffer(v, dtype=np.float32)
            for i, v in conn.execute("SELECT photo_id, vector FROM embeddings")}


def assert_vectors_agree(library: Path, model_id: str, conn: sqlite3.Connection,
                         scratch: Path) -> bool:
    """A vector file that loads holds only catalog embeddings, with the catalog's values (a
    copy is opened, so the check leaves the library as the kill left it). False when the file
    does not load: a rebuild, which is allowed."""
    src = library / "vectors.hnsw"
    scratch.mkdir(exist_ok=True)
    for name in ("vectors.hnsw", "vectors.hnsw.meta.json"):
        (scratch / name).unlink(missing_ok=True)
        if (library / name).exists():
            (scratch / name).write_bytes((library / name).read_bytes())
    if not src.exists():
        return False
    vecs = VectorIndex(scratch / "vectors.hnsw", DIM, model_id)
    if vecs.needs_rebuild:
        return False
    stored = catalog_vectors(conn)
    ids = vecs.ids().tolist()
    assert set(ids) <= set(stored), "the vector file holds ids the catalog never committed"
    if ids:
        np.testing.assert_allclose(vecs.get(ids), np.stack([stored[i] for i in ids]),
                                   atol=1e-6)
    seq = conn.execute("SELECT value FROM counters WHERE name = 'embedding_seq'").fetchone()[0]
    assert vecs.seq <= seq
    return True


def assert_library_files_sound(library: Path, settings_made: bool = True) -> None:
    """settings.json is whole (it may not be written yet at start-up), so is every backup."""
    if settings_made or (library / "settings.json").exists():
        settings = json.loads((library / "settings.json").read_text(encoding="utf-8"))
        assert isinstance(settings, dict)
        assert settings.get("model")
    for backup in (library / "backups").glob("catalog-*.sqlite3"):
        assert check_file(backup) is None, f"{backup.name} is not a whole database"


def setup_library(library: Path, model: Path, photos: Path, labels: list[str], capsys,
                  index: bool) -> None:
    """In-process, through the CLI: a label set that tags every photo, optionally indexed."""
    base = ["--library", str(library), "--model", str(model)]
    assert main([*base, "labels", "add", "test", "--labels", ",".join(labels),
                 "--threshold", "0", "--floor", "-1", "--multi-label"]) == 0
    if index:
        assert main([*base, "add", str(photos)]) == 0
    capsys.readouterr()


# -- add --------------------------------------------------------------------------------------


def test_add_killed_at_random_moments_resumes_without_damage_or_double_work(
    tmp_path: Path, tiny_clip_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = random.Random(SEED)
    library, photos = tmp_path / "library", tmp_path / "photos"
    files = make_photos(photos)
    library.mkdir()
    # Two photos per batch: many commits, so kills fall between and inside them.
    Settings(model=str(tiny_clip_dir), batch_size=2).save(library / "settings.json")
    setup_library(library, tiny_clip_dir, photos, LABELS, capsys, index=False)
    db = library / "catalog.sqlite3"
    model_id = str(tiny_clip_dir.resolve())
    child = Child(tmp_path, library, tiny_clip_dir, delay=0.03)

    kills = loaded = 0
    progress: list[int] = []  # photos committed after each run
    startup = 8.0  # until the first run shows how long the model takes to load
    seen: dict[str, tuple[int, int]] = {}
    for round_ in range(ADD_KILLS):
        before = job_count(db, "index")
        began = time.monotonic()
        proc = child.start("add", str(photos))
        if round_ % 3 == 2:  # while starting: opening, backup, vector sync and save
            killed = child.kill_when(proc, lambda: True, rng.uniform(0.4, 1.0) * startup)
        else:  # while indexing: inside a batch, between commit and cache, in a save
            def started(before: int = before, began: float = began) -> bool:
                nonlocal startup
                if job_count(db, "index") > before:
                    startup = time.monotonic() - began
                    return True
                return False

            killed = child.kill_when(proc, started, rng.uniform(0.0, 0.8))
        kills += killed

        conn = assert_catalog_sound(db)
        try:
            now = committed(conn)
            # Nothing committed is ever indexed again: same id, same embedding change number.
            assert {p: now[p] for p in seen} == seen
            seen = now
            progress.append(len(now))
            # A photo is committed with its embedding and its auto tags, or not at all.
            assert conn.execute("SELECT count(*) FROM photos p WHERE NOT EXISTS "
                                "(SELECT 1 FROM embeddings e WHERE e.photo_id = p.id)"
                                ).fetchone()[0] == 0
            tags = conn.execute("SELECT p.id, count(t.label_id) FROM photos p LEFT JOIN tags t "
                                "ON t.photo_id = p.id GROUP BY p.id").fetchall()
            assert {n for _, n in tags} <= {len(LABELS)}
            loaded += assert_vectors_agree(library, model_id, conn, tmp_path / "check")
        finally:
            conn.close()
        assert_library_files_sound(library)
    assert kills >= ADD_KILLS // 2, "most runs should have been killed, not finished"

    # The next run finishes the job, indexing only what no earlier run committed.
    base = ["--library", str(library), "--model", str(tiny_clip_dir)]
    assert main([*base, "add", str(photos), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["failed"] == 0
    assert report["indexed"] == N_PHOTOS - len(seen)

    conn = assert_catalog_sound(db)
    try:
        now = committed(conn)
        assert {p: now[p] for p in seen} == seen
        assert sorted(now) == sorted(str(f) for f in files)
        assert conn.execute("SELECT count(*) FROM photos").fetchone()[0] == N_PHOTOS
        assert conn.execute("SELECT count(DISTINCT hash) FROM photos").fetchone()[0] == N_PHOTOS
        per_photo = conn.execute("SELECT p.id, count(e.model) FROM photos p LEFT JOIN "
                                 "embeddings e ON e.photo_id = p.id GROUP BY p.id").fetchall()
        assert {n for _, n in per_photo} == {1}
        tags = conn.execute("SELECT count(*) FROM tags").fetchone()[0]
        assert tags == N_PHOTOS * len(LABELS)
        assert assert_vectors_agree(library, model_id, conn, tmp_path / "check")
    finally:
        conn.close()
    vecs = VectorIndex(library / "vectors.hnsw", DIM, model_id)
    assert not vecs.needs_rebuild
    assert len(vecs) == N_PHOTOS

    assert main([*base, "search", "a red square", "--cutoff", "0", "--json"]) == 0
    results = json.loads(capsys.readouterr().out)["results"]
    assert len(results) == 20
    assert {r["path"] for r in results} <= {str(f) for f in files}
    print(f"add: {child.runs} runs, {kills} killed, committed after each {progress}, vector "
          f"file loadable after {loaded}, model start-up {startup:.1f} s")


# -- add, while starting up ------------------------------------------------------------------

# The start-up phases of `add` on a new library, in the order they happen: creating the
# catalog's schema (a step per version, or a copy before migrating), the backups (before a
# migration, the daily one), the first settings.json, loading the model, the first scan, the
# first batch committed. Each round slows one in the child and kills inside it (a phase
# already done by an earlier round falls through to the next one).
PHASES = ("catalog", "backup", "settings", "model", "scan", "commit")
STARTUP_ROUNDS = (("catalog", 0.06, 1.0), ("backup", 0.6, 0.6), ("catalog", 0.06, 0.5),
                  ("settings", 0.6, 0.6), ("model", 0.8, 0.8), ("backup", 0.6, 0.6),
                  ("scan", 0.6, 0.5), ("commit", 0.6, 0.5))  # phase, its slowdown, kill within


def test_add_killed_while_starting_up_leaves_a_library_the_next_run_finishes(
    tmp_path: Path, tiny_clip_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = random.Random(SEED + 3)
    library, photos = tmp_path / "library", tmp_path / "photos"
    files = make_photos(photos, 24)
    db = library / "catalog.sqlite3"
    model_id = str(tiny_clip_dir.resolve())
    child = Child(tmp_path, library, tiny_clip_dir, delay=0.01)

    kills = 0
    where: list[str] = []  # the phases each kill fell in (the last mark left)
    seen: dict[str, tuple[int, int]] = {}
    for phase, slow, within in STARTUP_ROUNDS:
        proc = child.start("add", str(photos), phase=phase, phase_s=slow)
        later = PHASES[PHASES.index(phase):]

        def ready(pid: int = proc.pid, later: tuple[str, ...] = later) -> bool:
            return any((child.logs / f"tags-written.{p}.{pid}").exists() for p in later)

        killed = child.kill_when(proc, ready, rng.uniform(0.0, within))
        kills += killed
        reached = [p for p in PHASES if (child.logs / f"tags-written.{p}.{proc.pid}").exists()]
        where.append(f"{phase}->{reached[-1] if reached else 'none'}{'' if killed else '(done)'}")

        assert_library_files_sound(library, settings_made=False)
        if db.exists():
            conn = assert_catalog_sound(db)
            try:
                version = conn.execute("PRAGMA user_version").fetchone()[0]
                if version < LATEST_VERSION:  # killed while creating it: a step is whole
                    assert not seen
                    continue
                now = committed(conn)
                assert {p: now[p] for p in seen} == seen  # nothing committed is indexed again
                seen = now
                assert conn.execute("SELECT count(*) FROM photos p WHERE NOT EXISTS (SELECT 1 "
                                    "FROM embeddings e WHERE e.photo_id = p.id)").fetchone()[0] == 0
                assert_vectors_agree(library, model_id, conn, tmp_path / "check")
            finally:
                conn.close()
    assert kills >= len(STARTUP_ROUNDS) - 2, f"most runs should have been killed: {where}"

    # The next run finishes the job, indexing only what no earlier run committed.
    base = ["--library", str(library), "--model", str(tiny_clip_dir)]
    assert main([*base, "add", str(photos), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["failed"] == 0
    assert report["indexed"] == len(files) - len(seen)
    assert_library_files_sound(library)
    assert Settings.load(library / "settings.json").model == model_id
    conn = assert_catalog_sound(db)
    try:
        now = committed(conn)
        assert {p: now[p] for p in seen} == seen
        assert sorted(now) == sorted(str(f) for f in files)
        assert assert_vectors_agree(library, model_id, conn, tmp_path / "check")
    finally:
        conn.close()
    print(f"start-up: {child.runs} runs, {kills} killed, in {where}, {len(seen)} photos "
          "committed before the last run")


# -- tag --------------------------------------------------------------------------------------


def test_tag_killed_at_random_moments_applies_whole_or_not_at_all(
    tmp_path: Path, tiny_clip_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = random.Random(SEED + 1)
    library, photos = tmp_path / "library", tmp_path / "photos"
    make_photos(photos)
    setup_library(library, tiny_clip_dir, photos, LABELS, capsys, index=True)
    base = ["--library", str(library), "--model", str(tiny_clip_dir)]
    # One more label: `tag` must add it to every photo, in one transaction.
    assert main([*base, "labels", "add", "test", "--labels", ",".join(MORE_LABELS)]) == 0
    db = library / "catalog.sqlite3"
    # A long pause between writing the tags and committing them: kills land on both sides.
    child = Child(tmp_path, library, tiny_clip_dir, delay=0.6)

    kills = 0
    outcomes = []
    for _ in range(TAG_KILLS):
        proc = child.start("tag")
        mark = child.logs / f"tags-written.{proc.pid}"  # the child has written, not committed
        kills += child.kill_when(proc, mark.exists, rng.uniform(0.0, 0.9))
        conn = assert_catalog_sound(db)
        try:
            counts = {n for _, n in conn.execute(
                "SELECT photo_id, count(*) FROM tags GROUP BY photo_id")}
            assert counts in ({len(LABELS)}, {len(MORE_LABELS)})  # all photos, or none
            outcomes.append(counts.pop())
        finally:
            conn.close()

    assert main([*base, "tag"]) == 0
    capsys.readouterr()
    conn = assert_catalog_sound(db)
    try:
        assert conn.execute("SELECT count(*) FROM tags").fetchone()[0] == (
            N_PHOTOS * len(MORE_LABELS))
    finally:
        conn.close()
    print(f"tag: {child.runs} runs, {kills} killed, labels per photo after each {outcomes}")


# -- xmp --------------------------------------------------------------------------------------


def test_xmp_killed_while_writing_sidecars_leaves_only_whole_ones(
    tmp_path: Path, tiny_clip_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = random.Random(SEED + 2)
    library, photos = tmp_path / "library", tmp_path / "photos"
    files = make_photos(photos)
    setup_library(library, tiny_clip_dir, photos, LABELS, capsys, index=True)
    base = ["--library", str(library), "--model", str(tiny_clip_dir)]
    child = Child(tmp_path, library, tiny_clip_dir, delay=0.02)

    def sidecars() -> list[Path]:
        return sorted(photos.glob("*.jpg.xmp"))

    old, new = sorted(LABELS), sorted(MORE_LABELS)
    kills = temps_seen = 0
    for round_ in range(XMP_KILLS):
        if round_ == XMP_KILLS // 2:
            # Change every photo's tags: the next runs replace existing sidecars.
            assert main([*base, "labels", "add", "test", "--labels",
                         ",".join(MORE_LABELS)]) == 0
            assert main([*base, "tag"]) == 0
            capsys.readouterr()
        before = len(sidecars())
        proc = child.start("xmp")
        if round_ < XMP_KILLS // 2:
            def ready(before: int = before) -> bool:
                return len(sidecars()) > before
        else:
            def ready(pid: int = proc.pid) -> bool:  # this run's first rewrite is under way
                return any(photos.glob(f".*.{pid}.*.tmp"))
        kills += child.kill_when(proc, ready, rng.uniform(0.0, 0.5))
        for side in sidecars():
            keywords, hierarchical = read_keywords(side)  # whole, parseable XMP
            assert sorted(keywords) in (old, new), side
            assert sorted(hierarchical) == [f"test|{k}" for k in sorted(keywords)]
        temps = list(photos.glob(".*.tmp"))
        temps_seen += len(temps)
        assert all(t.name.startswith(".") and t.suffix == ".tmp" for t in temps)

    assert main([*base, "xmp"]) == 0
    capsys.readouterr()
    assert not list(photos.glob(".*.tmp")), "temp files of killed runs are cleaned up"
    assert [s.name for s in sidecars()] == [f"{f.name}.xmp" for f in files]
    for side in sidecars():
        assert sorted(read_keywords(side)[0]) == new
    # Nothing left behind is taken for a photo or a sidecar.
    assert main([*base, "index", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["indexed"], report["failed"], report["unchanged"]) == (0, 0, N_PHOTOS)
    print(f"xmp: {child.runs} runs, {kills} killed, {temps_seen} temp files seen after kills")
