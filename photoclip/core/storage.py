"""The disk under a library: which file system it is, and writing files so a crash never
leaves half of one.

Every file photoclip writes (catalog backups, the vector file and its meta, XMP sidecars) goes
through a temp file in the same folder, fsync, then an atomic rename; the temp file's name
carries the writing process's id, so the next run can tell debris of a killed process from a
write still in flight and clean it up.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import logging
import os
import re
import shutil
import sys
import tempfile
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from photoclip.core.errors import DiskFullError, ReadOnlyLibraryError, StorageError

log = logging.getLogger(__name__)

# File systems where SQLite's WAL mode is unsafe: WAL needs shared memory (an mmap'ed -shm file)
# and byte-range locks that all clients see, which network and most FUSE file systems do not
# provide (https://www.sqlite.org/wal.html, "WAL does not work over a network filesystem").
NETWORK_FILESYSTEMS = frozenset({
    "nfs", "nfs4", "cifs", "smb", "smb2", "smb3", "smbfs", "ncpfs", "afs", "9p", "ceph",
    "glusterfs", "lustre", "gpfs", "ocfs2", "gfs2", "davfs", "webdav", "afpfs", "coda",
    "sshfs", "virtiofs", "vboxsf", "vmhgfs", "prl_fs",
})
# A temp file older than this is debris whatever process made it: a write takes seconds.
STALE_TEMP_AGE_S = 3600
# A pid-stamped temp name: .<target>.<pid>.<mkstemp's random characters>.tmp (the pid is
# optional: names from before it was added are cleaned by age only).
# SQLite's own side files of a temp database (a backup being written) count as part of it.
_TEMP_RE = re.compile(
    r"^\.(?P<target>.+?)\.(?:(?P<pid>\d+)\.)?\w+\.tmp(?:-journal|-wal|-shm)?$", re.ASCII)
_DISK_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


# -- which file system ------------------------------------------------------------------------


def _unescape_mount(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash in paths as octal escapes."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def parse_mountinfo(text: str) -> list[tuple[str, str]]:
    """(mount point, fstype) per line of /proc/self/mountinfo, in the file's order.

    A line: `id parent major:minor root mount-point options [optional...] - fstype source
    super-options`; the optional fields end at the lone "-".
    """
    out: list[tuple[str, str]] = []
    for line in text.splitlines():
        fields = line.split()
        try:
            dash = fields.index("-", 6)
        except ValueError:
            continue
        if len(fields) <= dash + 1:
            continue
        out.append((_unescape_mount(fields[4]), fields[dash + 1]))
    return out


def fstype_from_mountinfo(path: str, mountinfo: str) -> str | None:
    """The file system type holding `path` (absolute, symlinks resolved): the longest mount
    point containing it; of equal ones the last mounted, which hides the others."""
    best: tuple[int, str] | None = None
    for point, fstype in parse_mountinfo(mountinfo):
        inside = point == "/" or path == point or path.startswith(point.rstrip("/") + "/")
        if inside and (best is None or len(point) >= best[0]):
            best = (len(point), fstype)
    return None if best is None else best[1]


def is_network_filesystem(fstype: str) -> bool:
    """Network file systems and FUSE ones (sshfs, rclone, s3fs...): no WAL there."""
    name = fstype.lower()
    if name == "remote" or name.endswith(" (remote)"):  # macOS/Windows: no type, only "remote"
        return True
    return name == "fuse" or name.startswith("fuse.") or name in NETWORK_FILESYSTEMS


def filesystem_type(path: str | os.PathLike[str]) -> str | None:
    """The type of the file system holding `path` (an existing file or folder), if this
    platform can tell: "ext4", "nfs4", "fuse.sshfs", "smbfs", "remote" (Windows)..."""
    target = os.path.realpath(path)
    try:
        if sys.platform.startswith("linux"):
            with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as f:
                return fstype_from_mountinfo(target, f.read())
        if sys.platform == "darwin":
            return _macos_fstype(target)
        if sys.platform == "win32":
            return _windows_fstype(target)
    except (OSError, ValueError, AttributeError) as exc:
        log.debug("cannot tell the file system of %s: %s", target, exc)
    return None


def network_filesystem(path: str | os.PathLike[str]) -> str | None:
    """The file system's type when `path` is on a network or FUSE file system, else None."""
    fstype = filesystem_type(path)
    return fstype if fstype is not None and is_network_filesystem(fstype) else None


