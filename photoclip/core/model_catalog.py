"""The model catalogue shipped with photoclip (resources/models.yaml), and the model a new
library is offered from the system language and whether there is a GPU."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml

from photoclip.config import DEFAULT_MODEL

# Offered on first run; each is in the catalogue.
CHINESE_MODEL = "OFA-Sys/chinese-clip-vit-base-patch16"
MULTILINGUAL_MODEL = "google/siglip2-base-patch16-224"
ENGLISH_GPU_MODEL = "google/siglip-base-patch16-224"


@dataclass(frozen=True)
class CatalogEntry:
    id: str
    family: str
    languages: tuple[str, ...]
    parameters: int | None
    image_size: int | None
    embedding_size: int | None
    download_mb: int | None
    licence: str | None

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["languages"] = list(self.languages)
        return out


def load_catalog() -> list[CatalogEntry]:
    """Every entry of resources/models.yaml, in file order."""
    shipped = files("photoclip.resources") / "models.yaml"
    # A source checkout run through PYTHONPATH may find photoclip.resources of another
    # checkout's editable install; its own resources/ folder is the one that goes with it.
    source = Path(__file__).resolve().parents[2] / "resources" / "models.yaml"
    text = (source if source.is_file() else shipped).read_text(encoding="utf-8")
    raw = yaml.safe_load(text) or {}
    entries = []
    for item in raw.get("models") or ():
        entries.append(CatalogEntry(
            id=str(item["id"]),
            family=str(item["family"]),
            languages=tuple(str(x) for x in item.get("languages") or ()),
            parameters=item.get("parameters"),
            image_size=item.get("image_size"),
            embedding_size=item.get("embedding_size"),
            download_mb=item.get("download_mb"),
            licence=item.get("licence"),
        ))
    return entries


def catalog_with_use(model_in_use: str) -> list[dict[str, Any]]:
    """The catalogue as dicts, each with "in_use": whether it is the library's model."""
    return [{**e.as_dict(), "in_use": e.id == model_in_use} for e in load_catalog()]


def language_of(locale: str | None) -> str:
    """"zh_CN.UTF-8", "zh-Hant-TW", "en_GB" -> "zh", "zh", "en"; "" for C/POSIX/unknown."""
    code = (locale or "").split(".")[0].split("@")[0].replace("-", "_").split("_")[0].lower()
    return "" if code in ("c", "posix") else code


def suggested_model(locale: str | None, has_gpu: bool) -> str:
    """The model a new library is offered: a Chinese-capable one for a Chinese locale, a
    multilingual one for other non-English locales, and for English the default CLIP on a
    CPU or the stronger SigLIP where a GPU makes its larger size cheap."""
    language = language_of(locale)
    if language == "zh":
        return CHINESE_MODEL
    if language in ("", "en"):
        return ENGLISH_GPU_MODEL if has_gpu else DEFAULT_MODEL
    return MULTILINGUAL_MODEL
