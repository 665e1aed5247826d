"""Command-line front end. The contract (names, flags, JSON shapes, exit codes) is CLI.md."""

from __future__ import annotations

import argparse
import json
import logging
import shlex
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


def _number(cast: type, ok: Callable[[float], bool], rule: str,
            what: str = "a number") -> Callable[[str], Any]:
    """An argparse type: parse with `cast`, accept when `ok`, else say the rule."""

    def parse(text: str) -> Any:
        try:
            value = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(rule)
        return value

    return parse


_positive_int = _number(int, lambda v: v >= 1, "must be at least 1", "a whole number")
_positive_float = _number(float, lambda v: v > 0, "must be more than 0")
_seconds = _number(float, lambda v: v > 0, "must be more than 0", "a number of seconds")
_score = _number(float, lambda v: 0.0 <= v <= 1.0, "must be between 0 and 1")
_unit_float = _number(float, lambda v: 0.0 < v <= 1.0, "must be between 0 and 1")
_open_unit = _number(float, lambda v: 0.0 < v < 1.0, "must be between 0 and 1, e.g. 0.2")
_cosine = _number(float, lambda v: -1.0 <= v <= 1.0, "must be between -1 and 1")

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

    p = cmd("gui", "open the desktop app")
    p.add_argument("paths", nargs="*", metavar="FOLDER|PHOTO",
                   help="folders to add to the library (a photo adds its folder)")
    p = cmd("add", "add folders to the library and index them now")
    p.add_argument("folders", nargs="+", metavar="FOLDER")
    p = cmd("remove", "forget library folders (their photos leave the catalog; files untouched)")
    p.add_argument("folders", nargs="+", metavar="FOLDER")
    cmd("index", "catch up every library folder with the disk (new, changed, moved, gone)")
    p = cmd("watch", "watch every library folder until interrupted (Ctrl-C), keeping the library "
                     "equal to the disk; one line per batch")
    p.add_argument("--polling", action="store_true",
                   help="poll the folders instead of OS file events (e.g. network drives)")
    p.add_argument("--poll-interval", type=_seconds, default=None, metavar="S",
                   help="seconds between polls (default 5)")
    cmd("status", "library folders, counts, failures, model, device")
    p = cmd("search", "find photos by a text description")
    # "*" and parse_known_args below: an unquoted "-people" is a query term, not an option.
    p.add_argument("query", nargs="*", help="e.g. 'dog on a beach -people'")
    p.add_argument("--top", type=_positive_int, default=20, metavar="K")
    p.add_argument("--folder", metavar="F", help="only photos inside this folder")
    p.add_argument("--after", metavar="YYYY-MM-DD", help="taken on or after this date")
    p.add_argument("--before", metavar="YYYY-MM-DD", help="taken before this date")
    p.add_argument("--tag", metavar="LABEL", help="only photos with this tag (LABEL or SET|LABEL)")
    _cutoff_option(p, "3; 0 = always K results")
    p = cmd("similar", "find photos that look like a given one")
    p.add_argument("photo", metavar="PHOTO")
    p.add_argument("--top", type=_positive_int, default=20, metavar="K")
    _cutoff_option(p, "0 = always K results")
    p = cmd("bench", "measure indexing and search speed on this machine (ratios, one run)")
    p.add_argument("--photos", type=_positive_int, default=96, metavar="N",
                   help="generated 12-MP JPEGs for the pipeline (default 96)")
    p.add_argument("--rounds", type=_positive_int, default=3, metavar="N",
                   help="interleaved rounds of model, decode and pipeline timing; the "
                        "figures are their medians (default 3)")
    p.add_argument("--vectors", type=_positive_int, default=200_000, metavar="N",
                   help="synthetic CLIP-like vectors for the search benchmark (default 200000)")
    p.add_argument("--queries", type=_positive_int, default=200, metavar="N")
    p.add_argument("--batch-size", type=_positive_int, default=16, metavar="B",
                   help="photos per model call, as the indexer uses (default 16)")
    p = cmd("duplicates", "groups of near-identical photos, best quality first (never deletes)")
    p.add_argument("--threshold", type=_unit_float, default=None, metavar="X",
                   help="cosine similarity that counts as the same picture (default 0.96)")
    p.add_argument("--folder", metavar="F", help="only photos inside this folder")
    _tagging_parsers(cmd)
    _training_parsers(cmd)
    return parser


