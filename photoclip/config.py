"""Where a library lives and what it is set to. Every path the app uses comes from here."""

from __future__ import annotations

import json
import logging
import os
import sys
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

log = logging.getLogger(__name__)

APP_NAME = "photoclip"
DEFAULT_MODEL = "openai/clip-vit-base-patch32"
ENV_LIBRARY = "PHOTOCLIP_LIBRARY"
ENV_MODEL = "PHOTOCLIP_MODEL"
ENV_PRECISION = "PHOTOCLIP_PRECISION"
# "off" (or 0/false/no): a new library starts with reading text in photos off. The test suite
# sets it, so only the tests about OCR pay for the text pass after `add`.
ENV_OCR = "PHOTOCLIP_OCR"
# A folder of model folders shipped by an offline installer (installer/README.md).
ENV_MODELS_DIR = "PHOTOCLIP_MODELS_DIR"


def default_library_dir() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir(APP_NAME, appauthor=False))


def library_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """--library wins, then PHOTOCLIP_LIBRARY, then the platform's user data dir."""
    if override:
        return Path(override).expanduser().resolve()
    env = os.environ.get(ENV_LIBRARY)
    if env:
        return Path(env).expanduser().resolve()
    return default_library_dir()


def bundled_models_dirs() -> list[Path]:
    """Where an offline install keeps its models: PHOTOCLIP_MODELS_DIR, and in a packaged
    (PyInstaller) build a `models/` folder beside the executable or inside its bundle."""
    dirs: list[Path] = []
    env = os.environ.get(ENV_MODELS_DIR)
    if env:
        dirs.append(Path(env).expanduser())
    if getattr(sys, "frozen", False):
        dirs.append(Path(sys.executable).resolve().parent / "models")
        bundle = getattr(sys, "_MEIPASS", None)
        if bundle:
            dirs.append(Path(bundle) / "models")
    return dirs


def default_model() -> str:
    """The model a new library starts with: a bundled one if an installer shipped it, so an
    offline install never needs the hub; else DEFAULT_MODEL. In a models folder the copy of
    DEFAULT_MODEL (saved as `openai--clip-vit-base-patch32`) wins, then the first by name."""
    preferred = DEFAULT_MODEL.replace("/", "--")
    for base in bundled_models_dirs():
        if not base.is_dir():
            continue
        found = sorted(d for d in base.iterdir() if (d / "config.json").is_file())
        found.sort(key=lambda d: d.name != preferred)  # stable: name order after the preferred
        if found:
            return str(found[0].resolve())
    return DEFAULT_MODEL


def ocr_default() -> bool:
    """Whether a new library reads text in photos: yes, unless PHOTOCLIP_OCR is off."""
    return os.environ.get(ENV_OCR, "").strip().lower() not in ("off", "0", "false", "no")


def _looks_like_path(model: str) -> bool:
    """Hub ids are "name" or "org/name"; anything else the user typed is meant as a folder."""
    if model.startswith(("~", ".", "/", "\\")) or "\\" in model or Path(model).is_absolute():
        return True
    return model.count("/") > 1


def model_id(model: str) -> str:
    """A model's one name (settings, catalog, vectors): a local folder by its absolute path, a
    hub id as given; an empty name means the default model."""
    model = model.strip() or DEFAULT_MODEL
    if Path(model).expanduser().exists() or _looks_like_path(model):
        return str(Path(model).expanduser().resolve())
    return model


def requested_model(override: str | None = None) -> str | None:
    """The model asked for this run: --model, else PHOTOCLIP_MODEL; None when neither."""
    asked = (override or os.environ.get(ENV_MODEL) or "").strip()
    return model_id(asked) if asked else None


def missing_folders(path: Path) -> list[Path]:
    """`path` and those of its parents that do not exist yet, outermost first (what creating
    it would create)."""
    missing: list[Path] = []
    for p in (path, *path.parents):
        if p.exists() or p.is_symlink():
            break
        missing.append(p)
    return missing[::-1]


# What a library folder holds when photoclip made it: removable without asking.
LIBRARY_FILES = frozenset({
    "catalog.sqlite3", "catalog.sqlite3-wal", "catalog.sqlite3-shm", "catalog.sqlite3-journal",
    "settings.json", "vectors.hnsw", "vectors.hnsw.meta.json", "vectors.pending.hnsw",
    "vectors.pending.hnsw.meta.json", "thumbnails", "checkpoints", "backups",
})


