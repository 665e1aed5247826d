"""A library's models as the front ends list them (`Library.models()`): the registry's base and
fine-tuned models, with the one in use and the one being switched to marked."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from photoclip.core.catalog import Catalog
from photoclip.core.training import registry


@dataclass(frozen=True)
class ModelInfo:
    name: str
    kind: str  # base | finetuned | adapter
    base: str
    path: str | None  # checkpoint folder of a fine-tuned model; None for a base model
    created_at: str
    metrics: dict[str, Any] | None  # a fine-tuned model's figures ("before", "after")
    in_use: bool = False  # the library's model
    pending: bool = False  # the model `models use` is switching to

    @property
    def source(self) -> str:
        """What the encoder loads: the folder of a fine-tuned model, else the base id."""
        return self.path or self.base

    @property
    def accuracy(self) -> float | None:
        """Held-out zero-shot accuracy after fine-tuning, where there is one."""
        value = ((self.metrics or {}).get("after") or {}).get("zero_shot_accuracy")
        return None if value is None else float(value)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "base": self.base, "path": self.path,
                "created_at": self.created_at, "metrics": self.metrics,
                "in_use": self.in_use, "pending": self.pending}


def _info(entry: registry.ModelEntry, current: str | None = None,
          pending: str | None = None) -> ModelInfo:
    return ModelInfo(entry.name, entry.kind, entry.base, entry.path, entry.created_at,
                     entry.metrics, in_use=entry.source == current,
                     pending=pending is not None and entry.source == pending)


def list_models(catalog: Catalog, current: str, pending: str | None) -> list[ModelInfo]:
    """Every registered model, oldest first; the library's model first when it is not
    registered (a base model no fine-tuning has named yet)."""
    entries = registry.list_models(catalog)
    if registry.by_source(catalog, current) is None:
        entries.insert(0, registry.ModelEntry(current, current, None, "base", None, ""))
    return [_info(e, current, pending) for e in entries]


def find_model(catalog: Catalog, name: str, current: str,
               pending: str | None) -> ModelInfo | None:
    """The registered model of that name, or None."""
    entry = registry.find(catalog, name)
    return None if entry is None else _info(entry, current, pending)