def _tagging_parsers(
    cmd: Callable[[str, str], argparse.ArgumentParser],
) -> None:
    """labels / tag / tags / xmp (auto-tagging, issue 3)."""
    p = cmd("labels", "label sets for auto-tagging: add, list, show, remove, export, import")
    actions = p.add_subparsers(dest="labels_action", metavar="ACTION", required=True)

    def action(name: str, help: str) -> argparse.ArgumentParser:
        a = actions.add_parser(name, help=help, description=help)
        _global_options(a, suppress=True)
        return a

    a = action("add", "create a label set, or change the one of that name")
    a.add_argument("name", metavar="NAME")
    src = a.add_mutually_exclusive_group(required=True)
    src.add_argument("--labels", metavar='"a,b,c"', help="comma-separated labels")
    src.add_argument("--file", metavar="FILE",
                     help="labels, one per line (or a YAML/JSON list)")
    a.add_argument("--templates", metavar="FILE",
                   help="prompt templates, one per line, {} is the label (default: the "
                        "built-in CLIP ensemble)")
    a.add_argument("--threshold", type=_score, metavar="X",
                   help="score (0..1) a label needs to tag a photo, for the whole set")
    a.add_argument("--floor", type=_cosine, metavar="X",
                   help="similarity below which no label tags (\"none of these\"), -1..1")
    a.add_argument("--multi-label", action=argparse.BooleanOptionalAction, default=None,
                   help="several labels of the set may tag one photo")
    action("list", "label sets in the library, and the built-in ones you can enable")
    a = action("show", "a label set's labels, thresholds, templates and tag counts")
    a.add_argument("name", metavar="NAME")
    a = action("remove", "delete a label set with its tags")
    a.add_argument("name", metavar="NAME")
    a = action("export", "write a label set to a YAML (or .json) file you can edit")
    a.add_argument("name", metavar="NAME")
    a.add_argument("file", metavar="FILE")
    a = action("import", "read a label set file (creates or updates the set of its name)")
    a.add_argument("file", metavar="FILE")
    a = action("enable", "use a label set when tagging (a built-in one is added first)")
    a.add_argument("name", metavar="NAME")
    a = action("disable", "stop using a label set when tagging (its tags stay)")
    a.add_argument("name", metavar="NAME")

    p = cmd("tag", "apply label sets to photos (auto tags); learns thresholds from your "
                   "accepted and rejected tags first")
    p.add_argument("--set", metavar="NAME", help="only this label set (default: all enabled)")
    p.add_argument("--folder", metavar="F", help="only photos inside this folder")

    p = cmd("tags", "a photo's tags; or change them: tags set|unset|accept|reject|reset "
                    "PHOTO LABEL")
    p.add_argument("words", nargs="+", metavar="PHOTO | ACTION PHOTO LABEL",
                   help="set: add a tag by hand; unset/reject: not this label (auto-tagging "
                        "will not bring it back); accept: confirm an auto tag; reset: forget "
                        "your decision. LABEL may be SET|LABEL.")
    p.add_argument("--why", metavar="LABEL",
                   help="explain any label for this photo: per-template similarities, score, "
                        "threshold")

    p = cmd("xmp", "write tags to XMP sidecars (dc:subject, lr:hierarchicalSubject); "
                   "originals are never written")
    p.add_argument("--folder", metavar="F", help="only photos inside this folder")
    p.add_argument("--style", choices=["photo.jpg.xmp", "photo.xmp"],
                   help="sidecar name (remembered): photo.jpg.xmp (digiKam, darktable) or "
                        "photo.xmp (Lightroom)")


def _cutoff_option(p: argparse.ArgumentParser, default_note: str) -> None:
    p.add_argument("--cutoff", type=float, default=None, metavar="Z",
                   help="stop where results stop standing out from the library: higher is "
                        f"stricter, lower shows more (default {default_note}); --top stays "
                        "the hard cap")


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
    except OSError as exc:
        from photoclip.core.storage import storage_error

        mapped = storage_error(exc, None)  # a full or read-only disk, wherever it hit
        if mapped is not None:
            return _fail(args, str(mapped), EXIT_FAIL)
        return _fail(args, f"unexpected error: {type(exc).__name__}: {exc} "
                     "(run again with --debug for details)", EXIT_FAIL)
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

    lib = Library(args.library, model=args.model, device=args.device,
                  progress=None if args.json else _note)
    for notice in lib.notices:  # a restored catalog, a read-only library: said once, here
        print(f"photoclip: note: {notice}", file=sys.stderr)
    return lib


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


# Progress.extra figures worth a glance while a job runs (training), in this order.
_POSTFIX = ("epoch", "loss", "lr", "temperature", "accuracy")


def drive(progress: Iterator[Progress], unit: str = "photo",
          desc: str | None = None, units: dict[str, str] | None = None) -> Progress | None:
    """Run a core job to the end, showing a tqdm bar on stderr (when it is a terminal).

    A job with phases (training: decode, evaluate, train, ...) gets one bar per phase; `units`
    names a phase's unit where it is not `unit`.
    """
    from tqdm import tqdm

    bar: tqdm[Any] | None = None
    job: str | None = None
    last: Progress | None = None
    try:
        for p in progress:
            last = p
            if p.job == "scan":
                continue
            if bar is not None and units is not None and p.job != job:
                bar.close()
                bar = None
            if bar is None:
                job = p.job
                bar = tqdm(total=p.total, unit=(units or {}).get(p.job, unit), file=sys.stderr,
                           disable=None, dynamic_ncols=True, desc=desc or p.job)
            bar.total = p.total
            bar.update(p.done - bar.n)
            postfix = {k: f"{p.extra[k]:.4g}" if isinstance(p.extra[k], float) else p.extra[k]
                       for k in _POSTFIX if k in p.extra}
            if p.failed:
                postfix["failed"] = p.failed
            if postfix:
                bar.set_postfix(postfix, refresh=False)
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

    return gui_main(library=args.library, model=args.model, device=args.device,
                    paths=getattr(args, "paths", ()))


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


