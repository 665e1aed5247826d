"""Plain values passed between core, CLI and GUI (frozen dataclasses, no behaviour)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Root:
    id: int
    path: str
    online: bool = True


@dataclass(frozen=True)
class PhotoRecord:
    """A photo's facts as the indexer writes them (`Catalog.upsert_photo`): a `Photo` before
    the catalog has given it an id. Kept apart from `Photo` on purpose, so that every `Photo`
    has a real id; its fields are `Photo`'s without `id`, in the same order (a test checks)."""

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
class Photo:
    """A photo as the catalog holds it: a `PhotoRecord` with the id the catalog gave it."""

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


@dataclass(frozen=True)
class Label:
    id: int
    set_id: int
    name: str
    threshold: float | None = None  # per-label override: the user's, or learned by calibration
    calibrated: bool = False  # threshold came from calibration (it may move again)


@dataclass(frozen=True)
class LabelSet:
    id: int
    name: str
    labels: tuple[Label, ...] = ()
    enabled: bool = True
    multi_label: bool = False  # several labels of the set may tag one photo
    threshold: float | None = None  # set-wide override of the default threshold
    floor: float | None = None  # set-wide override of the default similarity floor
    templates: tuple[str, ...] | None = None  # prompt templates; None = the defaults


@dataclass(frozen=True)
class PhotoTag:
    """One tag row of a photo. A rejected tag (accepted False) is a decision, not a tag."""

    photo_id: int
    label_id: int
    label: str
    set_name: str
    score: float | None  # None for a tag the user set by hand
    source: str  # "auto" | "user"
    accepted: bool | None = None  # None undecided, True accepted, False rejected


@dataclass(frozen=True)
class TemplateScore:
    template: str
    prompt: str
    similarity: float  # cosine between the photo and this one prompt


@dataclass(frozen=True)
class TagScore:
    """Why a label does or does not tag a photo: the numbers the decision was made from."""

    photo_id: int
    label_id: int
    label: str
    set_name: str
    similarity: float  # cosine to the label's prompt ensemble
    score: float  # softmax over the set's labels and "none of these"
    threshold: float
    threshold_source: str  # "default" | "set" | "label" | "calibrated"
    floor: float
    best_in_set: bool  # highest score of its set for this photo
    passes: bool  # auto-tagging would tag it
    templates: tuple[TemplateScore, ...] = ()
