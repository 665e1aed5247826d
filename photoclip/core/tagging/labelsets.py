"""Label sets as files a user edits (YAML or JSON), the sets shipped with the app, templates.

A label set file::

    name: pets
    multi_label: false        # optional: several labels may tag one photo
    threshold: 0.5            # optional: set-wide threshold (softmax score, 0..1)
    floor: 0.2                # optional: similarity floor ("none of these"), cosine
    templates:                # optional: prompt templates, {} is the label
      - a photo of a {}.
    labels:
      - cat
      - name: rabbit          # a label may carry its own threshold
        threshold: 0.6

A bare list of labels is a set too (its name is then the file's stem).
"""

from __future__ import annotations

import functools
import json
import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from photoclip.core.errors import LabelSetError
from photoclip.core.types import LabelSet

log = logging.getLogger(__name__)

# "|" joins set and label in XMP's lr:hierarchicalSubject ("animals|cat"); inside a name it
# would split the keyword in two in every photo manager.
_FORBIDDEN = "|"
# CLIP reads 77 tokens; a longer label is a description, not a label, and is almost surely a
# pasted paragraph by mistake.
MAX_NAME = 100
_SET_KEYS = {"name", "labels", "templates", "threshold", "floor", "multi_label", "enabled"}
_LABEL_KEYS = {"name", "threshold", "calibrated"}
_STRUCTURED = {".json", ".yaml", ".yml"}


@dataclass(frozen=True)
class LabelSpec:
    name: str
    threshold: float | None = None
    calibrated: bool = False


@dataclass(frozen=True)
class LabelSetSpec:
    """A label set as the user wrote it; the catalog gives it ids (see TagStore.save_set)."""

    name: str
    labels: tuple[LabelSpec, ...]
    templates: tuple[str, ...] | None = None
    threshold: float | None = None
    floor: float | None = None
    multi_label: bool = False
    enabled: bool = True

    @classmethod
    def of(cls, label_set: LabelSet) -> LabelSetSpec:
        return cls(
            name=label_set.name,
            labels=tuple(LabelSpec(lb.name, lb.threshold, lb.calibrated)
                         for lb in label_set.labels),
            templates=label_set.templates,
            threshold=label_set.threshold,
            floor=label_set.floor,
            multi_label=label_set.multi_label,
            enabled=label_set.enabled,
        )


# -- validation -------------------------------------------------------------------------------


def check_name(name: object, what: str) -> str:
    if not isinstance(name, str | int | float) or isinstance(name, bool):
        raise LabelSetError(f"A {what} name must be text, got {name!r}.")
    text = " ".join(str(name).split())  # one line, single spaces: it is also a keyword
    if not text:
        raise LabelSetError(f"A {what} name cannot be empty.")
    if _FORBIDDEN in text:
        raise LabelSetError(f"{what.capitalize()} {text!r} contains '|', which XMP uses between "
                            "set and label; use another character.")
    if len(text) > MAX_NAME:
        raise LabelSetError(f"{what.capitalize()} {text[:40]!r}... is longer than {MAX_NAME} "
                            "characters; use a short label.")
    return text


def check_threshold(value: object, what: str = "threshold") -> float:
    number = _number(value, what)
    if not 0.0 <= number <= 1.0:
        raise LabelSetError(f"The {what} {number} is outside 0..1: it is a softmax score.")
    return number


def check_floor(value: object) -> float:
    number = _number(value, "floor")
    if not -1.0 <= number <= 1.0:
        raise LabelSetError(f"The floor {number} is outside -1..1: it is a cosine similarity.")
    return number


