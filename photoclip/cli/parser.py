"""Every command, its options and the function that runs it, in one table (COMMANDS).

build_parser() turns the table into argparse parsers; each leaf's function is stored as the
parsed arguments' `handler`, so main() dispatches in one place.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from photoclip import __version__
from photoclip.cli import (
    album_cmds,
    library_cmds,
    model_cmds,
    ocr_cmds,
    probe_cmds,
    search_cmds,
    tag_cmds,
)

Handler = Callable[[argparse.Namespace], int]


def _number(cast: type, ok: Callable[[float], bool], rule: str,
            what: str = "a number") -> Callable[[str], Any]:
    """An argparse type: parse with `cast`, accept when `ok`, else say the rule."""

    def parse(text: str) -> Any:
        try:
            value = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        # float() takes "nan", "inf" and 1e309 (= inf): never a setting anyone means.
        if isinstance(value, float) and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}")
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
_strictness = _number(float, lambda v: v >= 0, "must be 0 or more, e.g. 3 (0 = always K "
                      "results)")


@dataclass(frozen=True)
class Arg:
    flags: tuple[str, ...]
    options: dict[str, Any]


def arg(*flags: str, **options: Any) -> Arg:
    return Arg(flags, options)


@dataclass(frozen=True)
class OneOf:
    """Options of which exactly one must be given."""

    args: tuple[Arg, ...]


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    handler: Handler | None = None  # None: a group of `actions`
    args: tuple[Arg | OneOf, ...] = ()
    actions: tuple[Command, ...] = field(default_factory=tuple)


def _cutoff(default_note: str) -> Arg:
    return arg("--cutoff", type=_strictness, default=None, metavar="Z",
               help="stop where results stop standing out from the library: higher is "
                    f"stricter, lower shows more (default {default_note}); --top stays "
                    "the hard cap")


_FOLDER = arg("--folder", metavar="F", help="only photos inside this folder")
_TOP = arg("--top", type=_positive_int, default=20, metavar="K")
_DATA = OneOf((
    arg("--albums", metavar="DIR",
        help="one subfolder of photos per label; the folder name is the label"),
    arg("--set", metavar="NAME", dest="label_set",
        help="a label set's tags you set or accepted, instead of albums"),
))
_NAME = arg("name", metavar="NAME")
_TRAIN_DATA = OneOf((
    *_DATA.args,
    arg("--album", nargs="+", metavar="NAME", dest="album_names",
        help="the library's albums (smart ones too), each album a label"),
))
_stars = _number(int, lambda v: 0 <= v <= 5, "must be 0 to 5 (0 = unrated)", "a whole number")
_PHOTOS = arg("photos", nargs="+", metavar="PHOTO")

COMMANDS: tuple[Command, ...] = (
    Command("gui", "open the desktop app", library_cmds.cmd_gui, (
        arg("paths", nargs="*", metavar="FOLDER|PHOTO",
            help="folders to add to the library (a photo adds its folder)"),
    )),
    Command("add", "add folders to the library and index them now", library_cmds.cmd_add, (
        arg("folders", nargs="+", metavar="FOLDER"),
    )),
    Command("remove", "forget library folders (their photos leave the catalog; files "
                      "untouched)", library_cmds.cmd_remove, (
        arg("folders", nargs="+", metavar="FOLDER"),
    )),
    Command("index", "catch up every library folder with the disk (new, changed, moved, gone)",
            library_cmds.cmd_index),
    Command("watch", "watch every library folder until interrupted (Ctrl-C), keeping the "
                     "library equal to the disk; one line per batch", library_cmds.cmd_watch, (
        arg("--polling", action="store_true",
            help="poll the folders instead of OS file events (e.g. network drives)"),
        arg("--poll-interval", type=_seconds, default=None, metavar="S",
            help="seconds between polls (default 5)"),
    )),
    Command("status", "library folders, counts, failures, model, device",
            library_cmds.cmd_status),
    Command("edits", "possible edits of tagged photos (renamed and re-saved): list, --apply "
                     "their tags, or --dismiss", library_cmds.cmd_edits, (
        arg("--apply", nargs="*", type=_positive_int, metavar="ID",
            help="carry the tags over (every pair, or the ids listed)"),
        arg("--dismiss", nargs="*", type=_positive_int, metavar="ID",
            help="forget the pairs (every pair, or the ids listed); no tag moves"),
    )),
    Command("ocr", "read the words in photos so search finds them (after indexing; resumable)",
            ocr_cmds.cmd_ocr, (
        _FOLDER,
        arg("--force", action="store_true", help="read every photo again"),
        arg("--on", action="store_true", help="turn reading text on for this library, then read"),
        arg("--off", action="store_true", help="turn reading text off for this library"),
    )),
    Command("search", "find photos by a text description", search_cmds.cmd_search, (
        # "*" and parse_known_args in main(): an unquoted "-people" is a query term.
        arg("query", nargs="*", help="e.g. 'dog on a beach -people'"),
        _TOP,
        _FOLDER,
        arg("--after", metavar="YYYY-MM-DD", help="taken on or after this date"),
        arg("--before", metavar="YYYY-MM-DD", help="taken before this date"),
        arg("--tag", metavar="LABEL", help="only photos with this tag (LABEL or SET|LABEL)"),
        arg("--text", metavar="PHRASE", help='only photos whose text holds it (= text:"PHRASE")'),
        _cutoff("3; 0 = always K results"),
    )),
    Command("similar", "find photos that look like a given one", search_cmds.cmd_similar, (
        arg("photo", metavar="PHOTO"),
        _TOP,
        _cutoff("0 = always K results"),
    )),
    Command("bench", "measure indexing and search speed on this machine (ratios, one run)",
            model_cmds.cmd_bench, (
        arg("--gui", action="store_true",
            help="measure the window instead (offscreen): how long it freezes opening, "
                 "browsing, filtering, searching, receiving new photos and scrolling, over a "
                 "temporary library of --photos photos"),
        arg("--photos", type=_positive_int, default=None, metavar="N",
            help="generated 12-MP JPEGs for the pipeline (default 96); with --gui, photos "
                 "in the temporary library (default 100000)"),
        arg("--rounds", type=_positive_int, default=3, metavar="N",
            help="interleaved rounds of model, decode and pipeline timing; the figures are "
                 "their medians (default 3)"),
        arg("--vectors", type=_positive_int, default=200_000, metavar="N",
            help="synthetic CLIP-like vectors for the search benchmark (default 200000)"),
        arg("--queries", type=_positive_int, default=200, metavar="N"),
        arg("--batch-size", type=_positive_int, default=16, metavar="B",
            help="photos per model call, as the indexer uses (default 16)"),
    )),
    Command("duplicates", "groups of near-identical photos, best quality first (never "
                          "deletes)", search_cmds.cmd_duplicates, (
        arg("--threshold", type=_unit_float, default=None, metavar="X",
            help="cosine similarity that counts as the same picture (default 0.96)"),
        _FOLDER,
    )),
    Command("labels", "label sets for auto-tagging: add, list, show, remove, export, import",
            actions=(
        Command("add", "create a label set, or change the one of that name",
                tag_cmds.labels_add, (
            _NAME,
            OneOf((
                arg("--labels", metavar='"a,b,c"', help="comma-separated labels"),
                arg("--file", metavar="FILE", help="labels, one per line (or a YAML/JSON list)"),
            )),
            arg("--templates", metavar="FILE",
                help="prompt templates, one per line, {} is the label (default: the built-in "
                     "CLIP ensemble)"),
            arg("--threshold", type=_score, metavar="X",
                help="score (0..1) a label needs to tag a photo, for the whole set"),
            arg("--floor", type=_cosine, metavar="X",
                help="similarity below which no label tags (\"none of these\"), -1..1"),
            arg("--multi-label", action=argparse.BooleanOptionalAction, default=None,
                help="several labels of the set may tag one photo"),
        )),
        Command("list", "label sets in the library, and the built-in ones you can enable",
                tag_cmds.labels_list),
        Command("show", "a label set's labels, thresholds, templates and tag counts",
                tag_cmds.labels_show, (_NAME,)),
        Command("remove", "delete a label set with its tags", tag_cmds.labels_remove, (_NAME,)),
        Command("export", "write a label set to a YAML (or .json) file you can edit",
                tag_cmds.labels_export, (_NAME, arg("file", metavar="FILE"))),
        Command("import", "read a label set file (creates or updates the set of its name)",
                tag_cmds.labels_import, (arg("file", metavar="FILE"),)),
        Command("enable", "use a label set when tagging (a built-in one is added first)",
                tag_cmds.labels_enable, (_NAME,)),
        Command("disable", "stop using a label set when tagging (its tags stay)",
                tag_cmds.labels_disable, (_NAME,)),
    )),
    Command("tag", "apply label sets to photos (auto tags); learns thresholds from your "
                   "accepted and rejected tags first", tag_cmds.cmd_tag, (
        arg("--set", metavar="NAME", help="only this label set (default: all enabled)"),
        _FOLDER,
    )),
    Command("tags", "a photo's tags; or change them: tags set|unset|accept|reject|reset "
                    "PHOTO LABEL", tag_cmds.cmd_tags, (
        arg("words", nargs="+", metavar="PHOTO | ACTION PHOTO LABEL",
            help="set: add a tag by hand; unset/reject: not this label (auto-tagging will not "
                 "bring it back); accept: confirm an auto tag; reset: forget your decision. "
                 "LABEL may be SET|LABEL."),
        arg("--why", metavar="LABEL",
            help="explain any label for this photo: per-template similarities, score, "
                 "threshold"),
    )),
    Command("xmp", "write tags and ratings to XMP sidecars (dc:subject, "
                   "lr:hierarchicalSubject, xmp:Rating); originals are never written",
            album_cmds.cmd_xmp, (
        _FOLDER,
        arg("--style", choices=["photo.jpg.xmp", "photo.xmp"],
            help="sidecar name (remembered): photo.jpg.xmp (digiKam, darktable) or "
                 "photo.xmp (Lightroom)"),
        arg("--sync", choices=["on", "off"],
            help="on: keep sidecars in step as tags change (remembered; writes them all now); "
                 "off: only `photoclip xmp` writes them"),
        arg("--read", action="store_true",
            help="the other way: take the ratings (xmp:Rating) other apps wrote to sidecars "
                 "into the library"),
    )),
    Command("train", "fine-tune the model on your albums and report held-out accuracy before "
                     "and after", model_cmds.cmd_train, (
        _TRAIN_DATA,
        arg("--epochs", type=_positive_int, default=None, metavar="N",
            help="passes over the photos (default: picked from the data; stops early)"),
        arg("--name", metavar="NAME",
            help="name of the new model (default: the albums folder's name)"),
        arg("--from-scratch", action="store_true",
            help="train every weight from a random start (small models only)"),
        arg("--eval-split", type=_open_unit, default=0.2, metavar="F",
            help="share of each album held out for evaluation, never trained on "
                 "(default 0.2)"),
        arg("--batch-size", type=_positive_int, default=None, metavar="B",
            help="photos per step (default: picked from the data and the device)"),
        arg("--micro-batch", type=_positive_int, default=None, metavar="M",
            help="photos per forward pass when a batch does not fit in memory"),
        arg("--lr", type=_positive_float, default=None, metavar="LR",
            help="peak learning rate (default: picked from the model's size)"),
        arg("--hard-negatives", action="store_true", help="swapped relations, attributes and "
            "negations of each caption as extra negatives (NegCLIP)"),
    )),
    Command("eval", "zero-shot accuracy, recall@k and modality gap of the model on your albums; "
                    "or its blind spots (--probes, --bias)", model_cmds.cmd_eval, (
        OneOf((*_DATA.args, arg("--probes", action="store_true", help="generated forced "
              "choices: spatial, negation, counting, binding, typographic"),
              arg("--bias", action="store_true", help="profession x group prompts against "
                  "your photos: what the model associates (no claim for any model)"))),
        arg("--family", choices=probe_cmds.FAMILIES, help="with --probes: only this family"),
        arg("--items", type=_positive_int, default=200, metavar="N",
            help="with --probes: items per family (default 200)"),
        arg("--seed", type=int, default=0, metavar="S", help="with --probes (default 0)"),
        arg("--save-threshold", nargs="?", const=0.8, type=_unit_float, metavar="COVERAGE",
            help="with --set: save to the set the threshold that tags this share of photos "
                 "(default 0.8), chosen and measured on the tags you set or accepted"),
    )),
    Command("albums", "albums: list, create, add, remove, show, export, rename, delete",
            actions=(
        Command("list", "the library's albums and smart albums", album_cmds.albums_list),
        Command("create", "a new album, or with --query a smart album (a saved search)",
                album_cmds.albums_create, (
            _NAME,
            arg("--query", metavar="QUERY",
                help="a smart album: this search, re-run as the library changes (e.g. "
                     "'beach rating:>=4')"),
        )),
        Command("add", "put photos in an album", album_cmds.albums_add, (_NAME, _PHOTOS)),
        Command("remove", "take photos out of an album (files untouched)",
                album_cmds.albums_remove, (_NAME, _PHOTOS)),
        Command("show", "an album's photos (a smart album's as its query finds them now)",
                album_cmds.albums_show, (
            _NAME, arg("--top", type=_positive_int, default=10_000, metavar="K"))),
        Command("export", "the album as a folder of links (default) or copies; originals are "
                          "never moved", album_cmds.albums_export, (
            _NAME,
            arg("folder", metavar="DIR"),
            arg("--link", dest="mode", action="store_const", const="link", default="link",
                help="symbolic links to the photos (default)"),
            arg("--copy", dest="mode", action="store_const", const="copy",
                help="copies of the photos"),
        )),
        Command("rename", "give an album another name", album_cmds.albums_rename, (
            _NAME, arg("new_name", metavar="NEW_NAME"))),
        Command("delete", "forget an album (its photos stay)", album_cmds.albums_delete,
                (_NAME,)),
    )),
    Command("rate", "give photos 0-5 stars (0 = unrated); written to sidecars as xmp:Rating",
            album_cmds.cmd_rate, (
        arg("stars", type=_stars, metavar="N"),
        _PHOTOS,
    )),
    Command("fav", "mark photos favourite (--off: no longer)", album_cmds.cmd_fav, (
        _PHOTOS,
        arg("--off", action="store_true", help="take the favourite mark off"),
    )),
    Command("models", "the library's models: list them, or use one (re-embeds the library)",
            actions=(
        Command("list", "base and fine-tuned models, with their figures",
                model_cmds.models_list),
        Command("catalog", "the models photoclip knows: family, languages, size, licence",
                model_cmds.models_catalog),
        Command("use", "switch the library to a model; search keeps the old one until every "
                       "photo is re-embedded", model_cmds.models_use, (
            arg("name", metavar="NAME", help="a name from `models list`, a hub id or a folder"),
            arg("--no-retag", action="store_true",
                help="keep the tags from the previous model (`photoclip tag` re-tags later)"),
        )),
    )),
)


def _global_options(parser: argparse.ArgumentParser, suppress: bool) -> None:
    # Declared on the main parser and on every command, so they may stand before or after it;
    # SUPPRESS keeps a command's parser from resetting what was given before the command.
    d = argparse.SUPPRESS if suppress else None
    g = parser.add_argument_group("global options")
    g.add_argument("--library", metavar="DIR", default=d,
                   help="library folder (catalog, vectors, thumbnails); env PHOTOCLIP_LIBRARY")
    g.add_argument("--model", metavar="ID_OR_DIR", default=d,
                   help="Hugging Face CLIP id or a local folder, for this run only (a new "
                        "library starts with it; `models use` switches one); env "
                        "PHOTOCLIP_MODEL")
    g.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"], default=d,
                   help="for this run only (the window's Settings keep one)")
    g.add_argument("--json", action="store_true", default=d,
                   help="machine-readable output on stdout")
    g.add_argument("--debug", action="store_true", default=d,
                   help="verbose logging and tracebacks")


def _add(sub: Any, command: Command, dest: str) -> None:
    p = sub.add_parser(command.name, help=command.help, description=command.help)
    _global_options(p, suppress=True)
    for item in command.args:
        if isinstance(item, OneOf):
            group = p.add_mutually_exclusive_group(required=True)
            for a in item.args:
                group.add_argument(*a.flags, **a.options)
        else:
            p.add_argument(*item.flags, **item.options)
    if command.actions:
        actions = p.add_subparsers(dest=f"{dest}_action", metavar="ACTION", required=True)
        for action in command.actions:
            _add(actions, action, f"{dest}_{action.name}")
    else:
        p.set_defaults(handler=command.handler)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="photoclip",
        description="Find your photos by what is in them. No command opens the desktop app.",
    )
    parser.add_argument("--version", action="version", version=f"photoclip {__version__}")
    _global_options(parser, suppress=False)
    parser.set_defaults(handler=library_cmds.cmd_gui)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        _add(sub, command, command.name)
    return parser
