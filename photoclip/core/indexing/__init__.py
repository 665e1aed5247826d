"""Indexing: bring the catalog and vector index in line with the photos on disk.

- scan.py: which files are photos of the library (path rules) and the folder walk
- content.py: content hashes (a photo's identity)
- decode.py: `prepare()`, one file read once into model input and a thumbnail
- pool.py: the decode threads, with a time limit per file
- diff.py: disk against catalog, and matching moves
- report.py: a run's totals, and failures grouped for `status`
- pipeline.py: the Indexer, which runs all of it as one job
"""

from photoclip.core.indexing.content import file_hash, hash_path
from photoclip.core.indexing.decode import FileTask, Prepared, prepare
from photoclip.core.indexing.pipeline import Indexer
from photoclip.core.indexing.pool import DECODE_TIMEOUT_S, MAX_STUCK_DECODES
from photoclip.core.indexing.report import FailureGroup, IndexReport, failure_summary
from photoclip.core.indexing.scan import (
    NAME_NOT_UTF8,
    catalog_path,
    innermost_root,
    is_inside,
    walk_images,
)

__all__ = [
    "DECODE_TIMEOUT_S",
    "MAX_STUCK_DECODES",
    "NAME_NOT_UTF8",
    "FailureGroup",
    "FileTask",
    "IndexReport",
    "Indexer",
    "Prepared",
    "catalog_path",
    "failure_summary",
    "file_hash",
    "hash_path",
    "innermost_root",
    "is_inside",
    "prepare",
    "walk_images",
]