def _macos_fstype(path: str) -> str | None:
    """statfs(2)'s f_fstypename; "remote" when MNT_LOCAL is not set (untested here)."""

    class _StatFs(ctypes.Structure):  # struct statfs with 64-bit inodes (macOS 10.6+)
        _fields_ = [
            ("f_bsize", ctypes.c_uint32), ("f_iosize", ctypes.c_int32),
            ("f_blocks", ctypes.c_uint64), ("f_bfree", ctypes.c_uint64),
            ("f_bavail", ctypes.c_uint64), ("f_files", ctypes.c_uint64),
            ("f_ffree", ctypes.c_uint64), ("f_fsid", ctypes.c_int32 * 2),
            ("f_owner", ctypes.c_uint32), ("f_type", ctypes.c_uint32),
            ("f_flags", ctypes.c_uint32), ("f_fssubtype", ctypes.c_uint32),
            ("f_fstypename", ctypes.c_char * 16), ("f_mntonname", ctypes.c_char * 1024),
            ("f_mntfromname", ctypes.c_char * 1024), ("f_flags_ext", ctypes.c_uint32),
            ("f_reserved", ctypes.c_uint32 * 7),
        ]

    libc = ctypes.CDLL(None, use_errno=True)
    statfs = libc.statfs64 if hasattr(libc, "statfs64") else libc.statfs
    buf = _StatFs()
    if statfs(os.fsencode(path), ctypes.byref(buf)) != 0:
        return None
    name = buf.f_fstypename.decode(errors="replace")
    mnt_local = 0x00001000
    if not buf.f_flags & mnt_local and not is_network_filesystem(name):
        return f"{name} (remote)"
    return name


def _windows_fstype(path: str) -> str | None:
    """UNC paths and mapped network drives are "remote" (untested here)."""
    if path.startswith(("\\\\", "//")):
        return "remote"
    drive = os.path.splitdrive(path)[0]
    if not drive:
        return None
    windll = ctypes.windll  # type: ignore[attr-defined,unused-ignore]
    drive_remote = 4
    if windll.kernel32.GetDriveTypeW(drive + "\\") == drive_remote:
        return "remote"
    return "local"


# -- errors -----------------------------------------------------------------------------------


def is_disk_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in _DISK_FULL


def is_read_only(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM)


def storage_error(exc: OSError, where: object) -> StorageError | None:
    """The user-facing error for a failed write, when the disk itself is the reason."""
    if is_disk_full(exc):
        return DiskFullError(where)
    if exc.errno == errno.EROFS:
        return ReadOnlyLibraryError(where)
    return None


def free_bytes(path: str | os.PathLike[str]) -> int | None:
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return None


# -- atomic files -----------------------------------------------------------------------------


def temp_path(target: Path) -> Path:
    """An empty, new temp file beside `target`, its name stamped with this process's id."""
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.{os.getpid()}.", suffix=".tmp",
                                dir=target.parent)
    os.close(fd)
    return Path(name)


def fsync_dir(directory: Path) -> None:
    """Make renames in `directory` durable; Windows cannot open a folder, and NTFS journals
    renames anyway."""
    if os.name != "posix":
        return
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def replacing(path: Path, mode: int | None = None) -> Iterator[Path]:
    """A new temp file beside `path` for the caller to fill; then fsync, rename over `path`,
    fsync the folder, so a crash leaves the old file or the new one, never half. On an error
    the temp file is removed and `path` is untouched.

    `mode` sets the new file's permissions (mkstemp makes 0600); by default an existing file's
    are kept.
    """
    tmp = temp_path(path)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        if mode is None:
            with contextlib.suppress(FileNotFoundError):
                mode = os.stat(path).st_mode & 0o777
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(path.parent)


def atomic_write(path: Path, data: bytes, mode: int | None = None) -> None:
    """Write `data` to `path` through `replacing`."""
    with replacing(path, mode) as tmp:
        tmp.write_bytes(data)


def pid_alive(pid: int) -> bool:
    """Whether a process with this id runs (POSIX; elsewhere we cannot ask safely: True)."""
    if pid == os.getpid():
        return True
    if os.name != "posix":
        return True  # os.kill on Windows would terminate it; the age rule cleans up there
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # EPERM: alive, someone else's
    return True


def remove_stale_temps(
    folder: Path,
    wanted: Callable[[str], bool] | None = None,
    *,
    entries: Iterable[os.DirEntry[str]] | None = None,
) -> list[Path]:
    """Delete temp files in `folder` left by a killed writer: its process is gone, or the file
    is older than STALE_TEMP_AGE_S. `wanted(target name)` limits which targets' temps count.
    Returns what was removed."""
    removed: list[Path] = []
    cutoff = time.time() - STALE_TEMP_AGE_S
    try:
        listing = list(entries) if entries is not None else list(os.scandir(folder))
    except OSError:
        return removed
    for entry in listing:
        m = _TEMP_RE.match(entry.name)
        if m is None or (wanted is not None and not wanted(m.group("target"))):
            continue
        pid = m.group("pid")
        try:
            if (pid is not None and not pid_alive(int(pid))) or entry.stat().st_mtime < cutoff:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:
            continue
    if removed:
        log.info("removed %d temp file(s) left by an interrupted write in %s", len(removed),
                 folder)
    return removed


def checksum(path: Path, fsync: bool = False) -> tuple[int, int]:
    """(size, crc32) of the file; with fsync, flushed to disk first."""
    crc = 0
    size = 0
    with open(path, "r+b" if fsync else "rb") as f:
        if fsync:
            os.fsync(f.fileno())
        while block := f.read(1 << 20):
            crc = zlib.crc32(block, crc)
            size += len(block)
    return size, crc
