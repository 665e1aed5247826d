"""Albums, ratings and favourites: albums list|create|add|remove|show|export|rename|delete,
rate, fav, and `xmp --read` (ratings other apps wrote to sidecars)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from photoclip.cli import tag_cmds
from photoclip.cli.output import EXIT_FAIL, EXIT_OK, drive, fail, out, printable
from photoclip.cli.session import open_library


def _album(a: Any) -> dict[str, Any]:
    return {"name": a.name, "smart": a.smart, "query": a.query,
            "photos": None if a.smart else a.count, "created": a.created_at}


def albums_list(args: argparse.Namespace) -> int:
    with open_library(args) as lib:
        albums = lib.albums.all()

        def text() -> str:
            if not albums:
                return "no albums yet: photoclip albums create NAME"
            return "\n".join(
                f"{printable(a.name)}  (smart: {printable(a.query or '')})" if a.smart
                else f"{printable(a.name)}  ({a.count} photos)" for a in albums)

        out(args, {"albums": [_album(a) for a in albums]}, text)
    return EXIT_OK


def albums_create(args: argparse.Namespace) -> int:
    with open_library(args) as lib:
        album = lib.albums.create(args.name, args.query)
        out(args, _album(album), lambda: f"album {printable(album.name)} created"
            + (f" (smart: {printable(album.query or '')})" if album.smart else ""))
    return EXIT_OK


def albums_add(args: argparse.Namespace) -> int:
    with open_library(args) as lib:
        ids = lib.albums.photo_ids(args.photos)
        added = lib.albums.add(args.name, ids)
        album = lib.albums.get(args.name)
        out(args, {"album": album.name, "added": added, "photos": album.count},
            lambda: f"{added} photos added to {printable(album.name)} ({album.count} in it)")
    return EXIT_OK


def albums_remove(args: argparse.Namespace) -> int:
    with open_library(args) as lib:
        ids = lib.albums.photo_ids(args.photos)
        removed = lib.albums.remove(args.name, ids)
        album = lib.albums.get(args.name)
        out(args, {"album": album.name, "removed": removed, "photos": album.count},
            lambda: f"{removed} photos taken out of {printable(album.name)} "
                    f"({album.count} left; the files are untouched)")
    return EXIT_OK


def albums_show(args: argparse.Namespace) -> int:
    with open_library(args) as lib:
        album = lib.albums.get(args.name)
        photos = lib.albums.photos(args.name, top=args.top)
        stars = lib.albums.ratings(p.id for p in photos)
        data = {"album": album.name, "smart": album.smart, "query": album.query,
                "photos": [{"path": p.path, "rating": stars.get(p.id, (0, False))[0],
                            "favourite": stars.get(p.id, (0, False))[1]} for p in photos]}
        out(args, data, lambda: "\n".join(printable(p.path) for p in photos))
        if not args.json and not photos:
            print(f"{album.name} has no photos"
                  + (" matching its query now" if album.smart else ": photoclip albums add "
                     "NAME PHOTO..."), file=sys.stderr)
    return EXIT_OK


def albums_export(args: argparse.Namespace) -> int:
    with open_library(args) as lib:
        job = lib.albums.export(args.name, args.folder, args.mode)
        drive(job.run(), desc="export")
        r = job.report
        out(args, {"album": lib.albums.get(args.name).name, "folder": r.folder,
                   "mode": job.mode, "written": r.written, "unchanged": r.unchanged,
                   "failed": r.failed,
                   "errors": [{"photo": p, "reason": why} for p, why in r.errors]},
            lambda: f"{r.written} {'copies' if job.mode == 'copy' else 'links'} made in "
                    f"{printable(r.folder)}, {r.unchanged} already there")
        if r.failed:
            p, why = r.errors[0]
            hint = " (try --copy)" if job.mode == "link" else ""
            return fail(args, f"{r.failed} photos not exported, e.g. {printable(p)}: "
                        f"{printable(why)}{hint}", EXIT_FAIL)
    return EXIT_OK


def albums_rename(args: argparse.Namespace) -> int:
    with open_library(args) as lib:
        album = lib.albums.rename(args.name, args.new_name)
        out(args, {"album": album.name, "was": args.name},
            lambda: f"album {printable(args.name)} is now {printable(album.name)}")
    return EXIT_OK


def albums_delete(args: argparse.Namespace) -> int:
    with open_library(args) as lib:
        album = lib.albums.delete(args.name)
        out(args, {"deleted": album.name},
            lambda: f"album {printable(album.name)} deleted (its photos stay in the library)")
    return EXIT_OK


def cmd_rate(args: argparse.Namespace) -> int:
    with open_library(args) as lib:
        ids = lib.albums.photo_ids(args.photos)
        changed = lib.albums.rate(ids, args.stars)
        out(args, {"rating": args.stars, "photos": len(set(ids)), "changed": len(changed)},
            lambda: f"{len(changed)} photos rated {args.stars}"
                    + (" (the others already were)" if len(changed) < len(set(ids)) else ""))
    return EXIT_OK


def cmd_fav(args: argparse.Namespace) -> int:
    on = not args.off
    with open_library(args) as lib:
        ids = lib.albums.photo_ids(args.photos)
        changed = lib.albums.favourite(ids, on)
        out(args, {"favourite": on, "photos": len(set(ids)), "changed": len(changed)},
            lambda: f"{len(changed)} photos {'marked' if on else 'no longer'} favourite")
    return EXIT_OK


def cmd_xmp(args: argparse.Namespace) -> int:
    """`xmp`, and with --read the other way: ratings from sidecars into the library."""
    if not args.read:
        return tag_cmds.cmd_xmp(args)
    with open_library(args) as lib:
        job = lib.albums.import_ratings(args.folder)
        drive(job.run(), unit="photo", desc="ratings")
        r = job.report
        out(args, {"read": r.read, "changed": r.changed, "failed": r.failed,
                   "errors": [{"sidecar": s, "reason": why} for s, why in r.errors]},
            lambda: f"{r.changed} ratings taken from {r.read} sidecars with a rating")
        if r.failed:
            s, why = r.errors[0]
            return fail(args, f"{r.failed} sidecars could not be read, e.g. {printable(s)}: "
                        f"{printable(why)}", EXIT_FAIL)
    return EXIT_OK
