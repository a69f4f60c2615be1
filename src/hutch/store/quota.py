"""A storage quota as a store wrapper: the server caps how large a client
may make the repository (`serve --storage-quota`, `pull --storage-quota`).

The repository's size is counted once, when the wrapper first needs it,
and kept up to date with what passes through. A put that would take the
repository past the quota is refused before anything is written, so a
client that reaches the quota leaves no half-written object behind: its
backup fails cleanly and the repository stays usable (compact, run by
someone allowed to delete, gives the space back).
"""

import threading

from ..errors import ObjectNotFound, StoreError
from .base import NAMESPACES, split_name
from .wrapper import StoreWrapper


class QuotaExceeded(StoreError):
    """The put would take the repository past its storage quota."""


class QuotaStore(StoreWrapper):
    def __init__(self, inner, limit: int):
        super().__init__(inner)
        self.limit = limit
        self._used: int | None = None
        self._lock = threading.Lock()

    @property
    def used(self) -> int:
        with self._lock:
            if self._used is None:
                self._used = sum(i.size for ns in NAMESPACES for i in self.inner.list(ns))
            return self._used

    def put(self, name: str, data: bytes | bytearray, overwrite: bool = False) -> None:
        if split_name(name)[0] == "locks":  # small and bounded (lockowner.py)
            self.inner.put(name, data, overwrite)
            return
        size = len(data)
        used = self.used
        with self._lock:
            if used + size > self.limit:
                raise QuotaExceeded(
                    f"storage quota exceeded: the repository holds {used} bytes of "
                    f"{self.limit} allowed, and {name} needs {size} more; ask the server's "
                    "admin to prune and compact it, or to raise --storage-quota"
                )
            self._used = used + size  # reserved before writing: concurrent puts count
        try:
            self.inner.put(name, data, overwrite)
        except BaseException:
            with self._lock:
                self._used -= size
            raise

    def delete(self, name: str) -> None:
        try:
            size = self.inner.info(name).size
        except ObjectNotFound:
            size = 0
        self.inner.delete(name)
        if self._used is not None:
            with self._lock:
                self._used -= size
