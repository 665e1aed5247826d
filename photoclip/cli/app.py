"""`photoclip`: parse the command line, run the command, turn what goes wrong into one line and
an exit code. The contract (names, flags, JSON shapes, exit codes) is CLI.md."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import Any

from photoclip.cli.output import EXIT_FAIL, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, fail
from photoclip.cli.parser import build_parser
from photoclip.config import library_dir, missing_folders, remove_new_library
from photoclip.core.errors import PhotoclipError, QueryError

_GLOBALS: dict[str, Any] = {
    "library": None, "model": None, "device": None, "json": False, "debug": False,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    # A failed command leaves no new library folder behind: only one that worked makes one.
    root = library_dir(args.library)
    created = missing_folders(root)
    code = _run(args)
    if created and code not in (EXIT_OK, EXIT_INTERRUPTED):
        remove_new_library(root, created)
    return code


def _run(args: argparse.Namespace) -> int:
    try:
        code: int = args.handler(args)
        return code
    except QueryError as exc:
        return fail(args, str(exc), EXIT_USAGE)
    except PhotoclipError as exc:
        return fail(args, str(exc), EXIT_FAIL)
    except KeyboardInterrupt:
        print("photoclip: interrupted; work done so far is kept (run `photoclip index` to "
              "finish).", file=sys.stderr)
        return EXIT_INTERRUPTED
    except OSError as exc:
        from photoclip.core.library import Library

        mapped = Library.disk_error(exc)  # a full or read-only disk, wherever it hit
        if mapped is not None:
            return fail(args, str(mapped), EXIT_FAIL)
        return _unexpected(args, exc)
    except Exception as exc:  # the promise is one line, not a traceback, unless --debug
        return _unexpected(args, exc)


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    """The parsed command line; a usage error exits 2 with the reason (argparse)."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    unknown_options = [e for e in extra if e.startswith("--")]
    if args.command == "search" and not unknown_options:
        args.query += extra
        filtered = any(getattr(args, f, None) for f in ("folder", "after", "before", "tag",
                                                          "text"))
        if not args.query and not filtered:  # filters alone list every photo they match
            parser.error("search needs a QUERY, e.g. photoclip search 'dog on a beach'")
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(unknown_options or extra)}")
    for key, default in _GLOBALS.items():
        if not hasattr(args, key) or getattr(args, key) is None:
            setattr(args, key, default)
    return args


def _unexpected(args: argparse.Namespace, exc: Exception) -> int:
    return fail(args, f"unexpected error: {type(exc).__name__}: {exc} "
                "(run again with --debug for details)", EXIT_FAIL)