def _number(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise LabelSetError(f"The {what} must be a number, got {value!r}.")
    try:
        number = float(value)
    except ValueError:
        raise LabelSetError(f"The {what} must be a number, got {value!r}.") from None
    if math.isnan(number):
        raise LabelSetError(f"The {what} must be a number, got {value!r}.")
    return number


def check_templates(templates: Iterable[object]) -> tuple[str, ...]:
    out: list[str] = []
    for t in templates:
        if not isinstance(t, str) or not t.strip():
            raise LabelSetError(f"A prompt template must be text, got {t!r}.")
        text = t.strip()
        if "{}" not in text:
            raise LabelSetError(f"The prompt template {text!r} has no {{}} where the label goes, "
                                "e.g. 'a photo of a {}.'")
        if text not in out:
            out.append(text)
    if not out:
        raise LabelSetError("No prompt templates given; give at least one, e.g. 'a photo of a {}.'")
    return tuple(out)


def unique_labels(labels: Iterable[LabelSpec]) -> tuple[LabelSpec, ...]:
    """Drop repeats (case-insensitive, first kept): pasted lists often repeat a word."""
    seen: set[str] = set()
    out: list[LabelSpec] = []
    for lb in labels:
        key = lb.name.casefold()
        if key not in seen:
            seen.add(key)
            out.append(lb)
    return tuple(out)


def split_labels(text: str) -> list[str]:
    """`--labels "cat, dog,rabbit"` -> names."""
    return [part for part in (p.strip() for p in text.split(",")) if part]


# -- parsing and writing ----------------------------------------------------------------------


def parse_set(data: object, default_name: str | None = None) -> LabelSetSpec:
    """A mapping (or a bare list of labels) as read from YAML/JSON -> a checked spec."""
    if isinstance(data, list):
        data = {"labels": data}
    if not isinstance(data, dict):
        raise LabelSetError("A label set file holds a mapping with 'name' and 'labels', "
                            "or a list of labels.")
    unknown = sorted(set(map(str, data)) - _SET_KEYS)
    if unknown:
        raise LabelSetError(f"Unknown key(s) in the label set: {', '.join(unknown)} "
                            f"(known: {', '.join(sorted(_SET_KEYS))}).")
    name = data.get("name", default_name)
    if name is None:
        raise LabelSetError("The label set has no 'name'.")
    raw_labels = data.get("labels")
    if not isinstance(raw_labels, list) or not raw_labels:
        raise LabelSetError("The label set has no 'labels' list; give at least one label.")
    labels = unique_labels(_parse_label(item) for item in raw_labels)
    templates = data.get("templates")
    if templates is not None and not isinstance(templates, list):
        raise LabelSetError("'templates' must be a list of prompt templates.")
    threshold, floor = data.get("threshold"), data.get("floor")
    return LabelSetSpec(
        name=check_name(name, "label set"),
        labels=labels,
        templates=None if templates is None else check_templates(templates),
        threshold=None if threshold is None else check_threshold(threshold),
        floor=None if floor is None else check_floor(floor),
        multi_label=_flag(data.get("multi_label", False), "multi_label"),
        enabled=_flag(data.get("enabled", True), "enabled"),
    )


def _parse_label(item: object) -> LabelSpec:
    if isinstance(item, dict):
        unknown = sorted(set(map(str, item)) - _LABEL_KEYS)
        if unknown:
            raise LabelSetError(f"Unknown key(s) in label {item!r}: {', '.join(unknown)}.")
        threshold = item.get("threshold")
        return LabelSpec(
            check_name(item.get("name"), "label"),
            None if threshold is None else check_threshold(threshold),
            _flag(item.get("calibrated", False), "calibrated") and threshold is not None,
        )
    return LabelSpec(check_name(item, "label"))


def _flag(value: object, what: str) -> bool:
    if not isinstance(value, bool):
        raise LabelSetError(f"'{what}' must be true or false, got {value!r}.")
    return value


def set_to_data(spec: LabelSetSpec) -> dict[str, Any]:
    """The plain mapping written to a file; optional fields only when set."""
    data: dict[str, Any] = {"name": spec.name, "enabled": spec.enabled,
                            "multi_label": spec.multi_label}
    if spec.threshold is not None:
        data["threshold"] = round(spec.threshold, 6)
    if spec.floor is not None:
        data["floor"] = round(spec.floor, 6)
    if spec.templates is not None:
        data["templates"] = list(spec.templates)
    labels: list[Any] = []
    for lb in spec.labels:
        if lb.threshold is None:
            labels.append(lb.name)
        else:
            entry: dict[str, Any] = {"name": lb.name, "threshold": round(lb.threshold, 6)}
            if lb.calibrated:
                entry["calibrated"] = True
            labels.append(entry)
    data["labels"] = labels
    return data


def _load_structured(path: Path) -> object:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise LabelSetError(f"Cannot read {path}: {exc.strerror or exc}.") from exc
    except UnicodeDecodeError:
        raise LabelSetError(f"{path} is not a UTF-8 text file.") from None
    if path.suffix.lower() == ".json":
        try:
            return json.loads(text)
        except ValueError as exc:  # json.JSONDecodeError
            raise LabelSetError(f"{path} is not valid JSON: {exc}.") from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise LabelSetError(f"{path} is not valid YAML: {_first_line(exc)}.") from exc


def load_set_file(path: str | Path) -> LabelSetSpec:
    path = Path(path).expanduser()
    try:
        return parse_set(_load_structured(path), default_name=path.stem)
    except LabelSetError as exc:
        if str(path) in str(exc):
            raise
        raise LabelSetError(f"{path}: {exc}") from exc


def save_set_file(spec: LabelSetSpec, path: str | Path) -> Path:
    """JSON for a .json file, YAML otherwise (it takes comments, and JSON is valid YAML)."""
    path = Path(path).expanduser()
    data = set_to_data(spec)
    if path.suffix.lower() == ".json":
        text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    else:
        text = ("# photoclip label set: edit it, then `photoclip labels import` this file.\n"
                + yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise LabelSetError(f"Cannot write {path}: {exc.strerror or exc}.") from exc
    return path


def read_list_file(path: str | Path, what: str) -> list[str]:
    """Labels or templates from a file: one per line (# comments), or a YAML/JSON list."""
    path = Path(path).expanduser()
    if path.suffix.lower() in _STRUCTURED:
        data = _load_structured(path)
        if isinstance(data, dict) and what == "labels" and "labels" in data:
            return [lb.name for lb in parse_set(data, path.stem).labels]
        if isinstance(data, dict) and what == "templates" and "templates" in data:
            data = data["templates"]
        if not isinstance(data, list):
            raise LabelSetError(f"{path} must hold a list of {what}.")
        return [str(x) for x in data]
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise LabelSetError(f"Cannot read {path}: {exc.strerror or exc}.") from exc
    except UnicodeDecodeError:
        raise LabelSetError(f"{path} is not a UTF-8 text file.") from None
    return _lines(lines)


def _lines(lines: Iterable[str]) -> list[str]:
    return [s for s in (line.strip() for line in lines) if s and not s.startswith("#")]


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


# -- what ships with the app ------------------------------------------------------------------


@functools.cache
def default_templates() -> tuple[str, ...]:
    text = resources.files("photoclip.resources").joinpath("templates.txt").read_text("utf-8")
    return check_templates(_lines(text.splitlines()))


@functools.cache
def shipped_sets() -> dict[str, LabelSetSpec]:
    """The default label sets (scenes, animals, events, documents), by name."""
    folder = resources.files("photoclip.resources").joinpath("label_sets")
    out: dict[str, LabelSetSpec] = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".yaml"):
            continue
        spec = parse_set(yaml.safe_load(entry.read_text("utf-8")), entry.name[: -len(".yaml")])
        out[spec.name] = spec
    return out
