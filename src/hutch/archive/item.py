"""Items: the metadata of one file system object, as stored in archives,
and how it is read from and written back to a file system.

An item is a dict with short keys, packed with msgpack:
  path (bytes, relative), mode, uid, gid, user, group, mtime, atime, ctime
  (nanoseconds), size, chunks ([[id, size], ...]), target (symlink, bytes),
  hlid (hardlink group id, bytes), rdev, xattrs ({bytes: bytes}),
  acl_access, acl_default (the kernel's binary ACL form, bytes), flags
  (chattr's inode flags, see flags.py).
"""

import errno
import grp
import os
import pwd
import stat
from functools import lru_cache

ACL_ACCESS = b"system.posix_acl_access"
ACL_DEFAULT = b"system.posix_acl_default"


@lru_cache(maxsize=4096)
def user_name(uid: int) -> str | None:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return None


@lru_cache(maxsize=4096)
def group_name(gid: int) -> str | None:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return None


@lru_cache(maxsize=4096)
def user_id(name: str | None, fallback: int) -> int:
    if name:
        try:
            return pwd.getpwnam(name).pw_uid
        except KeyError:
            pass
    return fallback


@lru_cache(maxsize=4096)
def group_id(name: str | None, fallback: int) -> int:
    if name:
        try:
            return grp.getgrnam(name).gr_gid
        except KeyError:
            pass
    return fallback


def item_from_stat(path: bytes, st: os.stat_result, numeric_ids: bool) -> dict:
    item = {
        "path": path,
        "mode": st.st_mode,
        "uid": st.st_uid,
        "gid": st.st_gid,
        "mtime": st.st_mtime_ns,
        "atime": st.st_atime_ns,
        "ctime": st.st_ctime_ns,
    }
    if not numeric_ids:
        item["user"] = user_name(st.st_uid)
        item["group"] = group_name(st.st_gid)
    if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        item["rdev"] = st.st_rdev
    return item


def read_xattrs(fs_path: bytes, item: dict, follow: bool = False) -> None:
    """Add xattrs and ACLs of `fs_path` to `item`; quietly none where the
    file system has no xattrs."""
    try:
        names = os.listxattr(fs_path, follow_symlinks=follow)
    except OSError as e:
        if e.errno in (errno.ENOTSUP, errno.ENOENT, errno.EPERM):
            return
        raise
    xattrs = {}
    for name in names:
        bname = os.fsencode(name)
        try:
            value = os.getxattr(fs_path, name, follow_symlinks=follow)
        except OSError as e:
            if e.errno in (errno.ENODATA, errno.ENOTSUP, errno.EPERM):
                continue
            raise
        if bname == ACL_ACCESS:
            item["acl_access"] = value
        elif bname == ACL_DEFAULT:
            item["acl_default"] = value
        else:
            xattrs[bname] = value
    if xattrs:
        item["xattrs"] = xattrs


def item_type(item: dict) -> str:
    """One letter, as `ls -l` shows it."""
    mode = item["mode"]
    for test, letter in (
        (stat.S_ISREG, "-"),
        (stat.S_ISDIR, "d"),
        (stat.S_ISLNK, "l"),
        (stat.S_ISFIFO, "p"),
        (stat.S_ISCHR, "c"),
        (stat.S_ISBLK, "b"),
        (stat.S_ISSOCK, "s"),
    ):
        if test(mode):
            return letter
    return "?"


class MetadataRestorer:
    """Writes ownership, mode, xattrs, ACLs and times back; collects what it
    could not do, so the caller reports it once instead of per file."""

    def __init__(self, numeric_ids: bool, reporter):
        self.numeric_ids = numeric_ids
        self.reporter = reporter
        self._chown_failed = False

    def ids(self, item: dict) -> tuple[int, int]:
        uid, gid = item.get("uid", 0), item.get("gid", 0)
        if not self.numeric_ids:
            uid = user_id(item.get("user"), uid)
            gid = group_id(item.get("group"), gid)
        return uid, gid

    def restore(self, fs_path: bytes, item: dict, fd: int | None = None) -> None:
        is_link = stat.S_ISLNK(item["mode"])
        target = fd if fd is not None else fs_path
        follow = fd is not None or not is_link
        uid, gid = self.ids(item)
        try:
            if fd is not None:
                os.fchown(fd, uid, gid)
            else:
                os.chown(fs_path, uid, gid, follow_symlinks=False)
        except OSError as e:
            if not self._chown_failed:
                self._chown_failed = True
                self.reporter.warning(
                    f"could not restore owners ({e.strerror}), first of all for "
                    f"{os.fsdecode(fs_path)}: such files belong to the user running hutch; "
                    "restore as root to keep their owners"
                )
        for name, value in (item.get("xattrs") or {}).items():
            self._setxattr(target, fs_path, name, value, follow)
        if not is_link:
            for key, name in (("acl_access", ACL_ACCESS), ("acl_default", ACL_DEFAULT)):
                if key in item:
                    self._setxattr(target, fs_path, name, item[key], follow)
            os.chmod(target, stat.S_IMODE(item["mode"]))
        times = (item.get("atime", item["mtime"]), item["mtime"])
        if fd is not None:
            os.utime(fd, ns=times)
        else:
            os.utime(fs_path, ns=times, follow_symlinks=False)

    def _setxattr(self, target, fs_path: bytes, name: bytes, value: bytes, follow: bool):
        try:
            os.setxattr(target, name, value, follow_symlinks=follow)
        except OSError as e:
            self.reporter.warning(
                f"{os.fsdecode(fs_path)}: could not restore xattr {os.fsdecode(name)}: {e.strerror}"
            )
