"""Walking the file system for a backup: which paths to visit, in which
order, and what each kind of file becomes."""

import errno
import os
import re
import stat
from collections.abc import Iterable
from itertools import repeat

from .flags import NODUMP, add_flags, read_flags
from .item import item_from_stat, read_xattrs
from .patterns import PatternMatcher
from .prescan import PRESCAN_FROM, PrescanHelper, prescanned

CACHEDIR_TAG = b"CACHEDIR.TAG"
CACHEDIR_SIGNATURE = b"Signature: 8a477f597d28d172789f06886806bc55"
_TYPE_STATUS = {
    stat.S_IFDIR: "d",
    stat.S_IFLNK: "s",
    stat.S_IFIFO: "f",
    stat.S_IFCHR: "c",
    stat.S_IFBLK: "b",
}


def _listing(fs_path: bytes) -> tuple[list[bytes], set[bytes]]:
    """The names in a folder, sorted, and those the listing says are
    folders (where it says nothing, a folder is taken for a file)."""
    names = []
    folders = set()
    with os.scandir(fs_path) as it:
        for entry in it:
            names.append(entry.name)
            try:
                if entry.is_dir(follow_symlinks=False):
                    folders.add(entry.name)
            except OSError:
                pass
    names.sort()
    return names, folders


def archive_path(fs_path: bytes) -> bytes:
    """The path as stored: relative, normalised, no leading slash or `..`."""
    path = os.path.normpath(fs_path)
    while path.startswith((b"/", b"../")):
        path = path.lstrip(b"/")
        if path.startswith(b"../"):
            path = path[3:]
    if path in (b".", b".."):
        return b""
    return path


KERNEL_FS = {
    b"proc",
    b"sysfs",
    b"devpts",
    b"debugfs",
    b"tracefs",
    b"securityfs",
    b"cgroup",
    b"cgroup2",
    b"pstore",
    b"bpf",
    b"configfs",
    b"fusectl",
    b"mqueue",
    b"binfmt_misc",
    b"efivarfs",
    b"autofs",
    b"hugetlbfs",
    b"rpc_pipefs",
    b"nsfs",
}


def kernel_mount_points() -> set[bytes]:
    """Mount points of kernel pseudo file systems, as this process sees them."""
    try:
        with open("/proc/self/mountinfo", "rb") as f:
            lines = f.read().splitlines()
    except OSError:
        return set()
    points = set()
    for line in lines:
        fields = line.split()
        try:
            fstype = fields[fields.index(b"-") + 1]
        except (ValueError, IndexError):
            continue
        if fstype in KERNEL_FS:
            # mountinfo escapes space, tab, newline and backslash as octal.
            points.add(re.sub(rb"\\([0-7]{3})", lambda m: bytes([int(m[1], 8)]), fields[4]))
    return points