def _require_roots(lib: Any) -> None:
    if not lib.catalog.roots():
        raise PhotoclipError("The library has no folders yet: add one with "
                             "`photoclip add FOLDER`.")


def cmd_index(args: argparse.Namespace) -> int:
    with _open(args) as lib:
        _require_roots(lib)
        summary = _index(args, lib)
        _out(args, summary, lambda: "")
    return EXIT_OK


def cmd_watch(args: argparse.Namespace) -> int:
    import signal
    import threading
    import time

    with _open(args) as lib:
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
            job.close()
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
        if not args.json:
            print("stopped watching", file=sys.stderr)
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    from photoclip.core.indexing import failure_summary

    with _open(args) as lib:
        st = lib.status()
        groups = failure_summary(lib.catalog, examples=3)
        st["failures"] = [{"reason": g.reason, "count": g.count, "examples": g.examples}
                          for g in groups]

        def text() -> str:
            lines = [f"library: {st['library']}", f"model:   {st['model']}",
                     f"device:  {st['device']}", f"photos:  {st['photos']} indexed, "
                     f"{st['failed']} failed", "folders:"]
            lines += [f"  {r}" + (" (offline)" if r in st["offline_roots"] else "")
                      for r in st["roots"]] or ["  (none: add one with `photoclip add FOLDER`)"]
            if groups:
                lines.append("failed files, by reason:")
                width = len(str(groups[0].count))
                for g in groups:
                    lines.append(f"  {g.count:>{width}}  {g.reason}")
                    lines += [f"  {'':>{width}}    {p}" for p in g.examples]
                    if g.count > len(g.examples):
                        lines.append(f"  {'':>{width}}    ... and {g.count - len(g.examples)} "
                                     "more")
            return _printable("\n".join(lines))

        _out(args, st, text)
    return EXIT_OK


def _printable(text: str) -> str:
    """Text the terminal's encoding can show: a path in a script it lacks prints escaped
    instead of failing the command (JSON output is ASCII-escaped anyway)."""
    encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
    try:
        text.encode(encoding)
    except UnicodeEncodeError:
        return text.encode(encoding, "backslashreplace").decode(encoding)
    except LookupError:
        pass
    return text


def _results(args: argparse.Namespace, hits: Any) -> None:
    _out(
        args,
        {"results": [{"path": h.path, "score": round(h.score, 6)} for h in hits]},
        lambda: "\n".join(f"{h.score:.3f}  {h.path}" for h in hits) or "no matching photos",
    )


def cmd_search(args: argparse.Namespace) -> int:
    with _open(args) as lib:
        from photoclip.core.search import DEFAULT_CUTOFF

        cutoff = DEFAULT_CUTOFF if args.cutoff is None else args.cutoff
        hits = lib.searcher().search(" ".join(args.query), top=args.top, folder=args.folder,
                                     after=args.after, before=args.before, tag=args.tag,
                                     cutoff=cutoff or None)
        _results(args, hits)
    return EXIT_OK


def cmd_similar(args: argparse.Namespace) -> int:
    with _open(args) as lib:
        _results(args, lib.searcher().similar(args.photo, top=args.top,
                                              cutoff=args.cutoff or None))
    return EXIT_OK


def cmd_bench(args: argparse.Namespace) -> int:
    from photoclip.bench import Bench
    from photoclip.config import Settings, library_dir

    model = args.model or Settings.load(library_dir(args.library) / "settings.json").model
    bench = Bench(model, device=args.device or "auto", photos=args.photos,
                  vectors=args.vectors, queries=args.queries, batch_size=args.batch_size,
                  rounds=args.rounds)
    for p in bench.run():
        if not args.json:
            print(f"[{p.done}/{p.total}] {p.message}", file=sys.stderr)
    r = bench.result

    def text() -> str:
        return "\n".join([
            f"device {r['device']} ({r['cores']} cores), model {r['model']}, "
            f"precision {r['precision']}",
            f"model only:        {r['model_only_images_per_s']:.1f} photos/s",
            f"decode per core:   {r['decode_images_per_s_per_core']:.1f} photos/s (12-MP JPEG)",
            f"index pipeline:    {r['pipeline_images_per_s']:.1f} photos/s = "
            f"{r['pipeline_efficiency']:.2f} of the {r['ideal_images_per_s']:.1f} the cores "
            f"allow; {r['pipeline_vs_model']:.2f} of model only",
            "  per round:       " + ", ".join(f"{x['pipeline_efficiency']:.2f}"
                                             for x in r["pipeline_rounds"]),
            f"CPU fast path:     {r['fast_path']} = {r['fast_path_vs_fp32']:.2f}x fp32, "
            f"min cosine {r['fast_path_cosine']:.4f}",
            f"search ({r['vectors']} vectors): ANN p95 {r['ann_p95_ms']:.2f} ms, "
            f"recall@10 {r['ann_recall_at_10']:.3f}; text query p95 "
            f"{r['text_query_p95_ms']:.1f} ms",
        ])

    _out(args, r, text)
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


