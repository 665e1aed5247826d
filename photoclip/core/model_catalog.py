"""The model catalogue shipped with photoclip (resources/models.yaml), and the model a new
library is offered from the system language and whether there is a GPU."""

from __future__ import annotations

import locale as locale_module
import os
import sys
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
    note: str | None = None  # what the model is for, when that is not plain search

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
            note=item.get("note"),
        ))
    return entries


def catalog_with_use(model_in_use: str, locale: str | None = None,
                     has_gpu: bool | None = None) -> list[dict[str, Any]]:
    """The catalogue as dicts, each with "in_use": whether it is the library's model, and
    "suggested" (with "suggested_because") for the model this system's language and hardware
    suggest (the system's own when locale / has_gpu are not given)."""
    locale = system_locale() if locale is None else locale
    has_gpu = gpu_present() if has_gpu is None else has_gpu
    pick, why = suggested_model(locale, has_gpu), suggestion_reason(locale, has_gpu)
    return [{**e.as_dict(), "in_use": e.id == model_in_use, "suggested": e.id == pick,
             "suggested_because": why if e.id == pick else ""} for e in load_catalog()]


def system_locale() -> str:
    """The user's language setting as the C library reads it (LC_ALL > LC_MESSAGES > LANG),
    else Python's view of it; "" when none is set."""
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        if os.environ.get(name):
            return os.environ[name]
    try:
        return locale_module.getlocale()[0] or ""
    except ValueError:
        return ""


def gpu_present() -> bool:
    """Whether a CUDA GPU is there, without importing torch for it (seconds): torch's answer
    when it is loaded already, else whether an NVIDIA driver is."""
    torch = sys.modules.get("torch")
    if torch is not None:
        return bool(torch.cuda.is_available())
    return Path("/proc/driver/nvidia/version").exists()


LANGUAGE_NAMES = {"zh": "Chinese", "en": "English", "de": "German", "fr": "French",
                  "ja": "Japanese", "ko": "Korean", "es": "Spanish", "ru": "Russian"}


def suggestion_reason(locale: str | None, has_gpu: bool) -> str:
    """Why suggested_model() picks what it picks, in a user's words."""
    language = language_of(locale)
    named = LANGUAGE_NAMES.get(language, language)
    if language == "zh":
        return "your system language is Chinese: it reads searches and labels in Chinese"
    if language in ("", "en"):
        return ("English, with a GPU: the stronger SigLIP is fast enough" if has_gpu else
                "English on the CPU: the standard CLIP, small and quick")
    return f"your system language is {named}: a multilingual model reads it"


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