class Walker:
    def __init__(self, creator, matcher: PatternMatcher):
        self.creator = creator
        self.options = creator.options
        self.reporter = creator.reporter
        self.matcher = matcher
        self._kernel_mounts: set[bytes] | None = None
        self._helper: PrescanHelper | None = None
        self._helper_tried = False

    def close(self) -> None:
        if self._helper is not None:
            self._helper.close()
            self._helper = None

    def walk_root(self, fs_path: bytes) -> None:
        try:
            st = os.lstat(fs_path)
        except OSError as e:
            self.reporter.warning(f"{os.fsdecode(fs_path)}: {e.strerror}")
            self.reporter.file_status("E", fs_path)
            return
        self._visit(fs_path, archive_path(fs_path), st, st.st_dev)

    def _visit(self, fs_path: bytes, path: bytes, st: os.stat_result, root_dev: int) -> None:
        is_dir = stat.S_ISDIR(st.st_mode)
        if path:
            include, recurse = self.matcher.decide(path, is_dir)
        else:
            include, recurse = True, True  # the root "." of a relative backup
        if not include:
            self.reporter.file_status("x", path)
            if not (is_dir and recurse):
                return
        elif self.options.exclude_nodump and read_flags(fs_path, st) & NODUMP:
            self.reporter.file_status("x", path)  # as dump(8) does: a folder with all in it
            return
        try:
            if is_dir:
                self._directory(fs_path, path, st, include, root_dev)
            elif include:
                self._non_directory(fs_path, path, st)
        except OSError as e:
            if e.errno == errno.ENOENT:
                self.reporter.warning(f"{os.fsdecode(fs_path)}: vanished while we backed it up")
            else:
                self.reporter.warning(f"{os.fsdecode(fs_path)}: {e.strerror}")
            self.reporter.file_status("E", path)

    def _directory(self, fs_path, path, st, include, root_dev) -> None:
        tagged = self._excluded_by_tag(fs_path)
        if include and path and not tagged:
            item = item_from_stat(path, st, self.options.numeric_ids)
            read_xattrs(fs_path, item)
            add_flags(fs_path, st, item)
            self.creator.add_item(item, "d")
        if tagged:
            self.reporter.file_status("x", path)
            return
        if self.options.one_file_system and st.st_dev != root_dev:
            return
        try:
            names, folders = _listing(fs_path)
        except OSError as e:
            self.reporter.warning(f"{os.fsdecode(fs_path)}: cannot read folder: {e.strerror}")
            self.reporter.file_status("E", path)
            return
        # os.path.join per entry, without its checks: names from a listing
        # are never absolute nor empty.
        fs_prefix = fs_path if fs_path.endswith(b"/") else fs_path + b"/"
        prefix = path + b"/" if path else b""
        for name, found in self._prescanned(fs_prefix, prefix, names, folders):
            child_fs = fs_prefix + name
            child = prefix + name
            if found is not None:
                self.creator.add_recognised(*found)
                continue
            try:
                child_st = os.lstat(child_fs)
            except OSError as e:
                if e.errno != errno.ENOENT:
                    self.reporter.warning(f"{os.fsdecode(child_fs)}: {e.strerror}")
                    self.reporter.file_status("E", child)
                continue
            crosses = child_st.st_dev != st.st_dev
            if crosses and stat.S_ISDIR(child_st.st_mode) and self._is_kernel_fs(child_fs):
                # /proc, /sys and the like describe the running kernel, not data
                # (reading /proc/kcore would never end): keep the empty mount point.
                self.reporter.info(f"{os.fsdecode(child_fs)}: kernel file system, contents skipped")
                self._add_mount_point(child, child_st)
                continue
            if self.options.one_file_system and crosses:
                if stat.S_ISDIR(child_st.st_mode):
                    # The mount point itself is kept (empty), as borg does.
                    self._add_mount_point(child, child_st)
                    continue
            self._visit(child_fs, child, child_st, root_dev)

    # -- the helper process ----------------------------------------------

    def _prescanned(
        self, fs_prefix: bytes, prefix: bytes, names: list[bytes], folders: set[bytes]
    ) -> Iterable[tuple[bytes, tuple | None]]:
        """The names in order, each with the helper's answer (an unchanged
        file's item) or None (the walk does it)."""
        helper = self._usable_helper() if len(names) - len(folders) >= PRESCAN_FROM else None
        if helper is None:
            return zip(names, repeat(None))
        return prescanned(helper, fs_prefix, prefix, names, folders)

    def _usable_helper(self) -> PrescanHelper | None:
        if not self._helper_tried:
            self._helper_tried = True
            # (--exclude-nodump reads each file's flags first: the walk's own work.)
            if not self.options.exclude_nodump and self.creator.can_prescan():
                try:
                    self._helper = PrescanHelper(self._recognise)
                except OSError:
                    pass
        helper = self._helper
        return None if helper is None or helper.broken or helper.pending else helper

    def _recognise(self, fs_path: bytes, path: bytes, room: int) -> tuple | None:
        """In the helper: what `ArchiveCreator.recognise` says of a regular
        file (of one link) the patterns include, or None."""
        st = os.lstat(fs_path)
        if not stat.S_ISREG(st.st_mode) or st.st_nlink > 1:
            return None
        if not self.matcher.decide(path, False)[0]:
            return None
        return self.creator.recognise(fs_path, path, st, room)

    def _add_mount_point(self, path: bytes, st: os.stat_result) -> None:
        if self.matcher.decide(path, True)[0]:
            self.creator.add_item(item_from_stat(path, st, self.options.numeric_ids), "d")

    def _is_kernel_fs(self, fs_path: bytes) -> bool:
        if self._kernel_mounts is None:
            self._kernel_mounts = kernel_mount_points()
        return os.path.abspath(fs_path) in self._kernel_mounts

    def _excluded_by_tag(self, fs_path: bytes) -> bool:
        for name in self.options.exclude_if_present:
            if os.path.lexists(os.path.join(fs_path, name)):
                return True
        if self.options.exclude_caches:
            try:
                with open(os.path.join(fs_path, CACHEDIR_TAG), "rb") as f:
                    return f.read(len(CACHEDIR_SIGNATURE)) == CACHEDIR_SIGNATURE
            except OSError:
                return False
        return False

    def _non_directory(self, fs_path: bytes, path: bytes, st: os.stat_result) -> None:
        mode = st.st_mode
        if stat.S_ISREG(mode):
            self.creator.add_regular(fs_path, path, st)
            return
        if stat.S_ISSOCK(mode):
            self.reporter.info(f"{os.fsdecode(fs_path)}: socket skipped")
            return
        if self.options.read_special and (
            stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode)
        ):
            # Store the content of the device or pipe as a regular file.
            self.creator.add_special_content(fs_path, path, st)
            return
        item = item_from_stat(path, st, self.options.numeric_ids)
        if stat.S_ISLNK(mode):
            item["target"] = os.readlink(fs_path)
        read_xattrs(fs_path, item)
        self.creator.add_item(item, _TYPE_STATUS.get(stat.S_IFMT(mode), "?"))
