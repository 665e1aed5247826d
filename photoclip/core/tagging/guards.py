"""Hostile input: bounded reads of regular files only, control characters, short reprs.

Label set files, label lists and XMP sidecars come from folders anyone may have written to. A
FIFO blocks a reader forever, /dev/zero never ends, a symlink may point anywhere, and a name
with terminal escape sequences or C0 controls breaks both a terminal and XML 1.0. These helpers
refuse such input with a one-line reason instead.
"""

from __future__ import annotations

import os
import re
import reprlib
import stat

# Characters a name may not hold: C0 and C1 controls and DEL (terminal escapes, bells; XML 1.0
# cannot carry most of them), lone surrogates (undecodable bytes smuggled in by the OS, which
# UTF-8 cannot write) and the two non-characters XML forbids.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
# What XML 1.0 cannot carry at all (tab, newline and carriage return it can).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

_REPR = reprlib.Repr()
_REPR.maxstring = 60
_REPR.maxother = 60
_REPR.maxlist = _REPR.maxdict = _REPR.maxtuple = _REPR.maxset = 4
_REPR.maxlevel = 2


class FileRefused(Exception):
    """The path is not something we read: its message is the one-line reason."""


def has_control(text: str) -> bool:
    return _CONTROL.search(text) is not None


def printable(text: str) -> str:
    """`text` safe to echo on a terminal: control characters and lone surrogates as visible
    escapes (`bell\\x07tag`), everything else as it is."""
    return _CONTROL.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def xml_text(text: str) -> str:
    """`text` without the characters XML 1.0 cannot carry (ElementTree writes them raw, and the
    file is then not well-formed), and without other controls: a keyword is one line."""
    return " ".join(_CONTROL.sub("", _NOT_XML.sub("", text)).split())


def short(value: object) -> str:
    """A bounded repr for error messages: never the whole of a huge or deeply nested value."""
    return _REPR.repr(value)


def read_regular(path: str | os.PathLike[str], limit: int, *, follow_symlinks: bool = True,
                 what: str = "file") -> bytes | None:
    """The bytes of a regular file of at most `limit` bytes; None when there is none.

    Checked before opening (a FIFO would block open(), a device may react to it), opened
    non-blocking, checked again on the descriptor (the path may have been swapped), and read
    with a bound (a file may grow, /proc files lie about their size). Raises FileRefused
    with the reason, or OSError for what the system refuses (permissions...).
    """
    path = os.fspath(path)
    try:
        st = os.stat(path) if follow_symlinks else os.lstat(path)
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(st.st_mode):
        target = _link_target(path)
        raise FileRefused(f"is a symbolic link{target}: not followed, left alone")
    _require_regular(st.st_mode, what)
    flags = (os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
             | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0))
    if not follow_symlinks:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if not follow_symlinks and os.path.islink(path):  # swapped for a link meanwhile (ELOOP)
            raise FileRefused("is a symbolic link: not followed, left alone") from exc
        raise
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        _require_regular(st.st_mode, what)
        if st.st_size > limit:
            raise FileRefused(f"is {_size(st.st_size)}, larger than the {_size(limit)} a "
                              f"{what} may be")
        data = f.read(limit + 1)
    if len(data) > limit:
        raise FileRefused(f"is larger than the {_size(limit)} a {what} may be")
    return data


def _require_regular(mode: int, what: str) -> None:
    if stat.S_ISREG(mode):
        return
    if stat.S_ISDIR(mode):
        raise FileRefused(f"is a folder, not a {what}")
    kind = ("a FIFO (named pipe)" if stat.S_ISFIFO(mode) else
            "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else
            "a socket" if stat.S_ISSOCK(mode) else "not a regular file")
    raise FileRefused(f"is {kind}, not a regular file: not read")


def _link_target(path: str) -> str:
    try:
        return f" (to {printable(os.readlink(path))})"
    except OSError:
        return ""


def _size(n: int) -> str:
    if n >= 2**20:
        return f"{n / 2**20:.0f} MB"
    return f"{n / 1024:.0f} KB" if n >= 1024 else f"{n} bytes"
