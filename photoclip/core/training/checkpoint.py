"""What a training run leaves on disk: the resumable partial state while it trains, and the
finished model folder (weights, tokenizer, preprocessing, seen photos, photoclip.json).

Both are written so a crash never leaves half of one: state.pt through storage.replacing, and
the model folder built under a temp name and renamed into place in one step.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from photoclip.core.encoder import PreprocessRecipe
from photoclip.core.encoder.preprocess import save_recipe
from photoclip.core.evaluation import METADATA_FILE, SEEN_PHOTOS_FILE
from photoclip.core.storage import fsync_dir, remove_stale_temps, replacing

log = logging.getLogger(__name__)

PARTIAL_PREFIX = ".partial-"
SAVING_PREFIX = ".saving-"
STATE_FILE = "state.pt"


def save_partial(folder: Path, state: Mapping[str, Any]) -> None:
    """The run's resumable state (torch.save-able) as folder/state.pt, replaced atomically."""
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    with replacing(folder / STATE_FILE) as tmp:
        torch.save(dict(state), tmp)


def load_partial(folder: Path, fingerprint: str) -> dict[str, Any] | None:
    """The state save_partial left in `folder`, if it was made from the same `fingerprint`."""
    import torch

    remove_stale_temps(folder, lambda target: target == STATE_FILE)  # a killed run's temp
    path = folder / STATE_FILE
    if not path.is_file():
        return None
    try:
        state: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a half-written or foreign file only costs a fresh start
        log.warning("ignoring unreadable checkpoint %s: %s", path, exc)
        return None
    if state.get("fingerprint") != fingerprint:
        log.info("checkpoint %s is for other photos or settings; starting afresh", path)
        return None
    return state


def stage_model(final: Path, model: Any, tokenizer: Any, recipe: PreprocessRecipe,
                seen: Iterable[str], metadata: Mapping[str, Any]) -> Path:
    """A loadable model folder for `final` (which must not exist), built in a temp folder beside
    it and returned: the weights, the tokenizer, the base model's preprocessing (so the model
    sees photos exactly as it trained), the content hashes of the photos it has seen, and
    photoclip.json. `publish_model` puts it in place. The temp folder's name starts with a dot:
    nothing takes it for a finished model."""
    tmp = final.parent / f"{SAVING_PREFIX}{final.name}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    with _quiet_saving():
        model.save_pretrained(str(tmp))
    tokenizer.save_pretrained(str(tmp))
    save_recipe(recipe, str(tmp))
    (tmp / SEEN_PHOTOS_FILE).write_text("".join(f"{h}\n" for h in sorted(seen)), "utf-8")
    (tmp / METADATA_FILE).write_text(json.dumps(dict(metadata), indent=2), "utf-8")
    return tmp


def publish_model(staged: Path, final: Path) -> None:
    """Rename the folder `stage_model` built into place: `final` is whole or absent.
    (storage.replacing is for files; a folder is published by one rename of the whole.)"""
    os.replace(staged, final)
    fsync_dir(final.parent)


@contextlib.contextmanager
def _quiet_saving() -> Iterator[None]:
    """Hide transformers' "Writing model shards" bar: the CLI draws its own progress."""
    from transformers.utils import logging as hf_logging

    enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            hf_logging.enable_progress_bar()
