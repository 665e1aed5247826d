"""What the commands print: results on stdout (text or --json), notes, errors and progress
bars on stderr, and the exit codes."""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from collections.abc import Callable, Iterator
from typing import Any

from photoclip.core.types import Progress

log = logging.getLogger("photoclip")

EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

# What a terminal must not be handed raw: C0 and C1 controls and DEL (a newline in a file name
# would split one result into two lines, an escape sequence would drive the terminal) and lone
# surrogates (undecodable bytes of a file name, which no encoding can print). The same set, and
# the same escapes, as core's tagging.guards.printable, which the CLI may not import.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")

# Progress.extra figures worth a glance while a job runs (training), in this order.
_POSTFIX = ("epoch", "loss", "lr", "temperature", "accuracy")


def fail(args: argparse.Namespace, message: str, code: int) -> int:
    """Say what went wrong in one line on stderr (a traceback too with --debug)."""
    if args.debug:
        log.exception(message)
    print(f"photoclip: error: {message}", file=sys.stderr)
    return code


def note(message: str) -> None:
    print(message, file=sys.stderr)


def out(args: argparse.Namespace, data: Any, text: Callable[[], str]) -> None:
    """The command's answer on stdout: `data` as JSON with --json, else `text()`."""
    if args.json:
        json.dump(data, sys.stdout)
        sys.stdout.write("\n")
    else:
        shown = text()
        if shown:
            # Line by line: the text's own line breaks stay, anything else that would drive
            # the terminal (an escape sequence in a label or a name) prints escaped.
            print("\n".join(printable(line) for line in shown.split("\n")))


def printable(text: str) -> str:
    """`text` as one line a terminal shows as it is: control characters (a newline in a file
    name too) as visible escapes (`a\\x0ab.jpg`), and what the terminal's encoding lacks
    escaped instead of failing the command (JSON output is ASCII-escaped anyway). Escape each
    path or name, not a whole multi-line answer."""
    text = _CONTROL.sub(_escape, text)
    encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
    try:
        text.encode(encoding)
    except UnicodeEncodeError:
        return text.encode(encoding, "backslashreplace").decode(encoding)
    except LookupError:
        pass
    return text


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


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