# -- auto-tagging: labels, tag, tags, xmp -----------------------------------------------------


def cmd_labels(args: argparse.Namespace) -> int:
    from photoclip.core.tagging import TagStore

    with _open(args) as lib:
        store = TagStore(lib.catalog)
        handler = {"add": _labels_add, "list": _labels_list, "show": _labels_show,
                   "remove": _labels_remove, "export": _labels_export,
                   "import": _labels_import, "enable": _labels_enable,
                   "disable": _labels_disable}[args.labels_action]
        handler(args, store)
    return EXIT_OK


def _tag_hint(name: str) -> str:
    return f"tag your photos with: photoclip tag --set {shlex.quote(name)}"


def _labels_add(args: argparse.Namespace, store: Any) -> None:
    from photoclip.core.errors import LabelSetError
    from photoclip.core.tagging.labelsets import (
        LabelSetSpec,
        LabelSpec,
        check_name,
        check_templates,
        read_list_file,
        split_labels,
        unique_labels,
    )

    name = check_name(args.name, "label set")
    raw = split_labels(args.labels) if args.labels is not None else read_list_file(
        args.file, "labels")
    existing = store.label_set(name)
    # Labels that stay keep what calibration learned for them.
    old = {lb.name.casefold(): lb for lb in existing.labels} if existing else {}
    labels = unique_labels(
        LabelSpec(n, old[n.casefold()].threshold, old[n.casefold()].calibrated)
        if n.casefold() in old else LabelSpec(n)
        for n in (check_name(x, "label") for x in raw))
    if not labels:
        raise LabelSetError("No labels given: e.g. --labels 'cat,dog,rabbit'.")

    def keep(new: Any, attr: str, default: Any) -> Any:
        return new if new is not None else getattr(existing, attr, default)

    spec = LabelSetSpec(
        name=existing.name if existing else name,
        labels=labels,
        templates=(check_templates(read_list_file(args.templates, "templates"))
                   if args.templates else keep(None, "templates", None)),
        threshold=keep(args.threshold, "threshold", None),
        floor=keep(args.floor, "floor", None),
        multi_label=keep(args.multi_label, "multi_label", False),
        enabled=True,
    )
    saved, created = store.save_set(spec)
    _out(args, {"set": saved.name, "created": created, "enabled": saved.enabled,
                "labels": [lb.name for lb in saved.labels]},
         lambda: f"{'created' if created else 'updated'} label set '{saved.name}' "
                 f"({len(saved.labels)} labels); {_tag_hint(saved.name)}")


def _labels_list(args: argparse.Namespace, store: Any) -> None:
    from photoclip.core.tagging import MANUAL_SET, shipped_sets

    sets = store.label_sets()
    rows = []
    for ls in sets:
        counts = store.tag_counts(ls.id)
        rows.append({"name": ls.name, "enabled": ls.enabled, "multi_label": ls.multi_label,
                     "labels": len(ls.labels), "tags": sum(c[0] for c in counts.values()),
                     "threshold": ls.threshold, "floor": ls.floor})
    have = {ls.name for ls in sets}
    available = [n for n in shipped_sets() if n not in have]

    def text() -> str:
        lines = [f"{'NAME':<20} {'LABELS':>6} {'TAGS':>7}  ENABLED"] if rows else [
            "no label sets yet: add one with `photoclip labels add NAME --labels 'a,b,c'`"]
        for r in rows:
            note = " (tags you set by hand)" if r["name"] == MANUAL_SET else ""
            lines.append(f"{r['name']:<20} {r['labels']:>6} {r['tags']:>7}  "
                         f"{'yes' if r['enabled'] else 'no'}{note}")
        if available:
            lines.append(f"built-in sets you can enable (`photoclip labels enable NAME`): "
                         f"{', '.join(available)}")
        return "\n".join(lines)

    _out(args, {"sets": rows, "available": available}, text)


def _find_spec(store: Any, name: str) -> tuple[Any, Any]:
    """(catalog set or None, spec): a set of the library, else a built-in one."""
    from photoclip.core.tagging import LabelSetSpec, shipped_sets

    found = store.label_set(name)
    if found is not None:
        return found, LabelSetSpec.of(found)
    builtin = shipped_sets().get(name)
    if builtin is None:
        store.require_set(name)  # raises, naming the sets there are
    return None, builtin


