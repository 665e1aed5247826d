"""A library's label sets as the front ends use them (`Library.label_sets`): the TagStore, plus
what `photoclip labels ...` and the Label sets page do with it — a set made from a list of
labels, a built-in set, a set's figures, and label set files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from photoclip.core.catalog import Catalog
from photoclip.core.errors import LabelSetError
from photoclip.core.tagging import (
    MANUAL_SET,
    LabelSetSpec,
    TagStore,
    default_templates,
    load_set_file,
    save_set_file,
    shipped_sets,
)
from photoclip.core.tagging.labelsets import (
    LabelSpec,
    check_name,
    check_templates,
    read_list_file,
    split_labels,
    unique_labels,
)
from photoclip.core.tagging.prompts_i18n import templates_for
from photoclip.core.tagging.scoring import effective_floor, effective_threshold
from photoclip.core.types import LabelSet


class LabelSets(TagStore):
    manual = MANUAL_SET  # the set of tags set by hand

    def __init__(self, catalog: Catalog, model_of: Callable[[], str] | None = None) -> None:
        super().__init__(catalog)
        # The library's model id (its languages choose a set's default templates); no load.
        self._model_of = model_of

    def define(
        self,
        name: str,
        *,
        labels: str | None = None,
        labels_file: str | None = None,
        templates_file: str | None = None,
        threshold: float | None = None,
        floor: float | None = None,
        multi_label: bool | None = None,
    ) -> tuple[LabelSet, bool]:
        """Create a label set, or change the one of that name (enabled either way): labels as
        "a,b,c" or a file of them; what is not given keeps its value. Labels that stay keep
        what calibration learned for them. Returns (the set, created)."""
        name = check_name(name, "label set")
        raw = split_labels(labels) if labels is not None else read_list_file(
            labels_file or "", "labels")
        existing = self.label_set(name)
        old = {lb.name.casefold(): lb for lb in existing.labels} if existing else {}
        specs = unique_labels(
            LabelSpec(n, old[n.casefold()].threshold, old[n.casefold()].calibrated)
            if n.casefold() in old else LabelSpec(n)
            for n in (check_name(x, "label") for x in raw))
        if not specs:
            raise LabelSetError("No labels given: e.g. --labels 'cat,dog,rabbit'.")

        def keep(new: Any, attr: str, default: Any) -> Any:
            return new if new is not None else getattr(existing, attr, default)

        return self.save_set(LabelSetSpec(
            name=existing.name if existing else name,
            labels=specs,
            templates=(check_templates(read_list_file(templates_file, "templates"))
                       if templates_file else keep(None, "templates", None)),
            threshold=keep(threshold, "threshold", None),
            floor=keep(floor, "floor", None),
            multi_label=keep(multi_label, "multi_label", False),
            enabled=True,
        ))

    def available(self) -> list[str]:
        """Built-in sets not in the library yet (`labels enable NAME` adds one)."""
        have = {ls.name for ls in self.label_sets()}
        return [n for n in shipped_sets() if n not in have]

    def overview(self) -> list[dict[str, Any]]:
        """One row per set of the library: labels, tags, enabled, thresholds."""
        rows = []
        for ls in self.label_sets():
            counts = self.tag_counts(ls.id)
            rows.append({"name": ls.name, "enabled": ls.enabled, "multi_label": ls.multi_label,
                         "labels": len(ls.labels), "tags": sum(c[0] for c in counts.values()),
                         "threshold": ls.threshold, "floor": ls.floor})
        return rows

    def find_spec(self, name: str) -> tuple[LabelSet | None, LabelSetSpec]:
        """(the library's set or None, its spec): a set of the library, else a built-in one;
        neither raises, naming the sets there are."""
        found = self.label_set(name)
        if found is not None:
            return found, LabelSetSpec.of(found)
        builtin = shipped_sets().get(name)
        if builtin is not None:
            return None, builtin
        self.require_set(name)  # raises, naming the sets there are
        raise LabelSetError(f"No label set named {name!r}.")

    def describe(self, name: str) -> dict[str, Any]:
        """A set's (or a built-in set's) labels, thresholds, templates and tag counts."""
        found, spec = self.find_spec(name)
        labels: list[dict[str, Any]] = []
        floor = None
        if found is not None:
            counts = self.tag_counts(found.id)
            for lb in found.labels:
                value, source = effective_threshold(lb, found)
                tags, yes, no = counts.get(lb.id, (0, 0, 0))
                labels.append({"name": lb.name, "threshold": round(value, 6),
                               "threshold_source": source, "tags": tags, "accepted": yes,
                               "rejected": no})
            floor = effective_floor(found)
        else:
            labels = [{"name": lb.name} for lb in spec.labels]
        return {"name": spec.name, "installed": found is not None,
                "enabled": spec.enabled if found is not None else False,
                "multi_label": spec.multi_label, "threshold": spec.threshold,
                "floor": spec.floor, "effective_floor": floor,
                "templates": list(spec.templates or self._templates(found or spec)),
                "default_templates": spec.templates is None, "labels": labels}

    def _templates(self, label_set: Any) -> tuple[str, ...]:
        """The templates the tagger will use for `label_set` (its language's, where the
        library's model reads it), without loading the model."""
        if self._model_of is None:
            return default_templates()
        return templates_for(label_set, SimpleNamespace(model_id=self._model_of()))

    def export(self, name: str, file: str | Path) -> tuple[str, Path]:
        """Write a set (or a built-in one) to a YAML/JSON file: (its name, the file)."""
        _, spec = self.find_spec(name)
        return spec.name, save_set_file(spec, file)

    def import_file(self, file: str | Path) -> tuple[LabelSet, bool]:
        """Read a label set file; creates or updates the set of its name: (set, created)."""
        return self.save_set(load_set_file(file))

    def enable(self, name: str) -> tuple[LabelSet, bool]:
        """Use a set when tagging, adding a built-in one first: (set, added)."""
        found, spec = self.find_spec(name)
        if found is None:
            saved, _ = self.save_set(spec)
            return saved, True
        self.set_enabled(found.id, True)
        return found, False

    def disable(self, name: str) -> LabelSet:
        found = self.require_set(name)
        self.set_enabled(found.id, False)
        return found

    def tag_models(self, set_name: str) -> list[str]:
        """The models that scored this set's undecided auto tags: after `models use --no-retag`
        the previous one too, until the set is tagged again."""
        return [str(m) for (m,) in self.catalog.query(
            "SELECT DISTINCT t.model FROM tags t JOIN labels l ON l.id = t.label_id JOIN "
            "label_sets s ON s.id = l.set_id WHERE s.name = ? AND t.source = 'auto' AND "
            "t.accepted IS NULL AND t.model IS NOT NULL ORDER BY 1", (set_name,))]
