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

Files come from anywhere, so everything is bounded and refused with a one-line reason: only a
regular file of at most MAX_FILE bytes is read (never a FIFO or /dev/zero), YAML aliases are
refused unexpanded ("billion laughs"), nesting stops at MAX_DEPTH, a set holds at most
MAX_LABELS labels and MAX_TEMPLATES templates, and names carry no control characters.
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
from photoclip.core.tagging.guards import FileRefused, has_control, printable, read_regular, short
from photoclip.core.types import LabelSet

log = logging.getLogger(__name__)

# "|" joins set and label in XMP's lr:hierarchicalSubject ("animals|cat"); inside a name it
# would split the keyword in two in every photo manager.
_FORBIDDEN = "|"
# CLIP reads 77 tokens; a longer label is a description, not a label, and is almost surely a
# pasted paragraph by mistake.
MAX_NAME = 100
MAX_FILE = 2**20  # bytes of a label set, label list or template file
MAX_LABELS = 1000  # labels in one set
MAX_TEMPLATES = 50  # prompt templates of one set
MAX_TEMPLATE = 200  # characters of one template
MAX_PROMPTS = 20_000  # labels x templates: each is one text encoding
MAX_DEPTH = 8  # nesting of a set file (the format itself needs 3)
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
        raise LabelSetError(f"A {what} name must be text, got {short(name)}.")
    raw = str(name)
    if len(raw) > 10 * MAX_NAME:  # not even worth normalising
        raise LabelSetError(f"{what.capitalize()} '{printable(raw[:40])}...' is longer than "
                            f"{MAX_NAME} characters; use a short label.")
    text = " ".join(raw.split())  # one line, single spaces: it is also a keyword
    if not text:
        raise LabelSetError(f"A {what} name cannot be empty.")
    if has_control(text):
        raise LabelSetError(f"{what.capitalize()} '{printable(text[:60])}' contains control "
                            "characters (terminal escapes, bells...); type it without them.")
    if _FORBIDDEN in text:
        raise LabelSetError(f"{what.capitalize()} {text[:60]!r} contains '|', which XMP uses "
                            "between set and label; use another character.")
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
        raise LabelSetError(f"The {what} must be a number, got {short(value)}.")
    try:
        number = float(value)
    except (ValueError, OverflowError):
        raise LabelSetError(f"The {what} must be a number, got {short(value)}.") from None
    if not math.isfinite(number):
        raise LabelSetError(f"The {what} must be a number, got {short(value)}.")
    return number


def check_templates(templates: Iterable[object]) -> tuple[str, ...]:
    out: list[str] = []
    for t in templates:
        if not isinstance(t, str) or not t.strip():
            raise LabelSetError(f"A prompt template must be text, got {short(t)}.")
        text = t.strip()
        if len(text) > MAX_TEMPLATE:
            raise LabelSetError(f"The prompt template '{printable(text[:40])}...' is longer than "
                                f"{MAX_TEMPLATE} characters.")
        if has_control(text):
            raise LabelSetError(f"The prompt template '{printable(text)}' contains control "
                                "characters; type it without them.")
        if "{}" not in text:
            raise LabelSetError(f"The prompt template {text!r} has no {{}} where the label goes, "
                                "e.g. 'a photo of a {}.'")
        if text not in out:
            out.append(text)
        if len(out) > MAX_TEMPLATES:
            raise LabelSetError(f"More than {MAX_TEMPLATES} prompt templates; a few good ones "
                                "work better than many.")
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
    unknown = sorted(set(map(_key, data)) - _SET_KEYS)
    if unknown:
        raise LabelSetError(f"Unknown key(s) in the label set: {_keys(unknown)} "
                            f"(known: {', '.join(sorted(_SET_KEYS))}).")
    name = data.get("name", default_name)
    if name is None:
        raise LabelSetError("The label set has no 'name'.")
    raw_labels = data.get("labels")
    if not isinstance(raw_labels, list) or not raw_labels:
        raise LabelSetError("The label set has no 'labels' list; give at least one label.")
    check_count(len(raw_labels))
    labels = unique_labels(_parse_label(item) for item in raw_labels)
    templates = data.get("templates")
    if templates is not None and not isinstance(templates, list):
        raise LabelSetError("'templates' must be a list of prompt templates.")
    threshold, floor = data.get("threshold"), data.get("floor")
    return check_spec(LabelSetSpec(
        name=check_name(name, "label set"),
        labels=labels,
        templates=None if templates is None else check_templates(templates),
        threshold=None if threshold is None else check_threshold(threshold),
        floor=None if floor is None else check_floor(floor),
        multi_label=_flag(data.get("multi_label", False), "multi_label"),
        enabled=_flag(data.get("enabled", True), "enabled"),
    ))


def check_count(labels: int) -> None:
    if labels > MAX_LABELS:
        raise LabelSetError(f"{labels} labels are more than the {MAX_LABELS} a set may have; "
                            "split them into several sets.")