def _labels_show(args: argparse.Namespace, store: Any) -> None:
    from photoclip.core.tagging import default_templates
    from photoclip.core.tagging.scoring import effective_floor, effective_threshold

    found, spec = _find_spec(store, args.name)
    templates = list(spec.templates or default_templates())
    labels = []
    if found is not None:
        counts = store.tag_counts(found.id)
        for lb in found.labels:
            value, source = effective_threshold(lb, found)
            tags, yes, no = counts.get(lb.id, (0, 0, 0))
            labels.append({"name": lb.name, "threshold": round(value, 6),
                           "threshold_source": source, "tags": tags, "accepted": yes,
                           "rejected": no})
        floor = effective_floor(found)
    else:
        labels = [{"name": lb.name} for lb in spec.labels]
        floor = None
    data = {"name": spec.name, "installed": found is not None, "enabled": spec.enabled
            if found is not None else False, "multi_label": spec.multi_label,
            "threshold": spec.threshold, "floor": spec.floor, "effective_floor": floor,
            "templates": templates, "default_templates": spec.templates is None,
            "labels": labels}

    def text() -> str:
        if found is None:
            state = f"built-in, not added yet: `photoclip labels enable {spec.name}`"
        else:
            state = "enabled" if data["enabled"] else "disabled"
        kind = "multi-label" if spec.multi_label else "one label per photo"
        lines = [f"{spec.name} ({state}; {kind}"
                 + (f"; similarity floor {floor:.2f}" if floor is not None else "") + ")",
                 f"templates ({'built-in ensemble' if spec.templates is None else 'own'}, "
                 f"{len(templates)}): " + " | ".join(templates)]
        if found is not None:
            lines.append(f"  {'LABEL':<24} {'THRESHOLD':>9} {'SOURCE':<10} {'TAGS':>6} "
                         f"{'YES':>4} {'NO':>4}")
            lines += [f"  {x['name']:<24} {x['threshold']:>9.3f} {x['threshold_source']:<10} "
                      f"{x['tags']:>6} {x['accepted']:>4} {x['rejected']:>4}" for x in labels]
        else:
            lines.append("labels: " + ", ".join(x["name"] for x in labels))
        return "\n".join(lines)

    _out(args, data, text)


def _labels_remove(args: argparse.Namespace, store: Any) -> None:
    name = store.require_set(args.name).name
    tags = store.remove_set(name)
    _out(args, {"removed": name, "tags": tags},
         lambda: f"removed label set '{name}' and its {tags} tags")


def _labels_export(args: argparse.Namespace, store: Any) -> None:
    from photoclip.core.tagging import save_set_file

    _, spec = _find_spec(store, args.name)
    path = save_set_file(spec, args.file)
    _out(args, {"set": spec.name, "file": str(path)},
         lambda: f"wrote label set '{spec.name}' to {path}; edit it, then "
                 f"`photoclip labels import {shlex.quote(str(path))}`")


def _labels_import(args: argparse.Namespace, store: Any) -> None:
    from photoclip.core.tagging import load_set_file

    saved, created = store.save_set(load_set_file(args.file))
    _out(args, {"set": saved.name, "created": created, "enabled": saved.enabled,
                "labels": [lb.name for lb in saved.labels]},
         lambda: f"{'created' if created else 'updated'} label set '{saved.name}' "
                 f"({len(saved.labels)} labels); {_tag_hint(saved.name)}")


def _labels_enable(args: argparse.Namespace, store: Any) -> None:
    found, spec = _find_spec(store, args.name)
    added = found is None
    if found is None:
        found, _ = store.save_set(spec)
    else:
        store.set_enabled(found.id, True)
    _out(args, {"set": found.name, "enabled": True, "added": added},
         lambda: f"label set '{found.name}' enabled; {_tag_hint(found.name)}")


def _labels_disable(args: argparse.Namespace, store: Any) -> None:
    found = store.require_set(args.name)
    store.set_enabled(found.id, False)
    _out(args, {"set": found.name, "enabled": False},
         lambda: f"label set '{found.name}' disabled (its tags stay; "
                 f"`photoclip labels remove {shlex.quote(found.name)}` deletes them)")


def cmd_tag(args: argparse.Namespace) -> int:
    with _open(args) as lib:
        tagger = lib.tagger()
        drive(tagger.run([args.set] if args.set else None, args.folder), desc="tagging")
        r = tagger.report
        data = {
            "tagged": r.tagged, "tags": r.tags, "photos": r.photos, "removed": r.removed,
            "calibrated": [{"set": c.set_name, "label": c.label,
                            "threshold": round(c.threshold, 6), "accepted": c.accepted,
                            "rejected": c.rejected} for c in r.calibrated],
            "seconds": round(r.seconds, 3),
        }
        if not args.json:
            print(tagger.summary(), file=sys.stderr)
            for c in r.calibrated:
                print(f"  {c.set_name}|{c.label}: threshold {c.threshold:.3f} "
                      f"(from {c.accepted} yes, {c.rejected} no)", file=sys.stderr)
        _out(args, data, lambda: "")
    return EXIT_OK


