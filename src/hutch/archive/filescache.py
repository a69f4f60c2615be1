"""The files cache: what a file looked like when it was last backed up and
which chunks hold it, so an unchanged file is not read again.

One cache per repository and archive series, a msgpack file under the cache
dir. A new series starts from the most recently written cache of the
repository, so a backup under a new archive name does not read everything.
Keys are keyed hashes of paths (the cache holds no names in clear).
An entry not seen for MAX_AGE backups is dropped.
"""

import os

import msgpack

from ..errors import UsageError

MAX_AGE = 20
_VERSION = 1
_MODES = {
    "ctime,size,inode",
    "mtime,size,inode",
    "ctime,size",
    "mtime,size",
    "disabled",
}


def check_mode(mode: str) -> str:
    normalized = ",".join(sorted(mode.split(","), key=("ctime", "mtime", "size", "inode").index))
    if normalized not in _MODES and mode not in _MODES:
        raise UsageError(
            f"invalid files cache mode {mode!r}; use ctime,size,inode (default), "
            "mtime,size,inode, ctime,size, mtime,size or disabled"
        )
    return normalized if normalized in _MODES else mode


class FilesCache:
    def __init__(self, path: str | None, mode: str, key):
        self.path = path
        self.mode = check_mode(mode)
        self.key = key
        self.enabled = self.mode != "disabled" and path is not None
        self._use_ctime = "ctime" in self.mode
        self._use_inode = "inode" in self.mode
        self._entries: dict[bytes, list] = {}
        if self.enabled:
            self._load()

    def _load(self) -> None:
        path = self.path if os.path.exists(self.path) else _latest_sibling(self.path)
        if path is None:
            return
        try:
            with open(path, "rb") as f:
                d = msgpack.unpackb(f.read())
            if d.get("v") == _VERSION:
                self._entries = d["entries"]
        except (OSError, ValueError, TypeError, KeyError, msgpack.UnpackException):
            self._entries = {}  # missing or damaged: start over, costs one full read

    def _key(self, path: bytes) -> bytes:
        return self.key.opaque_id(b"files cache path", path)[:16]

    def _signature(self, st: os.stat_result) -> list:
        return [
            st.st_ctime_ns if self._use_ctime else st.st_mtime_ns,
            st.st_size,
            st.st_ino if self._use_inode else 0,
        ]

    def lookup(self, path: bytes, st: os.stat_result) -> list | None:
        """The chunk list of an unchanged file, or None."""
        if not self.enabled:
            return None
        entry = self._entries.get(self._key(path))
        if entry is None or entry[0] != self._signature(st):
            return None
        entry[1] = 0  # seen: age back to zero
        return entry[2]

    def remember(self, path: bytes, st: os.stat_result, chunks: list, start_ns: int) -> None:
        if not self.enabled:
            return
        # A file changed within the timestamp granularity around the start of
        # the backup could change again without a new timestamp: don't trust it.
        if max(st.st_mtime_ns, st.st_ctime_ns) >= start_ns - 1_000_000_000:
            return
        self._entries[self._key(path)] = [self._signature(st), 0, chunks]

    def save(self) -> None:
        if not self.enabled:
            return
        kept = {}
        for k, entry in self._entries.items():
            entry[1] += 1
            if entry[1] <= MAX_AGE:
                kept[k] = entry
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        tmp = f"{self.path}.tmp{os.getpid()}"
        with open(tmp, "wb") as f:
            f.write(msgpack.packb({"v": _VERSION, "entries": kept}))
        os.replace(tmp, self.path)


def _latest_sibling(path: str) -> str | None:
    folder = os.path.dirname(path)
    try:
        names = [n for n in os.listdir(folder) if n.startswith("files-") and ".tmp" not in n]
    except FileNotFoundError:
        return None
    paths = [os.path.join(folder, n) for n in names]
    return max(paths, key=os.path.getmtime) if paths else None
