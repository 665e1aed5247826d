"""Command-line front end. The contract (names, flags, JSON shapes, exit codes) is CLI.md."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from photoclip import __version__
from photoclip.core.errors import PhotoclipError, QueryError
from photoclip.core.types import Progress

log = logging.getLogger("photoclip")

EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

_GLOBALS: dict[str, Any] = {
    "library": None, "model": None, "device": None, "json": False, "debug": False,
}


def _global_options(parser: argparse.ArgumentParser, suppress: bool) -> None:
    # Declared on the main parser and on every command, so they may stand before or after it;
    # SUPPRESS keeps a command's parser from resetting what was given before the command.
    d = argparse.SUPPRESS if suppress else None
    g = parser.add_argument_group("global options")
    g.add_argument("--library", metavar="DIR", default=d,
                   help="library folder (catalog, vectors, thumbnails); env PHOTOCLIP_LIBRARY")
    g.add_argument("--model", metavar="ID_OR_DIR", default=d,
                   help="Hugging Face CLIP id or a local folder; env PHOTOCLIP_MODEL")
    g.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"], default=d)
    g.add_argument("--json", action="store_true", default=d,
                   help="machine-readable output on stdout")
    g.add_argument("--debug", action="store_true", default=d,
                   help="verbose logging and tracebacks")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="photoclip",
        description="Find your photos by what is in them. No command opens the desktop app.",
    )
    parser.add_argument("--version", action="version", version=f"photoclip {__version__}")
    _global_options(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def cmd(name: str, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        _global_options(p, suppress=True)
        return p

    cmd("gui", "open the desktop app")
    p = cmd("add", "add folders to the library and index them now")
    p.add_argument("folders", nargs="+", metavar="FOLDER")
    p = cmd("remove", "forget library folders (their photos leave the catalog; files untouched)")
    p.add_argument("folders", nargs="+", metavar="FOLDER")
    cmd("index", "catch up every library folder with the disk (new, changed, moved, gone)")
    cmd("status", "library folders, counts, failures, model, device")
    p = cmd("search", "find photos by a text description")
    # "*" and parse_known_args below: an unquoted "-people" is a query term, not an option.
    p.add_argument("query", nargs="*", help="e.g. 'dog on a beach -people'")
    p.add_argument("--top", type=_positive_int, default=20, metavar="K")
    p.add_argument("--folder", metavar="F", help="only photos inside this folder")
    p.add_argument("--after", metavar="YYYY-MM-DD", help="taken on or after this date")
    p.add_argument("--before", metavar="YYYY-MM-DD", help="taken before this date")
    p = cmd("similar", "find photos that look like a given one")
    p.add_argument("photo", metavar="PHOTO")
    p.add_argument("--top", type=_positive_int, default=20, metavar="K")
    p = cmd("duplicates", "groups of near-identical photos, best quality first (never deletes)")
    p.add_argument("--threshold", type=_unit_float, default=None, metavar="X",
                   help="cosine similarity that counts as the same picture (default 0.96)")
    p.add_argument("--folder", metavar="F", help="only photos inside this folder")
    return parser


def _unit_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    unknown_options = [e for e in extra if e.startswith("--")]
    if args.command == "search" and not unknown_options:
        args.query += extra
        if not args.query:
            parser.error("search needs a QUERY, e.g. photoclip search 'dog on a beach'")
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(unknown_options or extra)}")
    for key, default in _GLOBALS.items():
        if not hasattr(args, key) or getattr(args, key) is None:
            setattr(args, key, default)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    command = args.command or "gui"
    handler = _COMMANDS[command]
    try:
        return handler(args)
    except QueryError as exc:
        return _fail(args, str(exc), EXIT_USAGE)
    except PhotoclipError as exc:
        return _fail(args, str(exc), EXIT_FAIL)
    except KeyboardInterrupt:
        print("photoclip: interrupted; work done so far is kept (run `photoclip index` to "
              "finish).", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # the promise is one line, not a traceback, unless --debug
        return _fail(args, f"unexpected error: {type(exc).__name__}: {exc} "
                     "(run again with --debug for details)", EXIT_FAIL)


def _fail(args: argparse.Namespace, message: str, code: int) -> int:
    if args.debug:
        log.exception(message)
    print(f"photoclip: error: {message}", file=sys.stderr)
    return code


def _open(args: argparse.Namespace) -> Any:
    from photoclip.core.library import Library

    return Library(args.library, model=args.model, device=args.device,
                   progress=None if args.json else _note)


def _note(message: str) -> None:
    print(message, file=sys.stderr)


def _out(args: argparse.Namespace, data: Any, text: Callable[[], str]) -> None:
    if args.json:
        json.dump(data, sys.stdout)
        sys.stdout.write("\n")
    else:
        out = text()
        if out:
            print(out)


def drive(progress: Iterator[Progress], unit: str = "photo",
          desc: str | None = None) -> Progress | None:
    """Run a core job to the end, showing a tqdm bar on stderr (when it is a terminal)."""
    from tqdm import tqdm

    bar: tqdm[Any] | None = None
    last: Progress | None = None
    try:
        for p in progress:
            last = p
            if p.job == "scan":
                continue
            if bar is None:
                bar = tqdm(total=p.total, unit=unit, file=sys.stderr, disable=None,
                           dynamic_ncols=True, desc=desc or p.job)
            bar.total = p.total
            bar.update(p.done - bar.n)
            if p.failed:
                bar.set_postfix(failed=p.failed, refresh=False)
    finally:
        if bar is not None:
            bar.close()
        close = getattr(progress, "close", None)
        if close is not None:
            close()  # on Ctrl-C: the job saves what it has before we exit
    return last


# -- commands ---------------------------------------------------------------------------------


def cmd_gui(args: argparse.Namespace) -> int:
    from photoclip.gui.app import main as gui_main

    return gui_main(library=args.library, model=args.model, device=args.device)


def _index(args: argparse.Namespace, lib: Any, roots: Any = None) -> dict[str, Any]:
    indexer = lib.indexer()
    drive(indexer.run(roots))
    r = indexer.report
    summary = {
        "indexed": r.indexed, "failed": r.failed, "moved": r.moved, "removed": r.removed,
        "unchanged": r.unchanged, "offline_roots": r.offline_roots,
        "seconds": round(r.seconds, 3), "photos_per_s": round(r.rate, 2),
    }
    if not args.json:
        print(indexer.summary(), file=sys.stderr)
    return summary


def cmd_add(args: argparse.Namespace) -> int:
    with _open(args) as lib:
        roots = lib.add_roots(args.folders)
        summary = _index(args, lib, roots)
        _out(args, {"roots": [r.path for r in roots], **summary}, lambda: "")
    return EXIT_OK


def cmd_remove(args: argparse.Namespace) -> int:
    with _open(args) as lib:
        removed = lib.remove_roots(args.folders)
        _out(args, {"removed_photos": removed},
             lambda: f"removed {len(args.folders)} folder(s), {removed} photo(s) forgotten "
                     "(files untouched)")
    return EXIT_OK


def cmd_index(args: argparse.Namespace) -> int:
    with _open(args) as lib:
        if not lib.catalog.roots():
            raise PhotoclipError("The library has no folders yet: add one with "
                                 "`photoclip add FOLDER`.")
        summary = _index(args, lib)
        _out(args, summary, lambda: "")
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    with _open(args) as lib:
        st = lib.status()
        failures = lib.catalog.failures(limit=10)

        def text() -> str:
            lines = [f"library: {st['library']}", f"model:   {st['model']}",
                     f"device:  {st['device']}", f"photos:  {st['photos']} indexed, "
                     f"{st['failed']} failed", "folders:"]
            lines += [f"  {r}" + (" (offline)" if r in st["offline_roots"] else "")
                      for r in st["roots"]] or ["  (none: add one with `photoclip add FOLDER`)"]
            if failures:
                lines.append("failures:")
                lines += [f"  {p}: {e}" for p, e in failures]
            return "\n".join(lines)

        _out(args, st, text)
    return EXIT_OK


def _results(args: argparse.Namespace, hits: Any) -> None:
    _out(
        args,
        {"results": [{"path": h.path, "score": round(h.score, 6)} for h in hits]},
        lambda: "\n".join(f"{h.score:.3f}  {h.path}" for h in hits) or "no matching photos",
    )


def cmd_search(args: argparse.Namespace) -> int:
    with _open(args) as lib:
        hits = lib.searcher().search(" ".join(args.query), top=args.top, folder=args.folder,
                                     after=args.after, before=args.before)
        _results(args, hits)
    return EXIT_OK


def cmd_similar(args: argparse.Namespace) -> int:
    with _open(args) as lib:
        _results(args, lib.searcher().similar(args.photo, top=args.top))
    return EXIT_OK


def cmd_duplicates(args: argparse.Namespace) -> int:
    from photoclip.core.duplicates import DEFAULT_THRESHOLD, DuplicateFinder

    with _open(args) as lib:
        folder = str(Path(args.folder).expanduser().resolve()) if args.folder else None
        finder = DuplicateFinder(lib.catalog, lib.vectors, lib.encoder.model_id,
                                 lib.encoder.dim, args.threshold or DEFAULT_THRESHOLD, folder)
        drive(finder.run(), unit="photo", desc="comparing")
        groups = [[p.path for p in g] for g in finder.report.groups]
        _out(args, {"groups": groups},
             lambda: "\n\n".join("\n".join(g) for g in groups) or "no near-identical photos")
    return EXIT_OK


_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "gui": cmd_gui, "add": cmd_add, "remove": cmd_remove, "index": cmd_index,
    "status": cmd_status, "search": cmd_search, "similar": cmd_similar,
    "duplicates": cmd_duplicates,
}