_TAG_ACTIONS = ("set", "unset", "accept", "reject", "reset")


def _why_json(why: Any) -> dict[str, Any]:
    return {
        "similarity": round(why.similarity, 6), "score": round(why.score, 6),
        "threshold": round(why.threshold, 6), "threshold_source": why.threshold_source,
        "floor": round(why.floor, 6), "best_in_set": why.best_in_set, "passes": why.passes,
        "templates": [{"template": t.template, "prompt": t.prompt,
                       "similarity": round(t.similarity, 6)} for t in why.templates],
    }


def _why_line(why: Any) -> str:
    return (f"score {why.score:.3f} vs threshold {why.threshold:.3f} ({why.threshold_source}); "
            f"similarity {why.similarity:.3f} vs floor {why.floor:.3f}")


def cmd_tags(args: argparse.Namespace) -> int:
    words = args.words
    if len(words) == 3 and words[0] in _TAG_ACTIONS:
        return _tags_change(args, *words)
    if len(words) != 1:
        return _fail(args, "use `photoclip tags PHOTO` or `photoclip tags "
                     f"{'|'.join(_TAG_ACTIONS)} PHOTO LABEL`", EXIT_USAGE)
    from photoclip.core.errors import NotFoundError

    with _open(args) as lib:
        tagger = lib.tagger()
        photo = tagger.photo(words[0])
        rows = tagger.store.photo_tags(photo.id)
        has_vector = tagger.store.embedding(tagger.model, photo.id) is not None
        tags = []
        for t in rows:
            if t.accepted is False:
                continue
            why = tagger.explain(photo.id, t.label_id) if has_vector else None
            score = t.score if t.score is not None else (why.score if why else None)
            tags.append({"label": t.label, "set": t.set_name,
                         "score": None if score is None else round(score, 6),
                         "source": t.source, "accepted": t.accepted,
                         "why": _why_json(why) if why else None})
        rejected = [{"label": t.label, "set": t.set_name} for t in rows if t.accepted is False]
        data: dict[str, Any] = {"path": photo.path, "tags": tags, "rejected": rejected}
        asked = None
        if args.why:
            if not has_vector:
                raise NotFoundError(f"{photo.path} has no embedding yet: run `photoclip index`.")
            ls, label = tagger.resolve(args.why, photo_id=photo.id)
            asked = tagger.explain(photo.id, label.id)
            data["why"] = {"label": label.name, "set": ls.name, **_why_json(asked)}

        def text() -> str:
            lines = [photo.path]
            for t in tags:
                score = "-" if t["score"] is None else f"{t['score']:.3f}"
                note = "user" if t["source"] == "user" else (
                    "auto, accepted" if t["accepted"] else "auto")
                why = t["why"]
                lines.append(f"  {t['set'] + '|' + t['label']:<28} {score:>6}  {note:<14}"
                             + (f"  threshold {why['threshold']:.3f}, similarity "
                                f"{why['similarity']:.3f}" if why else ""))
            if not tags:
                lines.append("  (no tags: `photoclip tag` applies your label sets)")
            if rejected:
                lines.append("rejected: " + ", ".join(f"{r['set']}|{r['label']}"
                                                      for r in rejected))
            if asked is not None:
                lines.append(f"why {asked.set_name}|{asked.label}: {_why_line(asked)} -> "
                             + ("tags it" if asked.passes else "does not tag it"))
                lines += [f"  {t.similarity:+.3f}  {t.prompt}" for t in asked.templates]
            return "\n".join(lines)

        _out(args, data, text)
    return EXIT_OK


def _tags_change(args: argparse.Namespace, action: str, path: str, ref: str) -> int:
    with _open(args) as lib:
        tagger = lib.tagger()
        photo = tagger.photo(path)
        change = {"set": tagger.set_tag, "unset": tagger.unset_tag, "reject": tagger.unset_tag,
                  "accept": tagger.accept_tag, "reset": tagger.reset_tag}[action]
        ls, label = change(photo.id, ref)
        done = {"set": "tagged by hand", "unset": "rejected", "reject": "rejected",
                "accept": "accepted", "reset": "left to auto-tagging again"}[action]
        _out(args, {"path": photo.path, "label": label.name, "set": ls.name, "action": action},
             lambda: f"{ls.name}|{label.name} {done} for {photo.path}")
        if not args.json and action != "reset":
            print("`photoclip tag` re-tags the library with what you taught it", file=sys.stderr)
    return EXIT_OK


