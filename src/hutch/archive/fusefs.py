"""A read-only FUSE file system over archives (through mfusepy, ctypes
bindings to libfuse): one archive as a tree, or a whole repository as one
folder per archive, each loaded when first looked at.

Each archive's items are held packed (msgpack bytes) in a dict keyed by
path; their content is not. Opening a file turns its chunk list into a list
of start offsets, so a read finds its chunks by bisection and fetches only
those (plus a few ahead when reading goes forward); a small cache keeps
recently decrypted chunks. Every fetch goes through the repository's store,
so a remote repository works as a local one does.

The loop runs single-threaded: FUSE callbacks never race on the trees or the
cache, and the chunk reader still fetches ahead in its own threads.
"""

import datetime
import errno
import os
import shutil
import stat
import time
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from itertools import accumulate

import msgpack

from ..crypto.objects import ObjectKind
from ..errors import HutchError
from ..repo.archives import ArchiveEntry
from ..repo.reader import ChunkReader
from ..repo.repository import Repository
from .fuseversions import versioned_items
from .item import ACL_ACCESS, ACL_DEFAULT, group_id, user_id
from .itemstream import iter_items
from .patterns import PatternMatcher

try:
    import mfusepy
except (ImportError, OSError) as e:  # mfusepy loads libfuse when imported
    mfusepy = None
    MISSING_REASON = str(e) or type(e).__name__
else:
    MISSING_REASON = ""

_ENC, _ERRORS = "utf-8", "surrogateescape"  # how mfusepy turns path bytes into str
CACHE_BYTES = 64 * 1024 * 1024
READ_AHEAD = 3  # chunks fetched after the one asked for, when reading goes forward
_INODE_EXTRAS = ("xattrs", "acl_access", "acl_default")
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC


def missing() -> str:
    """What this system lacks for a mount ("" if nothing): libfuse, which
    mfusepy loads, and for users other than root the fusermount helper."""
    if mfusepy is None:
        return f"libfuse cannot be loaded ({MISSING_REASON})"
    if os.geteuid() != 0 and not (shutil.which("fusermount3") or shutil.which("fusermount")):
        return "there is no fusermount3 (or fusermount) on the PATH"
    return ""


class ArchiveTree:
    """The items of one archive, by path (relative, b"" is the top).

    Folders that the archive does not hold (left out by patterns) are made
    up, so every item has a parent."""

    def __init__(
        self,
        entry: ArchiveEntry | None,
        new_inode: Callable[[], int],
        dir_item: dict,
        inode: int,
    ):
        self.entry = entry
        self._new_inode = new_inode
        self._dir_item = dir_item
        self.nodes: dict[bytes, tuple[int, bytes]] = {b"": (inode, _pack(dir_item))}
        self.children: dict[bytes, list[bytes]] = {b"": []}
        # hlid -> inode, member count, chunks, xattrs and ACLs (which only
        # the first member of a group carries: the others are the same inode)
        self.hardlinks: dict[bytes, tuple[int, int, list, dict]] = {}

    def load(self, items: Iterable[dict]) -> None:
        for item in items:
            path = item.pop("path")
            if not path or path.startswith(b"/") or b".." in path.split(b"/"):
                continue
            self._add_parents(path)
            inode = self._inode_for(path, item)
            if stat.S_ISDIR(item["mode"]):
                self.children.setdefault(path, [])
            self.nodes[path] = (inode, _pack(item))

    def _inode_for(self, path: bytes, item: dict) -> int:
        if path in self.nodes:  # a made-up folder, now found: keep its inode and children
            inode = self.nodes[path][0]
        else:
            self.children[os.path.dirname(path)].append(os.path.basename(path))
            inode = None
        hlid = item.get("hlid")
        if hlid is not None and stat.S_ISREG(item["mode"]):
            known = self.hardlinks.get(hlid)
            if known is None:
                extras = {k: item[k] for k in _INODE_EXTRAS if k in item}
                known = (inode or self._new_inode(), 0, item.get("chunks") or [], extras)
            chunks = known[2] or item.get("chunks") or []
            self.hardlinks[hlid] = (known[0], known[1] + 1, chunks, known[3])
            if not any(k in item for k in _INODE_EXTRAS):
                item.update(known[3])
            return known[0]
        return inode or self._new_inode()

    def _add_parents(self, path: bytes) -> None:
        parent = os.path.dirname(path)
        if parent in self.nodes:
            return
        self._add_parents(parent)
        self.children[os.path.dirname(parent)].append(os.path.basename(parent))
        self.children[parent] = []
        self.nodes[parent] = (self._new_inode(), _pack(self._dir_item))

    def lookup(self, path: bytes) -> tuple[int, dict]:
        try:
            inode, packed = self.nodes[path]
        except KeyError:
            raise mfusepy.FuseOSError(errno.ENOENT) from None
        return inode, msgpack.unpackb(packed)


