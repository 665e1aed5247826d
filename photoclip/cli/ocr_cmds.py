"""Reading the words in photos: `photoclip ocr` (the text pass; --on/--off the setting)."""

from __future__ import annotations

import argparse
import sys

from photoclip.cli.output import EXIT_OK, drive, out
from photoclip.cli.session import open_library


def cmd_ocr(args: argparse.Namespace) -> int:
    with open_library(args) as lib:
        if args.on or args.off:
            lib.ocr.set_enabled(bool(args.on))
            state = "on" if args.on else "off"
            out(args, {"ocr": bool(args.on)},
                lambda: f"reading text in photos is {state} for this library")
            if not args.on:
                return EXIT_OK
        job = lib.ocr.job(folder=args.folder, force=args.force)
        drive(job.run(), unit="photo", desc="reading text")
        r = job.report
        summary = {"read": r.read, "with_text": r.with_text, "skipped": r.skipped,
                   "failed": r.failed, "failures": r.reasons, "seconds": round(r.seconds, 3),
                   **{f"library_{k}": v for k, v in lib.ocr.status().items()
                      if k in ("photos", "read", "with_text")}}
        if not args.json:
            print(job.summary(), file=sys.stderr)
            for reason, count in sorted(r.reasons.items(), key=lambda kv: -kv[1]):
                print(f"  {count}  {reason}", file=sys.stderr)
        out(args, summary, lambda: "")
    return EXIT_OK


def status_lines(st: dict[str, object]) -> list[str]:
    """The `status` lines about OCR."""
    if not st.get("enabled"):
        return ["text:    off (photoclip ocr --on)"]
    if not st.get("installed"):
        return ["text:    not installed: pip install 'photoclip[ocr]'"]
    return [f"text:    read {st['read']} of {st['photos']} photos, {st['with_text']} with "
            f"text, {st['skipped']} skipped (no text seen), {st['failed']} failed"]