def cmd_xmp(args: argparse.Namespace) -> int:
    with _open(args) as lib:
        if args.style and args.style != lib.settings.sidecar_style:
            lib.settings.sidecar_style = args.style  # the user's choice, for next time too
            lib.settings.save(lib.paths.settings)
        writer = lib.sidecar_writer()
        drive(writer.run(args.folder), unit="sidecar", desc="xmp")
        r = writer.report
        _out(args, {"written": r.written, "unchanged": r.unchanged, "failed": r.failed,
                    "style": writer.style,
                    "errors": [{"sidecar": s, "reason": why} for s, why in r.errors]},
             lambda: "")
        if not args.json:
            print(writer.summary(), file=sys.stderr)
        if r.failed:
            side, why = r.errors[0]
            return _fail(args, f"{r.failed} sidecar(s) could not be written, e.g. {side}: {why} "
                         "(check the folder's permissions)", EXIT_FAIL)
    return EXIT_OK


_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "gui": cmd_gui, "add": cmd_add, "remove": cmd_remove, "index": cmd_index,
    "status": cmd_status, "search": cmd_search, "similar": cmd_similar,
    "duplicates": cmd_duplicates, "bench": cmd_bench, "watch": cmd_watch,
}
_COMMANDS.update({"labels": cmd_labels, "tag": cmd_tag, "tags": cmd_tags, "xmp": cmd_xmp})


# -- training, evaluation, models (issue 6) ---------------------------------------------------


def _training_parsers(cmd: Callable[[str, str], argparse.ArgumentParser]) -> None:
    def data_source(p: argparse.ArgumentParser) -> None:
        src = p.add_mutually_exclusive_group(required=True)
        src.add_argument("--albums", metavar="DIR",
                         help="one subfolder of photos per label; the folder name is the label")
        src.add_argument("--set", metavar="NAME", dest="label_set",
                         help="a label set's tags you set or accepted, instead of albums")

    p = cmd("train", "fine-tune the model on your albums and report held-out accuracy before "
                     "and after")
    data_source(p)
    p.add_argument("--epochs", type=_positive_int, default=10, metavar="N")
    p.add_argument("--name", metavar="NAME", help="name of the new model (default: the albums "
                                                  "folder's name)")
    p.add_argument("--from-scratch", action="store_true",
                   help="train every weight from a random start (small models only)")
    p.add_argument("--eval-split", type=_open_unit, default=0.2, metavar="F",
                   help="share of each album held out for evaluation, never trained on "
                        "(default 0.2)")
    p.add_argument("--batch-size", type=_positive_int, default=64, metavar="B",
                   help="photos per step (default 64)")
    p.add_argument("--micro-batch", type=_positive_int, default=None, metavar="M",
                   help="photos per forward pass when a batch does not fit in memory")
    p.add_argument("--lr", type=_positive_float, default=None, metavar="LR",
                   help="peak learning rate (default 1e-5, or 5e-4 with --from-scratch)")
    p = cmd("eval", "zero-shot accuracy, recall@k and modality gap of the model on your albums")
    data_source(p)
    p = cmd("models", "the library's models: list them, or use one (re-embeds the library)")
    actions = p.add_subparsers(dest="models_action", metavar="ACTION", required=True)
    a = actions.add_parser("list", help="base and fine-tuned models, with their figures")
    _global_options(a, suppress=True)
    a = actions.add_parser("use", help="switch the library to a model; search keeps the old one "
                                       "until every photo is re-embedded")
    _global_options(a, suppress=True)
    a.add_argument("name", metavar="NAME", help="a name from `models list`, a hub id or a folder")


_TRAIN_UNITS = {"decode": "photo", "embed": "photo", "train": "step", "wise": "alpha",
                "evaluate": "pass", "save": "model", "load": "model"}


def _albums(args: argparse.Namespace, lib: Any) -> Any:
    from photoclip.core.training.data import read_albums, read_label_set

    if args.label_set:
        return read_label_set(lib.catalog, args.label_set)
    return read_albums(args.albums)


def _figures(rows: list[tuple[str, str]], evals: list[dict[str, Any]]) -> list[str]:
    def cell(v: Any) -> str:
        return "-" if v is None else f"{v:.3f}"

    return [f"  {title:<28}" + "".join(f"{cell(e.get(key)):>9}" for e in evals)
            for key, title in rows]


_FIGURE_ROWS = [
    ("zero_shot_accuracy", "zero-shot accuracy"),
    ("zero_shot_accuracy_single_prompt", "  with one prompt"),
    ("recall_at_1", "text->image recall@1"),
    ("recall_at_5", "text->image recall@5"),
    ("modality_gap", "modality gap"),
    ("prototype_accuracy", "quick: album prototypes"),
    ("linear_probe_accuracy", "quick: linear head"),
]


