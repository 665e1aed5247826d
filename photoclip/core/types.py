"""Plain values passed between core, CLI and GUI (frozen dataclasses, no behaviour)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Root:
    id: int
    path: str
    online: bool = True


@dataclass(frozen=True)
class Photo:
    id: int
    root_id: int
    path: str
    size: int
    mtime_ns: int
    hash: str | None
    width: int | None = None
    height: int | None = None
    taken_at: str | None = None  # ISO 8601 from EXIF DateTimeOriginal, else None
    status: str = "ok"  # "ok" | "failed"
    error: str | None = None


@dataclass(frozen=True)
class SearchHit:
    photo_id: int
    path: str
    score: float


@dataclass(frozen=True)
class Progress:
    """One step of a long job. `total` may grow while a scan is still finding files."""

    job: str  # "scan", "index", ...
    done: int = 0
    total: int = 0
    failed: int = 0
    message: str = ""
    rate: float = 0.0  # items per second over the job so far
    finished: bool = False
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 0.0
