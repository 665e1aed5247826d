"""Prompt templates in the label's language: a label set written in Chinese is tagged with
Chinese templates ("一张{}的照片。") when the model reads Chinese, and with the English ensemble
otherwise, as before.

The language is the set's own `language` (where a set has one), else read from the labels'
script (Han without kana or Hangul: Chinese); a set in Latin script on a Chinese-only model
(Chinese-CLIP) takes the model's first language, which the catalogue gives (else the family).
Templates ship as resources/templates.<language>.txt beside the English templates.txt.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

from photoclip.core.encoder.families import family_of_folder
from photoclip.core.errors import PhotoclipError
from photoclip.core.tagging.labelsets import check_templates, default_templates

ENGLISH = "en"
CHINESE = "zh"
# Families whose text tower reads Chinese (SigLIP 2's NaFlex family; its fixed-size checkpoints
# load as "siglip" and are found through the catalogue's languages instead).
CHINESE_FAMILIES = frozenset({"chinese_clip", "altclip", "metaclip_2", "siglip2"})
# Families trained on Chinese text only: a label in Latin script still gets Chinese templates.
CHINESE_FIRST = frozenset({"chinese_clip"})


KANA = re.compile("[\u3040-\u30ff\u31f0-\u31ff]")
HANGUL = re.compile("[\uac00-\ud7af\u1100-\u11ff]")
HAN = re.compile("[\u4e00-\u9fff\u3400-\u4dbf\uf900-\ufaff]")


def script_language(texts: Iterable[str]) -> str:
    """"zh" when most texts are written with Han characters (and no kana or Hangul, which make
    them Japanese or Korean: "ja", "ko"); "" when most are in another script (Latin ...)."""
    return _script_language(tuple(texts))


@functools.lru_cache(maxsize=256)  # asked for every scored batch, for sets of 1000s of labels
def _script_language(texts: tuple[str, ...]) -> str:
    votes: dict[str, int] = {}
    for text in texts:
        if KANA.search(text):
            lang = "ja"
        elif HANGUL.search(text):
            lang = "ko"
        elif HAN.search(text):
            lang = CHINESE
        else:
            lang = ""
        votes[lang] = votes.get(lang, 0) + 1
    if not votes:
        return ""
    return max(votes, key=lambda k: (votes[k], k == ""))


@functools.cache
def language_templates(language: str) -> tuple[str, ...] | None:
    """The shipped templates of `language` ("en" is templates.txt); None when none ship."""
    if language == ENGLISH:
        return default_templates()
    if not language.isalpha():
        return None
    name = f"templates.{language}.txt"
    # A source checkout run through PYTHONPATH may find another checkout's installed resources
    # (as model_catalog notes): its own resources/ folder goes with it.
    source = Path(__file__).resolve().parents[3] / "resources" / name
    entry = source if source.is_file() else resources.files("photoclip.resources") / name
    if not entry.is_file():
        return None
    lines = [s.strip() for s in entry.read_text("utf-8").splitlines()]
    return check_templates(s for s in lines if s and not s.startswith("#"))


def model_languages(encoder: Any) -> tuple[str, ...]:
    """The languages the model reads, first its first: the catalogue's entry for its id, else
    its family ("chinese_clip": zh; a Chinese-capable family: en and zh; else en)."""
    model_id = str(getattr(encoder, "model_id", ""))
    return _languages(model_id, family_name(encoder, model_id))


def family_name(encoder: Any, model_id: str) -> str:
    """The model's family without loading it (scoring from cached prompt vectors needs no
    model): the loaded model's, else a folder's config.json; "" for a hub id not yet loaded."""
    if getattr(encoder, "loaded", False):
        return str(getattr(encoder, "family", "") or "")
    return folder_family(model_id) if model_id and Path(model_id).is_dir() else ""


@functools.lru_cache(maxsize=32)  # asked for every batch the tagger scores: read it once
def folder_family(folder: str) -> str:
    try:
        return family_of_folder(folder, folder).name
    except (OSError, ValueError, PhotoclipError):
        return ""


@functools.lru_cache(maxsize=32)  # the tagger asks for every batch: read the catalogue once
def _languages(model_id: str, family: str) -> tuple[str, ...]:
    from photoclip.core.model_catalog import load_catalog

    for entry in load_catalog():
        if entry.id == model_id and entry.languages:
            langs = tuple(entry.languages)
            return (*langs, CHINESE) if "multilingual" in langs else langs
    if family in CHINESE_FIRST:
        return (CHINESE, ENGLISH)
    if family in CHINESE_FAMILIES:
        return (ENGLISH, CHINESE)
    return (ENGLISH,)


def set_language(label_set: Any, encoder: Any) -> str:
    """The language a set's prompts are written in (see the module's docstring)."""
    own = getattr(label_set, "language", None)
    if own:
        return str(own)
    written = script_language(lb.name for lb in getattr(label_set, "labels", ()))
    if written:
        return written
    first = model_languages(encoder)[0]
    return first if first != "multilingual" else ENGLISH


def templates_for(label_set: Any, encoder: Any) -> tuple[str, ...]:
    """The set's own templates, else the shipped ones of its language where the model reads
    that language, else the English ensemble."""
    if getattr(label_set, "templates", None):
        return tuple(label_set.templates)
    language = set_language(label_set, encoder)
    if language != ENGLISH and language in model_languages(encoder):
        found = language_templates(language)
        if found:
            return found
    return default_templates()