def cmd_train(args: argparse.Namespace) -> int:
    from photoclip.core.training.trainer import TrainConfig, Trainer

    with _open(args) as lib:
        albums = _albums(args, lib)
        config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size,
                             micro_batch=args.micro_batch or 0, lr=args.lr,
                             from_scratch=args.from_scratch, eval_split=args.eval_split)
        trainer = Trainer(albums, base=lib.settings.model, checkpoints=lib.paths.checkpoints,
                          catalog=lib.catalog, name=args.name, device=lib.settings.device,
                          config=config)
        try:
            drive(trainer.run(), units=_TRAIN_UNITS)
        except KeyboardInterrupt:
            print(f"photoclip: interrupted; training so far is kept in a checkpoint (run the "
                  f"same command with --name {trainer.name} to resume); the library's model is "
                  "unchanged.", file=sys.stderr)
            return EXIT_INTERRUPTED
        result = trainer.result
        if result is None:
            raise PhotoclipError("Training stopped before it finished; the library's model is "
                                 "unchanged.")
        data = result.as_dict()

        def text() -> str:
            before, after = data["before"], data["after"]
            lines = [f"model {result.name} saved in {result.path}",
                     f"  {'held-out photos: ' + str(after['images']):<28}{'before':>9}"
                     f"{'after':>9}"]
            lines += _figures(_FIGURE_ROWS, [before, after])
            if result.wise_alpha is not None:
                lines.append(f"  blended with the original weights, alpha {result.wise_alpha} "
                             "(chosen on other held-out photos)")
            lines.append(f"{result.train_photos} training photos, {result.steps} steps, "
                         f"{result.seconds / 60:.1f} min")
            lines.append(f"use it: photoclip models use {shlex.quote(result.name)}")
            return "\n".join(lines)

        _out(args, data, text)
    return EXIT_OK


def cmd_eval(args: argparse.Namespace) -> int:
    from photoclip.core.evaluation import AlbumEvaluation

    with _open(args) as lib:
        albums = _albums(args, lib)
        job = AlbumEvaluation(lib.encoder, albums, batch_size=lib.settings.batch_size)
        drive(job.run(), units=_TRAIN_UNITS)
        result = job.result
        if result is None:
            raise PhotoclipError("Evaluation stopped before it finished.")
        data = {**result.as_dict(), "model": lib.settings.model,
                "excluded_training_photos": job.excluded, "failed": len(job.failures)}

        def text() -> str:
            lines = [f"model {lib.settings.model}: {result.labels} labels, {result.images} photos"
                     + (f" ({job.excluded} it trained on left out)" if job.excluded else "")]
            lines += _figures(_FIGURE_ROWS, [data])
            return "\n".join(lines)

        _out(args, data, text)
    return EXIT_OK


def cmd_models(args: argparse.Namespace) -> int:
    from photoclip.core.training import registry

    with _open(args) as lib:
        if args.models_action == "list":
            current, pending = lib.settings.model, lib.settings.pending_model
            entries = registry.list_models(lib.catalog)
            if registry.by_source(lib.catalog, current) is None:
                entries.insert(0, registry.ModelEntry(current, current, None, "base", None, ""))
            rows = [{**e.as_dict(), "in_use": e.source == current,
                     "pending": pending is not None and e.source == pending} for e in entries]

            def text() -> str:
                lines = []
                for r in rows:
                    mark = "*" if r["in_use"] else ("~" if r["pending"] else " ")
                    acc = ((r["metrics"] or {}).get("after") or {}).get("zero_shot_accuracy")
                    figure = f"  held-out accuracy {acc:.3f}" if acc is not None else ""
                    lines.append(f"{mark} {r['name']:<32} {r['kind']:<9}{figure}")
                lines.append("* in use" + ("; ~ being switched to (run `photoclip models use` "
                                           "again to finish)" if pending else ""))
                return "\n".join(lines)

            _out(args, {"current": current, "pending": pending, "models": rows}, text)
            return EXIT_OK

        entry = registry.find(lib.catalog, args.name)
        if entry is not None:
            source = entry.source
        elif Path(args.name).expanduser().is_dir() or "/" in args.name:
            source = args.name  # a folder or a hub id, like --model
        else:
            from photoclip.core.errors import NotFoundError

            raise NotFoundError(f"No model named {args.name!r}: see `photoclip models list`.")
        old = lib.settings.model
        try:
            last = drive(lib.switch_model(source), units={"index": "photo"})
        except KeyboardInterrupt:
            print(f"photoclip: interrupted; the library still uses {old} (run `photoclip models "
                  f"use {shlex.quote(args.name)}` again to finish re-embedding).",
                  file=sys.stderr)
            return EXIT_INTERRUPTED
        _out(args, {"model": args.name, "source": lib.settings.model,
                    "previous": old, "switched": lib.settings.model != old},
             lambda: last.message if last is not None else "")
    return EXIT_OK


_COMMANDS.update({"train": cmd_train, "eval": cmd_eval, "models": cmd_models})
