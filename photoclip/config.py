"""Where a library lives and what it is set to. Every path the app uses comes from here."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

log = logging.getLogger(__name__)

APP_NAME = "photoclip"
DEFAULT_MODEL = "openai/clip-vit-base-patch32"
ENV_LIBRARY = "PHOTOCLIP_LIBRARY"
ENV_MODEL = "PHOTOCLIP_MODEL"


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
        for p in (self.root, self.thumbnails, self.checkpoints, self.backups):
            p.mkdir(parents=True, exist_ok=True)
        return self


@dataclass
class Settings:
    """Per-library settings, stored as settings.json beside the catalog."""

    model: str = DEFAULT_MODEL
    device: str = "auto"  # auto | cpu | cuda | mps
    batch_size: int = 32
    # Decode threads; 0 = as many as the machine has cores (decode and model share them).
    decode_workers: int = 0
    sidecar_style: str = "photo.jpg.xmp"  # or "photo.xmp"

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
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2), encoding="utf-8")
        os.replace(tmp, path)
