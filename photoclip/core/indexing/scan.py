"""Which files are photos of the library: the path rules and the folder walk.

A photo is a regular image file (by extension) under a root, not hidden (no part of its path
below the root starts with "."), and not in a skipped folder (the library itself, a nested
root, which is scanned as itself). The catalog keys photos by path as text; catalog_path says
which text a path that is not valid UTF-8 is stored under.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence

from photoclip.core.imaging import is_image_path
from photoclip.core.types import Root

log = logging.getLogger(__name__)

# The catalog stores paths as UTF-8 text, which a name with invalid UTF-8 bytes (an old camera
# card or zip in Latin-1) is not; such a file is recorded under an escaped form of its name.
NAME_NOT_UTF8 = "file name is not valid UTF-8: rename the file or its folder to index it"


def catalog_path(path: str) -> str:
    """`path` as the catalog stores it: itself, unless its name holds bytes that are not UTF-8
    (Python carries them as surrogate escapes, which SQLite text cannot hold); those bytes are
    written as \\xNN, a form that is valid text, readable, and the same on every scan."""
    if path.isascii():
        return path
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(path).decode("utf-8", "backslashreplace")
    return path


def is_inside(path: str, folder: str) -> bool:
    """`path` is `folder` or lies below it (no symlinks resolved)."""
    folder = folder.rstrip(os.sep)
    return path == folder or path.startswith(folder + os.sep)


def innermost_root(path: str, roots: Iterable[Root]) -> Root | None:
    """The root a path belongs to; with nested roots, the deepest one."""
    best: Root | None = None
    for root in roots:
        if is_inside(path, root.path) and (best is None or len(root.path) > len(best.path)):
            best = root
    return best


def is_visible(path: str, root: str, skip: Sequence[str] = ()) -> bool:
    """What walk_images(root, skip) would list: an image, not hidden, not in a skipped
    folder (judged by the path alone: the file need not exist)."""
    rel = os.path.relpath(path, root)
    if any(part.startswith(".") for part in rel.split(os.sep)):
        return False
    if any(is_inside(path, s) for s in skip):
        return False
    return is_image_path(path)


def is_empty_dir(path: str) -> bool:
    try:
        with os.scandir(path) as it:
            return next(it, None) is None
    except OSError:
        return False


# Why a file named like a photo was passed over by the walk (the keys of `skipped`).
SKIP_FIFO, SKIP_DEVICE, SKIP_SOCKET = "FIFO", "device", "socket"
SKIP_LOOP, SKIP_BROKEN, SKIP_UNREADABLE = "link loop", "broken link", "unreadable"
SPECIAL_FILES = (SKIP_FIFO, SKIP_DEVICE, SKIP_SOCKET)


# A file's identity on its file system, (device, inode): kept by a move, not by a copy.
FileId = tuple[int, int]


def file_id(st: os.stat_result) -> FileId | None:
    """(device, inode) of a stat, or None where the platform or file system gives no inode
    number (Windows' DirEntry.stat, some network file systems)."""
    return (st.st_dev, st.st_ino) if st.st_ino else None


def walk_images(root: str, skip: Sequence[str] = (), skipped: Counter[str] | None = None,
                ids: dict[str, FileId | None] | None = None,
                ) -> Iterator[tuple[str, int, int]]:
    """(path, size, mtime_ns) of every regular image file under root; each one's file_id goes
    into `ids` (if given) as it is yielded.

    Hidden entries and `skip` folders (the library itself, nested roots) are left out. A
    symlinked folder is followed when it leads out of the root (a photo folder linked into
    ~/Pictures), each real folder at most once, so no symlink loop can trap the scan; one that
    leads back inside the root is not, its photos being found at their real paths. FIFOs,
    devices and sockets are never listed (nor opened). Unreadable folders are logged, not fatal.
    Files named like photos that are passed over (a FIFO, a device, a link that loops or leads
    nowhere) are counted by reason in `skipped`, so `status` can say they were seen.
    """
    skip_set = {os.path.normcase(s) for s in skip}
    # Folders already walked (or never to be), by identity: reaching one again through a link,
    # a bind mount or a loop must not walk it twice.
    seen: set[tuple[int, int]] = set()
    for folder in (root, *skip):
        ident = _dir_identity(folder)
        if ident is not None:
            seen.add(ident)
    # Where links may not lead: into the root, a skipped folder, or a folder already followed
    # (walked whole already; and without folder identities this alone ends any loop); nor up
    # to a folder holding the root, which is a loop, never a photo folder linked in.
    real_root = os.path.realpath(root)
    no_go = [real_root, *(os.path.realpath(p) for p in skip)]
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as it:
                # Sorted so that, of two links to one folder, the same one wins every scan.
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            log.warning("cannot list %s: %s", folder, exc)
            continue
        subfolders: list[str] = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                if entry.is_dir(follow_symlinks=False):
                    if os.path.normcase(entry.path) not in skip_set and _first_visit(
                            entry.path, seen):
                        subfolders.append(entry.path)
                    continue
                if entry.is_symlink() and entry.is_dir():
                    target = os.path.realpath(entry.path)
                    if (not is_inside(real_root, target)
                            and not any(is_inside(target, p) for p in no_go)
                            and _first_visit(entry.path, seen)):
                        no_go.append(target)
                        subfolders.append(entry.path)
                    continue
                if not is_image_path(entry.name):
                    continue
                st = entry.stat()  # follows a file symlink: we index what it points to
            except OSError as exc:
                # A dangling link or a file symlink loop: nothing to index, nothing to fear.
                log.info("cannot stat %s: %s", entry.path, exc)
                if skipped is not None:
                    skipped[_stat_failure(exc)] += 1
                continue
            if stat.S_ISREG(st.st_mode):
                if ids is not None:
                    ids[entry.path] = file_id(st)
                yield entry.path, st.st_size, st.st_mtime_ns
            elif skipped is not None:
                log.info("skipped %s: not a regular file", entry.path)
                skipped[_special_kind(st.st_mode)] += 1
        stack.extend(reversed(subfolders))  # depth first, in name order


def _stat_failure(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return SKIP_LOOP
    if exc.errno in (errno.ENOENT, errno.ENOTDIR):
        return SKIP_BROKEN
    return SKIP_UNREADABLE


def _special_kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return SKIP_FIFO
    if stat.S_ISSOCK(mode):
        return SKIP_SOCKET
    return SKIP_DEVICE  # character or block device (or anything stranger)


def _dir_identity(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)  # os.stat, not DirEntry.stat: on Windows only it fills st_ino
    except OSError:
        return None
    return (st.st_dev, st.st_ino) if st.st_ino else None


def _first_visit(path: str, seen: set[tuple[int, int]]) -> bool:
    ident = _dir_identity(path)
    if ident is None:
        return True  # no identity to go by (some network file systems): walk it
    if ident in seen:
        return False
    seen.add(ident)
    return True
