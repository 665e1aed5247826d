"""Finding photos: search, similar, duplicates."""

from __future__ import annotations

import argparse
from typing import Any

from photoclip.cli.output import EXIT_OK, drive, out
from photoclip.cli.session import open_library
from photoclip.core.types import SearchHit


def _results(args: argparse.Namespace, hits: list[SearchHit]) -> None:
    out(
        args,
        {"results": [{"path": h.path, "score": round(h.score, 6)} for h in hits]},
        lambda: "\n".join(f"{h.score:.3f}  {h.path}" for h in hits) or "no matching photos",
    )


def cmd_search(args: argparse.Namespace) -> int:
    # No --cutoff: the searcher's default one; --cutoff 0: always --top results.
    cutoff: dict[str, Any] = {} if args.cutoff is None else {"cutoff": args.cutoff or None}
    with open_library(args) as lib:
        hits = lib.searcher().search(" ".join(args.query), top=args.top, folder=args.folder,
                                     after=args.after, before=args.before, tag=args.tag,
                                     **cutoff)
        _results(args, hits)
    return EXIT_OK


def cmd_similar(args: argparse.Namespace) -> int:
    with open_library(args) as lib:
        _results(args, lib.searcher().similar(args.photo, top=args.top,
                                              cutoff=args.cutoff or None))
    return EXIT_OK


def cmd_duplicates(args: argparse.Namespace) -> int:
    with open_library(args) as lib:
        finder = lib.duplicates(threshold=args.threshold, folder=args.folder)
        drive(finder.run(), unit="photo", desc="comparing")
        groups = [[p.path for p in g] for g in finder.report.groups]
        out(args, {"groups": groups},
            lambda: "\n\n".join("\n".join(g) for g in groups) or "no near-identical photos")
    return EXIT_OK
