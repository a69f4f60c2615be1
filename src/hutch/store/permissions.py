"""Permission enforcement as a store wrapper, so every backend gets it.

Modes (as `hutch serve --permissions` documents them):
- all: everything.
- no-delete: read and add; never delete or overwrite existing data.
- write-only: add, but read nothing that exists (listing names is allowed so
  that deduplication works; contents stay unreadable).
- read-only: read; write nothing but the client's own lock.

Locks are exempt: every client must be able to take, refresh and release
its lock whatever its permissions. A lock is never data, so this hides or
damages nothing that is stored; lockowner.py bounds what a client may put
there. The arrival records (`arrivals/`) are the server's own: only a
client with `all` may write or delete them.
"""

import builtins

from ..errors import PermissionDenied, UsageError
from .base import Leftover, ObjectInfo, split_name
from .wrapper import StoreWrapper

MODES = ("all", "no-delete", "write-only", "read-only")
_ABILITIES = {
    "all": {"read", "add", "delete"},
    "no-delete": {"read", "add"},
    "write-only": {"add"},
    "read-only": {"read"},
}

# Namespaces a write-only client may read: config and key are needed to
# write at all, the index to deduplicate. None of them holds file data or
# metadata: the index maps keyed chunk ids to places in packs.
_WRITE_ONLY_READABLE = ("config", "keys", "locks", "index")


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise UsageError(f"unknown permissions {mode!r}; choose one of {', '.join(MODES)}")
    return mode


def strictest(modes: list[str]) -> str:
    """The mode that allows only what every one of `modes` allows:
    combining restrictions never widens them."""
    allowed = set.intersection(*(_ABILITIES[check_mode(m)] for m in modes))
    for mode, abilities in _ABILITIES.items():
        if abilities == allowed:
            return mode
    raise UsageError(
        f"permissions {' and '.join(sorted(set(modes)))} together allow nothing; choose one"
    )


class PermissionStore(StoreWrapper):
    def __init__(self, inner, mode: str):
        super().__init__(inner)
        self.mode = check_mode(mode)

    def _deny(self, what: str, name: str):
        raise PermissionDenied(
            f"permission denied: {what} {name} is not allowed with permissions {self.mode}"
        )

    def create(self) -> None:
        if self.mode == "read-only":
            self._deny("creating a repository at", self.location)
        self.inner.create()

    def destroy(self) -> None:
        if self.mode != "all":
            self._deny("deleting the repository", self.location)
        self.inner.destroy()

    def put(self, name: str, data: bytes | bytearray, overwrite: bool = False) -> None:
        namespace, _ = split_name(name)
        if namespace == "arrivals" and self.mode != "all":
            self._deny("writing the server's record", name)
        if namespace != "locks":
            if self.mode == "read-only":
                self._deny("writing", name)
            if overwrite and self.mode != "all":
                # Refuse even where the object is new: "overwrite" is what was asked.
                self._deny("overwriting", name)
        self.inner.put(name, data, overwrite)

    def _check_read(self, name: str) -> None:
        namespace, _ = split_name(name)
        if self.mode == "write-only" and namespace not in _WRITE_ONLY_READABLE:
            self._deny("reading", name)

    def get(self, name: str, offset: int = 0, length: int | None = None) -> bytes | bytearray:
        self._check_read(name)
        return self.inner.get(name, offset, length)

    def get_many(self, requests):
        for name, _, _ in requests:
            self._check_read(name)
        return self.inner.get_many(requests)

    def delete(self, name: str) -> None:
        namespace, _ = split_name(name)
        if namespace != "locks" and self.mode != "all":
            self._deny("deleting", name)
        self.inner.delete(name)

    def info(self, name: str) -> ObjectInfo:
        return self.inner.info(name)

    def list(self, namespace: str) -> list[ObjectInfo]:
        return self.inner.list(namespace)

    def leftovers(self, remove_older_than: float | None = None) -> builtins.list[Leftover]:
        if remove_older_than is not None and self.mode != "all":
            self._deny("removing the temporary files of interrupted writes in", self.location)
        return self.inner.leftovers(remove_older_than)
