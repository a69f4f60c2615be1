"""The one narrow interface every store backend and wrapper implements.

Names are `namespace/key`, both parts made of `[A-Za-z0-9._-]` and never
starting with a dot. A store knows nothing about what it holds.

Contract:
- `put` writes atomically: a reader sees the old object, no object, or the
  whole new one, never a part; after `put` returns, the object survives a
  crash. Without `overwrite=True` an existing name raises `ObjectExists`.
- `get` with `offset`/`length` returns that byte range; a range running past
  the end is cut at the end (a short read), never padded. A missing object
  raises `ObjectNotFound`.
- `delete` of a missing object raises `ObjectNotFound`.
- `list` yields the objects of a namespace in no particular order; objects
  that are being written (temporary files) are never listed.
- `ObjectNotFound`, `ObjectExists` and `PermissionDenied` are permanent;
  other `StoreError`s may be transient.
- `leftovers` names what interrupted puts left behind (a writer killed in
  the middle of writing a temporary file): never objects, never listed by
  `list`. With `remove_older_than`, it removes those not written to for at
  least that many seconds -- the store's own clock judges the age, so a
  put still under way keeps its file -- which needs permission to delete.
  Backends whose puts leave nothing behind return an empty list.
"""

import builtins
import re
import time
from dataclasses import dataclass

from ..errors import UsageError

NAMESPACES = (
    "config",
    "keys",
    "packs",
    "index",
    "refs",
    "archives",
    "deleted",
    "locks",
    "arrivals",
)
_PART = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}")


@dataclass(frozen=True)
class ObjectInfo:
    name: str
    size: int


@dataclass(frozen=True)
class Leftover:
    """A temporary file that an interrupted put left behind."""

    name: str  # where it is in the store, e.g. packs/ab/.tmp-k2j3 (no object name)
    size: int
    age: float  # seconds since it was last written
    removed: bool = False


def split_name(name: str) -> tuple[str, str]:
    """Split and validate `namespace/key`; refuse anything else."""
    namespace, sep, key = name.partition("/")
    if not sep or namespace not in NAMESPACES or not _PART.fullmatch(key):
        raise UsageError(f"invalid store object name: {name!r}")
    return namespace, key


class Store:
    """Abstract store. Backends and wrappers override every method."""

    def create(self) -> None:
        """Create an empty store; refuse if something is already there."""
        raise NotImplementedError

    def destroy(self) -> None:
        """Remove the store and everything in it."""
        raise NotImplementedError

    def exists(self) -> bool:
        """Whether a store has been created at this location."""
        raise NotImplementedError

    def put(self, name: str, data: bytes | bytearray, overwrite: bool = False) -> None:
        raise NotImplementedError

    def get(self, name: str, offset: int = 0, length: int | None = None) -> bytes | bytearray:
        raise NotImplementedError

    def get_many(self, requests: list[tuple[str, int, int | None]]) -> list[bytes | bytearray]:
        """Several `get`s at once; remote backends batch them in one round trip."""
        return [self.get(name, offset, length) for name, offset, length in requests]

    def delete(self, name: str) -> None:
        raise NotImplementedError

    def info(self, name: str) -> ObjectInfo:
        raise NotImplementedError

    def list(self, namespace: str) -> list[ObjectInfo]:
        raise NotImplementedError

    def leftovers(self, remove_older_than: float | None = None) -> builtins.list[Leftover]:
        """What interrupted puts left behind; see the contract above. This
        default is for backends whose puts are atomic (object stores)."""
        return []

    @property
    def parallel_puts(self) -> int:
        """How many puts are worth running at once: one where a put is bound
        by the disk, more where each one mostly waits out network latency."""
        return 1

    @property
    def write_once_enforced(self) -> bool:
        """Whether a put without `overwrite` is refused where the object
        exists. Only object storage can say no: a service that ignores
        conditional writes (If-None-Match), as `create` finds out."""
        return True

    def now(self) -> float:
        """The store's clock (seconds since the epoch). Lock heartbeats are
        stamped and judged on it, so that clients whose clocks disagree
        still agree on which locks are stale. Locally: this machine's."""
        return time.time()

    def close(self) -> None:
        """Release what the store holds; the object is unusable afterwards."""

    @property
    def location(self) -> str:
        """Where this store lives, for messages and cache keys."""
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
