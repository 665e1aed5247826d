"""The model catalogue (resources/models.yaml), `photoclip models catalog`, and the model a new
library is offered from the system language (issue 19)."""

from __future__ import annotations

import json

import pytest

from photoclip.cli import main
from photoclip.config import DEFAULT_MODEL
from photoclip.core.encoder.families import FAMILIES
from photoclip.core.model_catalog import load_catalog, suggested_model


def test_the_catalogue_is_shipped_data_with_every_field_and_known_families() -> None:
    entries = load_catalog()
    ids = [e.id for e in entries]
    assert DEFAULT_MODEL in ids
    assert "OFA-Sys/chinese-clip-vit-base-patch16" in ids
    assert len(set(ids)) == len(ids)
    for e in entries:
        assert e.family in FAMILIES, e
        assert e.languages, e
    clip = next(e for e in entries if e.id == DEFAULT_MODEL)
    assert (clip.image_size, clip.embedding_size, clip.languages) == (224, 512, ("en",))


@pytest.mark.parametrize(("locale", "has_gpu"), [
    ("zh_CN.UTF-8", False), ("zh_CN.UTF-8", True), ("zh-Hant-TW", False), ("zh_TW", True)])
def test_a_chinese_locale_is_offered_a_chinese_capable_model(locale: str, has_gpu: bool) -> None:
    chosen = suggested_model(locale, has_gpu)
    entry = next(e for e in load_catalog() if e.id == chosen)
    assert "zh" in entry.languages


def test_other_locales_are_offered_a_model_that_reads_their_language() -> None:
    catalog = {e.id: e for e in load_catalog()}
    assert suggested_model("en_US.UTF-8", False) == DEFAULT_MODEL
    assert suggested_model("C", False) == DEFAULT_MODEL
    assert suggested_model(None, False) == DEFAULT_MODEL
    assert catalog[suggested_model("en_GB", True)].languages == ("en",)
    assert "multilingual" in catalog[suggested_model("de_DE.UTF-8", False)].languages
    assert "multilingual" in catalog[suggested_model("ja_JP", True)].languages


def test_models_catalog_lists_the_catalogue_and_marks_the_model_in_use(capsys) -> None:
    assert main(["models", "catalog", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["models"]
    assert [m["id"] for m in listed] == [e.id for e in load_catalog()]
    assert [m["id"] for m in listed if m["in_use"]] == [DEFAULT_MODEL]
    assert main(["models", "catalog"]) == 0
    text = capsys.readouterr().out
    assert "OFA-Sys/chinese-clip-vit-base-patch16" in text
    line = next(x for x in text.splitlines() if x.startswith(DEFAULT_MODEL))
    assert "(in use)" in line
    assert "151M" in line
    assert "605 MB" in line


def test_the_catalogue_marks_the_suggested_model_and_says_why(monkeypatch) -> None:
    from photoclip.core.model_catalog import catalog_with_use, system_locale

    listed = catalog_with_use(DEFAULT_MODEL, "zh_CN.UTF-8", False)
    picked = [m for m in listed if m["suggested"]]
    assert [m["id"] for m in picked] == [suggested_model("zh_CN.UTF-8", False)]
    assert "Chinese" in picked[0]["suggested_because"]
    assert all(m["suggested_because"] == "" for m in listed if not m["suggested"])
    for name in ("LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", "zh_TW.UTF-8")
    assert system_locale() == "zh_TW.UTF-8"
    assert [m["id"] for m in catalog_with_use(DEFAULT_MODEL, has_gpu=False)
            if m["suggested"]] == [picked[0]["id"]]
