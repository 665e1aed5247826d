"""Issue 19: prompt templates in the label's language. A set in Chinese on a model that reads
Chinese is tagged with Chinese templates; every other case keeps the English ensemble."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from photoclip.core.library import Library
from photoclip.core.tagging.labelsets import default_templates
from photoclip.core.tagging.prompts_i18n import (
    language_templates,
    model_languages,
    script_language,
    templates_for,
)
from photoclip.core.types import Label, LabelSet

ZH = "一张{}的照片。"


@dataclass
class Fake:
    model_id: str = "some/model"
    family: str = "clip"
    loaded: bool = True


def _set(*names: str, templates=None, language=None):
    ls = LabelSet(1, "s", tuple(Label(i, 1, n) for i, n in enumerate(names)), templates=templates)
    if language is not None:
        object.__setattr__(ls, "language", language)  # a set property, where sets have one
    return ls


def test_the_script_of_the_labels_says_the_language():
    assert script_language(["猫", "狗", "cat"]) == "zh"
    assert script_language(["cat", "dog"]) == ""
    assert script_language(["ねこ", "いぬ"]) == "ja"  # kana: Japanese, not Chinese
    assert script_language(["고양이"]) == "ko"
    assert script_language([]) == ""


def test_chinese_labels_get_chinese_templates_on_a_chinese_capable_model():
    templates = templates_for(_set("猫", "狗"), Fake(family="chinese_clip"))
    assert templates[0] == ZH
    assert len(templates) == len(default_templates())  # the same ensemble, translated
    assert all("{}" in t for t in templates)
    assert templates_for(_set("猫"), Fake(family="altclip"))[0] == ZH
    assert templates_for(_set("猫"), Fake(model_id="BAAI/AltCLIP", family=""))[0] == ZH


def test_english_models_and_english_sets_keep_the_english_ensemble():
    english = default_templates()
    assert templates_for(_set("猫", "狗"), Fake(family="clip")) == english  # cannot read it
    assert templates_for(_set("cat", "dog"), Fake(family="altclip")) == english
    assert templates_for(_set("猫", language="en"), Fake(family="altclip")) == english
    # A set's own templates always win.
    assert templates_for(_set("猫", templates=("{}",)), Fake(family="chinese_clip")) == ("{}",)


def test_a_chinese_only_model_writes_latin_labels_into_its_own_language():
    assert model_languages(Fake(model_id="OFA-Sys/chinese-clip-vit-base-patch16"))[0] == "zh"
    assert templates_for(_set("cat"), Fake(family="chinese_clip"))[0] == ZH
    assert templates_for(_set("猫", language="zh"), Fake(family="siglip2"))[0] == ZH
    assert language_templates("xx") is None
    assert language_templates("../x") is None


def test_an_unloaded_model_is_not_loaded_to_choose(tiny_family_dir: Callable[[str], Path]):
    class Unloaded:
        loaded = False

        def __init__(self, model_id: str) -> None:
            self.model_id = model_id

        @property
        def family(self) -> str:
            raise AssertionError("loading the model to choose templates")

    folder = str(tiny_family_dir("chinese_clip"))
    assert templates_for(_set("猫"), Unloaded(folder))[0] == ZH
    assert templates_for(_set("猫"), Unloaded("x/y")) == (
        default_templates())


@pytest.mark.parametrize(("family", "first"), [("chinese_clip", ZH.format("猫")),
                                                ("clip", "a photo of a 猫.")])
def test_tagging_a_chinese_set_encodes_prompts_in_the_models_language(
        family: str, first: str, tmp_path: Path, tiny_family_dir: Callable[[str], Path]):
    with Library(tmp_path / "lib", model=str(tiny_family_dir(family)), device="cpu") as lib:
        encoded: list[str] = []
        real = lib.encoder.encode_texts

        def spy(texts):
            encoded.extend(texts)
            return real(texts)

        lib.encoder.encode_texts = spy  # type: ignore[method-assign]
        lib.label_sets.define("宠物", labels="猫,狗", floor=-1.0, threshold=0.0)
        tagger = lib.tagger()
        tagger.prepare()
        assert first in encoded
        why = tagger.templates(lib.label_sets.label_sets()[0])
        assert (why[0] == ZH) == (family == "chinese_clip")


@pytest.mark.parametrize("family", ["chinese_clip", "clip"])
def test_labels_show_lists_the_templates_the_tagger_will_use(
        family: str, tmp_path: Path, tiny_family_dir: Callable[[str], Path],
        monkeypatch: pytest.MonkeyPatch):
    """`photoclip labels show 宠物` (and the Label sets page) lists the Chinese templates
    where the library's model reads Chinese, without loading it."""
    def no_load(*_a: object) -> None:
        raise AssertionError("the model was loaded to list templates")

    monkeypatch.setattr("photoclip.core.encoder.clip.ClipEncoder.load", no_load)
    with Library(tmp_path / "lib", model=str(tiny_family_dir(family)), device="cpu") as lib:
        lib.label_sets.define("宠物", labels="猫,狗")
        shown = lib.label_sets.describe("宠物")["templates"]
        assert (shown[0] == ZH) == (family == "chinese_clip")
