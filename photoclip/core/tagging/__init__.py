"""Auto-tagging: label sets, prompt ensembles, thresholds and calibration, XMP sidecars.

- labelsets: label set files (YAML/JSON) and what ships with the app (resources/)
- scoring:   the numbers (ensembles, softmax with "none of these", thresholds, calibration)
- store:     catalog tables (label_sets, labels, tags, text_embeddings)
- tagger:    the `tag` job, the indexer hook, user decisions, "why this tag"
- xmp:       sidecars (dc:subject + lr:hierarchicalSubject), merged and written atomically
- sidecar_sync: sidecars kept in step as tags change (`xmp_sync`) and photos move
- guards:    hostile input: bounded reads of regular files, control characters (`printable`)
"""

from __future__ import annotations

from photoclip.core.tagging.guards import printable
from photoclip.core.tagging.labelsets import (
    LabelSetSpec,
    LabelSpec,
    default_templates,
    load_set_file,
    save_set_file,
    shipped_sets,
)
from photoclip.core.tagging.sidecar_sync import SidecarSync, SidecarTagger
from photoclip.core.tagging.store import MANUAL_SET, TagStore
from photoclip.core.tagging.tagger import Calibration, Tagger, TagReport
from photoclip.core.tagging.xmp import SidecarReport, SidecarWriter, sidecar_path

__all__ = [
    "MANUAL_SET",
    "Calibration",
    "LabelSetSpec",
    "LabelSpec",
    "SidecarReport",
    "SidecarSync",
    "SidecarTagger",
    "SidecarWriter",
    "TagReport",
    "TagStore",
    "Tagger",
    "default_templates",
    "load_set_file",
    "printable",
    "save_set_file",
    "shipped_sets",
    "sidecar_path",
]
