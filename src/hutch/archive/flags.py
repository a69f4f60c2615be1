"""File flags: the inode flags users set with chattr (immutable, append
only, no dump, ...), read and written with the FS_IOC_GETFLAGS and
FS_IOC_SETFLAGS ioctls.

An item keeps them as `flags`, the kernel's bit values masked to KEPT,
only where any is set. Only regular files and folders are asked (opening
devices can be slow, and symlinks cannot have flags); a file system without
flags has none. On restore, immutable and append-only must come last --
after the content, the other metadata and, for a hardlinked file, its other
links -- so the extractor sets all flags at the very end.
"""

import fcntl
import os
import stat
import struct

_LONG = struct.calcsize("l")  # the ioctls are declared with a long, but move an int
FS_IOC_GETFLAGS = (2 << 30) | (_LONG << 16) | (ord("f") << 8) | 1
FS_IOC_SETFLAGS = (1 << 30) | (_LONG << 16) | (ord("f") << 8) | 2

# The flags that say how a file may be used, by chattr's letters; not the
# ones that describe its storage (extents, inline data, encryption, ...).
LETTERS = {
    0x00000004: "c",  # FS_COMPR_FL: compress
    0x00000008: "S",  # FS_SYNC_FL: synchronous updates
    0x00000010: "i",  # FS_IMMUTABLE_FL
    0x00000020: "a",  # FS_APPEND_FL: append only
    0x00000040: "d",  # FS_NODUMP_FL: no dump
    0x00000080: "A",  # FS_NOATIME_FL
    0x00010000: "D",  # FS_DIRSYNC_FL: synchronous folder updates
}
KEPT = sum(LETTERS)
NODUMP = 0x00000040


def describe(flags: int) -> str:
    """As chattr writes them, e.g. +ia."""
    return "+" + "".join(letter for bit, letter in LETTERS.items() if flags & bit)


def _open(fs_path: bytes) -> int:
    return os.open(fs_path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_NOCTTY)


def _get(fd: int) -> int:
    buf = bytearray(max(_LONG, 4))
    fcntl.ioctl(fd, FS_IOC_GETFLAGS, buf)
    return struct.unpack_from("i", buf)[0] & 0xFFFFFFFF


def read_flags(fs_path: bytes, st: os.stat_result, fd: int | None = None) -> int:
    """The kept flags of a file or folder (through `fd` if open); 0 for
    other types and where the file system keeps none."""
    if fd is None and not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
        return 0
    try:
        if fd is not None:
            return _get(fd) & KEPT
        own = _open(fs_path)
        try:
            return _get(own) & KEPT
        finally:
            os.close(own)
    except OSError:
        return 0  # no flags here (ENOTTY, EOPNOTSUPP), or vanished


def add_flags(fs_path: bytes, st: os.stat_result, item: dict, fd: int | None = None) -> None:
    flags = read_flags(fs_path, st, fd)
    if flags:
        item["flags"] = flags


def write_flags(fs_path: bytes, flags: int) -> None:
    """Set the kept flags of a file or folder to `flags`, leaving the others
    (which describe its storage) as they are; OSError if that fails."""
    fd = _open(fs_path)
    try:
        current = _get(fd)
        wanted = (current & ~KEPT) | (flags & KEPT)
        if wanted != current:
            buf = bytearray(max(_LONG, 4))
            struct.pack_into("i", buf, 0, wanted - (1 << 32) if wanted >= 1 << 31 else wanted)
            fcntl.ioctl(fd, FS_IOC_SETFLAGS, buf)
    finally:
        os.close(fd)
