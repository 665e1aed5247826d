"""Opening the library a command works on: the one place the CLI reaches the core."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from photoclip.cli.output import note

if TYPE_CHECKING:
    from photoclip.core.library import Library


def open_library(args: argparse.Namespace) -> Library:
    """The library of --library (or PHOTOCLIP_LIBRARY), with this run's --model and --device.
    Imported here, not at the top, so `photoclip --help` stays quick."""
    from photoclip.core.library import Library

    lib = Library(args.library, model=args.model, device=args.device,
                  progress=None if args.json else note)
    for notice in lib.notices:  # a restored catalog, a read-only library: said once, here
        print(f"photoclip: note: {notice}", file=sys.stderr)
    return lib
