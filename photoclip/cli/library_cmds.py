"""The library's folders: gui, add, remove, index, watch, status."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from photoclip.cli.ocr_cmds import status_lines as ocr_status_lines
from photoclip.cli.output import EXIT_INTERRUPTED, EXIT_OK, drive, out, printable
from photoclip.cli.session import open_library
from photoclip.core.errors import PhotoclipError
from photoclip.core.types import Progress, Root

if TYPE_CHECKING:
    from photoclip.core.library import Library


def cmd_gui(args: argparse.Namespace) -> int:
    from photoclip.gui.app import main as gui_main

    return gui_main(library=args.library, model=args.model, device=args.device,
                    paths=getattr(args, "paths", ()))


def _index(args: argparse.Namespace, lib: Library,
           roots: list[Root] | None = None) -> dict[str, Any]:
    indexer = lib.indexer()
    text: list[Progress] = []  # the text pass's last word, when it ran after the indexing

    def noted(job: Iterator[Progress]) -> Iterator[Progress]:
        for p in job:
            if p.job == "ocr":
                text[:] = [p]
            yield p

    drive(noted(indexer.run(roots)), units={"ocr": "photo"})
    r = indexer.report
    summary = {
        "indexed": r.indexed, "failed": r.failed, "moved": r.moved, "removed": r.removed,
        "unchanged": r.unchanged, "offline_roots": r.offline_roots,
        "seconds": round(r.seconds, 3), "photos_per_s": round(r.rate, 2),
    }
    if text:
        summary["text_read"] = text[0].done
    if not args.json:
        print(indexer.summary(), file=sys.stderr)
        if text and text[0].finished and text[0].message:
            print(text[0].message, file=sys.stderr)
    return summary


def measure_fast_path(args: argparse.Namespace, lib: Library) -> int:
    """The one-time CPU fast-path measurement (~10 s), after the command's own output so the
    first result never waits for it; until it has run the model works in fp32."""
    if not lib.fast_path_unmeasured:
        return EXIT_OK
    if not args.json:
        print("measuring the CPU fast path (once) ...", file=sys.stderr)
    try:
        last = drive(lib.calibrate_fast_path(), unit="step", desc="fast path")
    except KeyboardInterrupt:
        print("photoclip: interrupted; the CPU fast path is measured after the next `photoclip "
              "add` or `index` (your results are kept).", file=sys.stderr)
        return EXIT_INTERRUPTED
    if last is not None and not args.json:
        print(last.message, file=sys.stderr)
    return EXIT_OK


def cmd_add(args: argparse.Namespace) -> int:
    with open_library(args) as lib:
        lib.require_own_model()  # before the folders are added, not after
        roots = lib.add_roots(args.folders)
        summary = _index(args, lib, roots)
        out(args, {"roots": [r.path for r in roots], **summary}, lambda: "")
        return measure_fast_path(args, lib)


def cmd_remove(args: argparse.Namespace) -> int:
    with open_library(args) as lib:
        removed = lib.remove_roots(args.folders)
        out(args, {"removed_photos": removed},
            lambda: f"removed {len(args.folders)} folder(s), {removed} photo(s) forgotten "
                    "(files untouched)")
    return EXIT_OK


def _require_roots(lib: Library) -> None:
    if not lib.catalog.roots():
        raise PhotoclipError("The library has no folders yet: add one with "
                             "`photoclip add FOLDER`.")


def cmd_index(args: argparse.Namespace) -> int:
    with open_library(args) as lib:
        _require_roots(lib)
        summary = _index(args, lib)
        out(args, summary, lambda: "")
        return measure_fast_path(args, lib)


def cmd_watch(args: argparse.Namespace) -> int:
    with open_library(args) as lib:
        _require_roots(lib)
        options: dict[str, Any] = {"polling": args.polling}
        if args.poll_interval:
            options["poll_interval_s"] = args.poll_interval
        stop = threading.Event()
        try:  # SIGTERM (a service manager, `kill`) stops as cleanly as Ctrl-C
            previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
        except ValueError:  # not the main thread
            previous = None
        job = lib.watcher(**options).run(stop)
        try:
            for p in job:
                if p.job != "watch":
                    continue
                if args.json:  # JSON lines: one object per batch or event
                    print(json.dumps(p.extra), flush=True)
                    continue
                hint = " (Ctrl-C to stop)" if p.extra.get("event") == "watching" else ""
                print(f"{time.strftime('%H:%M:%S')} {p.message}{hint}", file=sys.stderr,
                      flush=True)
        except KeyboardInterrupt:
            pass  # the usual way to stop: the watcher has closed and saved in its finally
        finally:
            getattr(job, "close", lambda: None)()  # a generator: stops, saves, closes
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
        if not args.json:
            print("stopped watching", file=sys.stderr)
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    with open_library(args) as lib:
        st = lib.status()
        every = lib.failures(examples=3)
        groups = [g for g in every if not g.skipped]
        skipped = {g.reason: g.count for g in every if g.skipped}
        st["failures"] = [{"reason": g.reason, "count": g.count, "examples": g.examples}
                          for g in groups]
        st["skipped"] = skipped
        st["ocr"] = lib.ocr.status()

        def text() -> str:
            lines = [f"library: {printable(st['library'])}", f"model:   {printable(st['model'])}",
                     f"device:  {st['device']}", f"photos:  {st['photos']} indexed, "
                     f"{st['failed']} failed", *ocr_status_lines(st["ocr"]), "folders:"]
            lines += [f"  {printable(r)}" + (" (offline)" if r in st["offline_roots"] else "")
                      for r in st["roots"]] or ["  (none: add one with `photoclip add FOLDER`)"]
            if skipped:
                lines.append(f"skipped: {_skipped_line(skipped)}")
            if groups:
                lines.append("failed files, by reason:")
                width = len(str(groups[0].count))
                for g in groups:
                    lines.append(f"  {g.count:>{width}}  {printable(g.reason)}")
                    lines += [f"  {'':>{width}}    {printable(p)}" for p in g.examples]
                    if g.count > len(g.examples):
                        lines.append(f"  {'':>{width}}    ... and {g.count - len(g.examples)} "
                                     "more")
            return "\n".join(lines)

        out(args, st, text)
    return EXIT_OK


# The scan's words for files it passes over that are no photo at all (core's scan.SPECIAL_FILES).
_SPECIAL_FILES = ("FIFO", "device", "socket")


def _skipped_line(counts: dict[str, int]) -> str:
    """"2 special files (FIFO, device), 1 link loop" (the line core's IndexReport.summary
    ends with after a scan; core.indexing is not the CLI's to import)."""
    special = {k: n for k, n in counts.items() if k in _SPECIAL_FILES}
    parts = []
    if special:
        total = sum(special.values())
        kinds = ", ".join(sorted(special, key=lambda k: (-special[k], k)))
        parts.append(f"{total} special file{'s' if total != 1 else ''} ({kinds})")
    parts += [f"{n} {kind}{'s' if n != 1 else ''}"
              for kind, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
              if kind not in _SPECIAL_FILES]
    return ", ".join(parts)


def cmd_edits(args: argparse.Namespace) -> int:
    """Possible edits of tagged photos (between the cosine bars): list them, or carry the
    user's tags over (--apply) or forget them (--dismiss), all of them or the ids given."""
    with open_library(args) as lib:
        apply, dismiss = args.apply, args.dismiss
        if apply is not None and dismiss is not None:
            raise PhotoclipError("Give --apply or --dismiss, not both.")
        chosen = apply if apply is not None else dismiss
        ids = chosen or None  # the flag alone: every pair
        pending = lib.edits.suggestions()
        if ids is not None and (unknown := sorted(set(ids) - {s.id for s in pending})):
            raise PhotoclipError(f"No possible edit {', '.join(map(str, unknown))}: "
                                 "`photoclip edits` lists them.")
        if apply is not None:
            applied, refused = lib.edits.apply(ids)
            data: dict[str, Any] = {
                "applied": [_edit_json(s) for s in applied],
                "refused": [{**_edit_json(r.suggestion), "reason": r.reason} for r in refused]}

            def text() -> str:
                lines = [f"carried {', '.join(s.tags)} from {printable(s.old_path)} to "
                         f"{printable(s.new_path)}" for s in applied]
                lines += [f"not carried to {printable(r.suggestion.new_path)}: {r.reason}"
                          for r in refused]
                return "\n".join(lines) or "no possible edits to apply"
        elif dismiss is not None:
            gone = lib.edits.dismiss(ids)
            data = {"dismissed": [_edit_json(s) for s in gone]}

            def text() -> str:
                return f"dismissed {len(gone)} possible edit{'s' if len(gone) != 1 else ''}"
        else:
            data = {"suggestions": [_edit_json(s) for s in pending]}

            def text() -> str:
                if not pending:
                    return "no possible edits of tagged photos to review"
                lines = []
                for s in pending:
                    lines += [f"{s.id}: {printable(s.new_path)}",
                              f"    may be an edit of {printable(s.old_path)} "
                              f"(cosine {s.similarity:.3f}); it would take over its {s.decisions}"]
                lines.append("apply: photoclip edits --apply [ID ...]; forget: "
                             "photoclip edits --dismiss [ID ...]")
                return "\n".join(lines)

        out(args, data, text)
    return EXIT_OK


def _edit_json(s: Any) -> dict[str, Any]:
    return {"id": s.id, "old_path": s.old_path, "new_path": s.new_path,
            "similarity": s.similarity, "tags": list(s.tags)}