def _pack(item: dict) -> bytes:
    return msgpack.packb(item)


class _OpenFile:
    def __init__(self, path: str, chunks: list, size: int):
        self.path = path
        self.ids = [bytes(cid) for cid, _ in chunks]
        self.starts = [0, *accumulate(size for _, size in chunks)][:-1] if chunks else []
        self.size = size
        self.last = -2  # index of the chunk read last: tells forward reading apart


class HutchFS:
    """The FUSE operations (as mfusepy calls them: paths are str).

    entries: the archives to show; single: show that one archive as the top
    folder; versions: show the archives merged, each file a folder of its
    versions (fuseversions.py). on_error(message) hears of what a read could not deliver (the
    caller of a read only sees EIO); on_mounted() is called once the kernel
    talks to us."""

    use_ns = True  # times in nanoseconds, as items hold them

    def __init__(
        self,
        repo: Repository,
        entries: list[ArchiveEntry],
        single: bool,
        matcher: PatternMatcher,
        numeric_ids: bool = False,
        versions: bool = False,
        on_error: Callable[[str], None] = lambda message: None,
        on_mounted: Callable[[], None] = lambda: None,
    ):
        self.reader = ChunkReader(repo)
        self.matcher = matcher
        self.numeric_ids = numeric_ids
        self.on_error = on_error
        self.on_mounted = on_mounted
        self._inodes = 1  # 1 is the top folder
        now = time.time_ns()
        self._top = self._dir_item(now)
        self._trees: dict[bytes, ArchiveTree | ArchiveEntry] = {}
        self._archive_inodes: dict[bytes, int] = {}
        self._single = self._load(entries[0], 1) if single else None
        if versions and not single:
            self._single = self._load_versions(entries)
        for entry in entries if self._single is None else ():
            name = entry.name.replace("/", "_").encode(_ENC, _ERRORS)
            self._trees[name] = entry
            self._archive_inodes[name] = self._new_inode()
        self._cache: OrderedDict[bytes, bytes] = OrderedDict()
        self._cache_bytes = 0
        self._open: dict[int, _OpenFile] = {}
        self._next_fh = 1

    def _dir_item(self, mtime: int) -> dict:
        return {
            "mode": stat.S_IFDIR | 0o755,
            "uid": os.getuid(),
            "gid": os.getgid(),
            "mtime": mtime,
            "atime": mtime,
            "ctime": mtime,
        }

    def _new_inode(self) -> int:
        self._inodes += 1
        return self._inodes

    def _selected(self, entry: ArchiveEntry) -> Iterator[dict]:
        for item in iter_items(self.reader, entry):
            if self.matcher.empty or self.matcher.match(item["path"]):
                yield item

    def _load(self, entry: ArchiveEntry, inode: int) -> ArchiveTree:
        mtime = _archive_time(entry)
        tree = ArchiveTree(entry, self._new_inode, self._dir_item(mtime), inode)
        tree.load(self._selected(entry))
        return tree

    def _load_versions(self, entries: list[ArchiveEntry]) -> ArchiveTree:
        """All archives at once: every file's versions are known only then."""
        mtime = max((_archive_time(e) for e in entries), default=time.time_ns())
        tree = ArchiveTree(
            entries[-1] if entries else None, self._new_inode, self._dir_item(mtime), 1
        )
        tree.load(versioned_items((e, self._selected(e)) for e in entries))
        return tree

    def close(self) -> None:
        self.reader.close()

    # -- finding items ----------------------------------------------------

    def _find(self, path: str) -> tuple[ArchiveTree | None, bytes]:
        """(tree, path in it); tree None for the top of a repository mount."""
        rel = path.encode(_ENC, _ERRORS).strip(b"/")
        if self._single is not None:
            return self._single, rel
        if not rel:
            return None, b""
        name, _, rest = rel.partition(b"/")
        tree = self._trees.get(name)
        if tree is None:
            raise mfusepy.FuseOSError(errno.ENOENT)
        if isinstance(tree, ArchiveEntry):
            entry = tree
            try:
                tree = self._trees[name] = self._load(entry, self._archive_inodes[name])
            except HutchError as e:
                self.on_error(f"archive {entry.name!r} cannot be shown: {e}")
                raise mfusepy.FuseOSError(errno.EIO) from None
        return tree, rest

    def _item(self, path: str) -> tuple[ArchiveTree | None, int, dict]:
        tree, rel = self._find(path)
        if tree is None:
            return None, 1, self._top
        inode, item = tree.lookup(rel)
        return tree, inode, item

    # -- operations -------------------------------------------------------

    def init(self, path: str) -> None:
        self.on_mounted()

    def getattr(self, path: str, fh: int | None = None) -> dict:
        tree, inode, item = self._item(path)
        mode = item["mode"]
        nlink = 1
        if stat.S_ISDIR(mode):
            nlink = 2
        elif tree is not None and item.get("hlid") in tree.hardlinks:
            nlink = tree.hardlinks[item["hlid"]][1]
        size = self._size(tree, item)
        if stat.S_ISLNK(mode):
            size = len(item.get("target", b""))
        uid, gid = item.get("uid", 0), item.get("gid", 0)
        if not self.numeric_ids:
            uid, gid = user_id(item.get("user"), uid), group_id(item.get("group"), gid)
        mtime = item.get("mtime", 0)
        return {
            "st_ino": inode,
            "st_mode": mode,
            "st_nlink": nlink,
            "st_uid": uid,
            "st_gid": gid,
            "st_size": size,
            "st_blocks": (size + 511) // 512,
            "st_blksize": 64 * 1024,
            "st_rdev": item.get("rdev", 0),
            "st_mtime": mtime,
            "st_atime": item.get("atime", mtime),
            "st_ctime": item.get("ctime", mtime),
        }

    def _size(self, tree: ArchiveTree | None, item: dict) -> int:
        if not stat.S_ISREG(item["mode"]):
            return 0
        if "size" in item:
            return item["size"]
        return sum(size for _, size in self._chunks(tree, item))

    def _chunks(self, tree: ArchiveTree | None, item: dict) -> list:
        chunks = item.get("chunks")
        if not chunks and tree is not None and item.get("hlid") in tree.hardlinks:
            chunks = tree.hardlinks[item["hlid"]][2]
        return chunks or []

    def readdir(self, path: str, fh: int) -> list[tuple[str, dict, int]]:
        """Entries with their inode numbers: with use_ino, an entry without
        one would have inode 0, which readdir(3) skips."""
        tree, rel = self._find(path)
        if tree is None:
            here = 1
            entries = list(self._archive_inodes.items())
        else:
            if rel not in tree.children:
                raise mfusepy.FuseOSError(errno.ENOTDIR if rel in tree.nodes else errno.ENOENT)
            here = tree.nodes[rel][0]
            prefix = rel + b"/" if rel else b""
            entries = [(n, tree.nodes[prefix + n][0]) for n in tree.children[rel]]
        result = [(".", {"st_ino": here}, 0), ("..", {"st_ino": 1}, 0)]
        for name, inode in entries:
            result.append((name.decode(_ENC, _ERRORS), {"st_ino": inode}, 0))
        return result

    def readlink(self, path: str) -> str:
        _, _, item = self._item(path)
        if not stat.S_ISLNK(item["mode"]):
            raise mfusepy.FuseOSError(errno.EINVAL)
        return item.get("target", b"").decode(_ENC, _ERRORS)

    def listxattr(self, path: str) -> list[str]:
        return [n.decode(_ENC, _ERRORS) for n in _xattrs(self._item(path)[2])]

    def getxattr(self, path: str, name: str, position: int = 0) -> bytes:
        value = _xattrs(self._item(path)[2]).get(name.encode(_ENC, _ERRORS))
        if value is None:
            raise mfusepy.FuseOSError(mfusepy.ENOATTR)
        return value

    def open(self, path: str, flags: int) -> int:
        if flags & _WRITE_FLAGS:
            raise mfusepy.FuseOSError(errno.EROFS)
        tree, _, item = self._item(path)
        if not stat.S_ISREG(item["mode"]):
            raise mfusepy.FuseOSError(errno.EISDIR if stat.S_ISDIR(item["mode"]) else errno.EIO)
        fh = self._next_fh
        self._next_fh += 1
        self._open[fh] = _OpenFile(path, self._chunks(tree, item), self._size(tree, item))
        return fh

    def release(self, path: str, fh: int) -> int:
        self._open.pop(fh, None)
        return 0

    def read(self, path: str, size: int, offset: int, fh: int) -> bytes:
        f = self._open[fh]
        end = min(offset + size, f.size)
        if offset >= end or not f.ids:
            return b""
        index = bisect_right(f.starts, offset) - 1
        parts = []
        pos = offset
        while pos < end and index < len(f.ids):
            data = self._chunk(f, index)
            start = f.starts[index]
            if pos - start >= len(data):
                break  # stored size and data disagree: no more to give
            piece = data[pos - start : end - start]
            parts.append(piece)
            pos += len(piece)
            index += 1
        return b"".join(parts)

    def statfs(self, path: str) -> dict:
        return {"f_bsize": 64 * 1024, "f_frsize": 64 * 1024, "f_namemax": 255}

    # -- chunks -----------------------------------------------------------

    def _chunk(self, f: _OpenFile, index: int) -> bytes:
        cid = f.ids[index]
        data = self._cache.get(cid)
        forward = index == f.last + 1
        f.last = index
        if data is not None:
            self._cache.move_to_end(cid)
            return data
        wanted = [cid]
        if forward:
            for ahead in f.ids[index + 1 : index + 1 + READ_AHEAD]:
                if ahead in self._cache or ahead in wanted:
                    break
                wanted.append(ahead)
        results = self.reader.iter_get(ObjectKind.CHUNK, wanted)
        first = next(results)  # the chunk asked for comes first
        if isinstance(first, HutchError):
            self.on_error(f"{f.path}: cannot read: {first}")
            raise mfusepy.FuseOSError(errno.EIO)
        self._remember(cid, first)
        for got_id, got in zip(wanted[1:], results, strict=True):
            # Only read ahead: a chunk that fails is reported by the read that needs it.
            if not isinstance(got, HutchError):
                self._remember(got_id, got)
        return first

    def _remember(self, cid: bytes, data: bytes) -> None:
        if cid in self._cache:
            return
        self._cache[cid] = data
        self._cache_bytes += len(data)
        while self._cache_bytes > CACHE_BYTES and len(self._cache) > 1:
            _, old = self._cache.popitem(last=False)
            self._cache_bytes -= len(old)


def _xattrs(item: dict) -> dict[bytes, bytes]:
    xattrs = dict(item.get("xattrs") or {})
    for key, name in (("acl_access", ACL_ACCESS), ("acl_default", ACL_DEFAULT)):
        if key in item:
            xattrs[name] = item[key]
    return xattrs


def _archive_time(entry: ArchiveEntry) -> int:
    try:
        return int(datetime.datetime.fromisoformat(entry.time).timestamp() * 1e9)
    except (TypeError, ValueError):
        return time.time_ns()


def mount(fs: HutchFS, mountpoint: str, options: dict) -> None:
    """Serve `fs` at `mountpoint` until it is unmounted (in this process:
    daemonizing is the caller's business). options: FUSE -o options."""
    opts = {
        "fsname": "hutch",
        "ro": True,
        "default_permissions": True,
        "use_ino": True,
        "kernel_cache": True,
    }
    opts.update(options)
    mfusepy.FUSE(
        fs, mountpoint, foreground=True, nothreads=True, encoding=_ENC, errors=_ERRORS, **opts
    )
