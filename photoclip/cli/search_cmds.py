"""Finding photos: search, similar, duplicates."""

from __future__ import annotations

import argparse
from typing import Any

from photoclip.cli.output import EXIT_OK, drive, out, printable
from photoclip.cli.session import open_library
from photoclip.core.types import SearchHit


def _results(args: argparse.Namespace, hits: list[SearchHit], scored: bool = True) -> None:
    """One line per hit, "score  path"; just the path (JSON: score null) when the hits are
    listed newest first, unscored (a query of filters alone)."""
    out(
        args,
        {"results": [{"path": h.path, "score": round(h.score, 6) if scored else None}
                     for h in hits]},
        # Each path escaped on its own: a newline in a file name must not split a result.
        lambda: "\n".join(f"{h.score:.3f}  {printable(h.path)}" if scored else printable(h.path)
                          for h in hits)
        or "no matching photos",
    )


def cmd_search(args: argparse.Namespace) -> int:
    # No --cutoff: the searcher's default one; --cutoff 0: always --top results.
    cutoff: dict[str, Any] = {} if args.cutoff is None else {"cutoff": args.cutoff or None}
    with open_library(args) as lib:
        searcher = lib.searcher()
        # The whole query is checked before the model loads (a usage error exits 2 at once);
        # filters alone list their photos without loading it at all.
        query: Any = " ".join(args.query)
        if args.text is not None:  # --text PHRASE: the same as text:"PHRASE"
            query = lib.ocr.with_text_filter(query, args.text)
        plan = searcher.plan(query, folder=args.folder, after=args.after,
                             before=args.before, tag=args.tag)
        hits = searcher.search(plan, top=args.top, **cutoff)
        _results(args, hits, scored=not (plan.filter_only and not plan.filters.tags))
    return EXIT_OK


def cmd_similar(args: argparse.Namespace) -> int:
    # Any readable photo: one in the library uses its stored embedding, another is embedded now.
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
            lambda: "\n\n".join("\n".join(printable(p) for p in g) for g in groups)
            or "no near-identical photos")
    return EXIT_OK