def check_spec(spec: LabelSetSpec) -> LabelSetSpec:
    """The limits on a whole set (each name and template is checked as it is read)."""
    check_count(len(spec.labels))
    templates = len(spec.templates) if spec.templates is not None else 1
    if spec.templates is not None and len(spec.templates) > MAX_TEMPLATES:
        raise LabelSetError(f"More than {MAX_TEMPLATES} prompt templates; a few good ones "
                            "work better than many.")
    if len(spec.labels) * templates > MAX_PROMPTS:
        raise LabelSetError(f"{len(spec.labels)} labels x {templates} templates are more than "
                            f"the {MAX_PROMPTS} prompts a set may have; use fewer of either.")
    return spec


def _key(key: object) -> str:
    return printable(str(key)[:40]) if isinstance(key, str | int | float | bool) else short(key)


def _keys(keys: list[str]) -> str:
    return ", ".join(keys[:5]) + (f" and {len(keys) - 5} more" if len(keys) > 5 else "")


def _parse_label(item: object) -> LabelSpec:
    if isinstance(item, dict):
        unknown = sorted(set(map(_key, item)) - _LABEL_KEYS)
        if unknown:
            raise LabelSetError(f"Unknown key(s) in label {short(item)}: {_keys(unknown)}.")
        threshold = item.get("threshold")
        return LabelSpec(
            check_name(item.get("name"), "label"),
            None if threshold is None else check_threshold(threshold),
            _flag(item.get("calibrated", False), "calibrated") and threshold is not None,
        )
    return LabelSpec(check_name(item, "label"))


def _flag(value: object, what: str) -> bool:
    if not isinstance(value, bool):
        raise LabelSetError(f"'{what}' must be true or false, got {short(value)}.")
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


class _Loader(yaml.SafeLoader):
    """Safe YAML that refuses aliases (never expanded: a 300-byte "billion laughs" file would
    grow to gigabytes) and nesting deeper than MAX_DEPTH (the composer recurses)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            raise LabelSetError("uses a YAML alias (*name); label set files may not")
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise LabelSetError(f"is nested more than {MAX_DEPTH} levels deep")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def read_text(path: Path, what: str = "label set file") -> str:
    """A small UTF-8 text file, read with a bound; a FIFO, device or folder is refused."""
    try:
        data = read_regular(path, MAX_FILE, what=what)
    except FileRefused as exc:
        raise LabelSetError(f"{printable(str(path))} {exc}.") from None
    except OSError as exc:
        raise LabelSetError(f"Cannot read {printable(str(path))}: {exc.strerror or exc}.") from exc
    if data is None:
        raise LabelSetError(f"Cannot read {printable(str(path))}: no such file.")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise LabelSetError(f"{printable(str(path))} is not a UTF-8 text file.") from None


def _load_structured(path: Path) -> object:
    text = read_text(path)
    where = printable(str(path))
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except RecursionError:
            raise LabelSetError(f"{where} is nested more than {MAX_DEPTH} levels deep.") from None
        except ValueError as exc:  # json.JSONDecodeError
            raise LabelSetError(f"{where} is not valid JSON: {_first_line(exc)}.") from exc
        if _depth(data) > MAX_DEPTH:
            raise LabelSetError(f"{where} is nested more than {MAX_DEPTH} levels deep.")
        return data
    try:
        return yaml.load(text, Loader=_Loader)  # a SafeLoader, stricter still
    except LabelSetError as exc:
        raise LabelSetError(f"{where} {exc}.") from None
    except RecursionError:
        raise LabelSetError(f"{where} is nested more than {MAX_DEPTH} levels deep.") from None
    except yaml.YAMLError as exc:
        raise LabelSetError(f"{where} is not valid YAML: {_first_line(exc)}.") from exc


def _depth(data: object) -> int:
    """How deeply lists and mappings nest, without recursion."""
    deepest = 0
    stack: list[tuple[object, int]] = [(data, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            if deepest > MAX_DEPTH:
                return deepest
            values = item.values() if isinstance(item, dict) else item
            stack.extend((v, level + 1) for v in values)
    return deepest


def load_set_file(path: str | Path) -> LabelSetSpec:
    path = Path(path).expanduser()
    try:
        return parse_set(_load_structured(path), default_name=path.stem)
    except LabelSetError as exc:
        if printable(str(path)) in str(exc):
            raise
        raise LabelSetError(f"{printable(str(path))}: {exc}") from exc


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
            raise LabelSetError(f"{printable(str(path))} must hold a list of {what}.")
        bad = [x for x in data if not isinstance(x, str | int | float) or isinstance(x, bool)]
        if bad:
            raise LabelSetError(f"{printable(str(path))} must hold a list of {what}, "
                                f"not {short(bad[0])}.")
        items = [str(x) for x in data]
    else:
        items = _lines(read_text(path, f"{what} file").splitlines())
    limit = MAX_LABELS if what == "labels" else MAX_TEMPLATES
    if len(items) > limit:
        raise LabelSetError(f"{printable(str(path))} holds {len(items)} {what}, more than the "
                            f"{limit} a set may have.")
    return items


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