def remove_new_library(root: Path, created: list[Path]) -> None:
    """Undo a library folder this process created for a command that then failed, so a typo in
    --library or a first command that goes wrong leaves nothing behind. Only photoclip's own
    files are removed; `created` is `missing_folders(root)` from before the command."""
    import shutil

    try:
        if root.is_dir() and not {p.name for p in root.iterdir()} <= LIBRARY_FILES:
            return  # something else was put there meanwhile: leave it all
        shutil.rmtree(root, ignore_errors=True)
        for folder in reversed(created[:-1]):  # the parents it made, innermost first
            folder.rmdir()
    except OSError as exc:
        log.debug("new library folder %s not removed: %s", root, exc)


@dataclass(frozen=True)
class LibraryPaths:
    root: Path

    @property
    def catalog(self) -> Path:
        return self.root / "catalog.sqlite3"

    @property
    def vectors(self) -> Path:
        return self.root / "vectors.hnsw"

    @property
    def pending_vectors(self) -> Path:
        """Vectors of a model being switched to, built beside the ones search still uses."""
        return self.root / "vectors.pending.hnsw"

    @property
    def thumbnails(self) -> Path:
        return self.root / "thumbnails"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def backups(self) -> Path:
        return self.root / "backups"

    @property
    def settings(self) -> Path:
        return self.root / "settings.json"

    def ensure(self) -> LibraryPaths:
        """Create the library's folders where they can be. On a read-only disk an existing
        library still opens (read-only); the catalog reports what cannot be written."""
        for p in (self.root, self.thumbnails, self.checkpoints, self.backups):
            try:
                p.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                log.warning("cannot create %s: %s", p, exc.strerror or exc)
        return self


@dataclass
class Settings:
    """Per-library settings, stored as settings.json beside the catalog."""

    model: str = field(default_factory=default_model)
    device: str = "auto"  # auto | cpu | cuda | mps
    # Photos per model call. On a CPU 16 keeps decode and model better overlapped than 32
    # (2 cores, ViT-B/32 bf16: 21.8 vs 20.3 photos/s indexed, same model-only speed).
    batch_size: int = 16
    # Decode threads; 0 = as many as the machine has cores (decode and model share them).
    decode_workers: int = 0
    sidecar_style: str = "photo.jpg.xmp"  # or "photo.xmp"
    # Keep XMP sidecars in step as tags change (`photoclip xmp --sync on`, the window's
    # Settings). Off: sidecars are written by `photoclip xmp` / "Write sidecars now" only.
    xmp_sync: bool = False
    # Seconds one file may take to read and decode before it is recorded as failed and the
    # indexer moves on (a pathological file, a hung network drive); 0 = no limit.
    decode_timeout_s: float = 30.0
    # CPU precision: "auto" measures bf16/int8 against fp32 once per model and keeps the
    # fastest that matches fp32 (cosine >= 0.99); "fp32" | "bf16" | "int8" force one.
    precision: str = "auto"
    fast_path: dict[str, str] = field(default_factory=dict)  # model -> calibrated choice
    # A model being switched to (`models use`): it becomes `model` once every photo has its
    # embedding; until then search keeps using `model`.
    pending_model: str | None = None
    # Read the words in photos (OCR, the `ocr` extra) so search finds them by their text:
    # after `add`/`index`, while watching and in the window; off: nothing is read and
    # `photoclip ocr` refuses. A new library's default: on, unless PHOTOCLIP_OCR says off.
    ocr: bool = field(default_factory=lambda: ocr_default())

    @classmethod
    def load(cls, path: Path) -> Settings:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable settings %s: %s", path, exc)
            return cls()
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in known})

    def save(self, path: Path) -> None:
        """Atomically: a unique temp file (two processes may save at once), fsync, rename, so
        a crash leaves the old settings or the new, never half a file."""
        from photoclip.core.storage import atomic_write  # core imports config

        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, json.dumps(asdict(self), indent=2).encode("utf-8"), mode=0o644)


@dataclass(frozen=True)
class Run:
    """Which model and device one process uses, settled once, here, for every front end.

    `--model` (or PHOTOCLIP_MODEL) and `--device` are for this run only: they pick the model of
    a new library (no settings.json yet) and otherwise never change the library's settings;
    only `models use` (or the window's Settings) switches a library's model.
    """

    settings: Settings  # the library's own, as saved (or as a new library starts)
    asked_model: str | None  # the model asked for this run (a model id), None = the library's
    asked_device: str | None  # the device asked for this run, None = the library's setting
    new: bool  # no settings.json yet

    @property
    def model(self) -> str:
        return self.asked_model or self.settings.model

    @property
    def device(self) -> str:
        return self.asked_device or self.settings.device


def resolve_run(
    settings_path: Path, model: str | None = None, device: str | None = None
) -> Run:
    new = not settings_path.exists()
    settings = Settings.load(settings_path)
    asked = requested_model(model)
    if new and asked:
        settings.model = asked  # a new library starts with the model it was first opened with
    return Run(settings, asked, device or None, new)
