"""A store wrapper that ties locks to the connection that took them.

The server stacks it for every client: a client may create, refresh and
remove only the lock objects it wrote itself (breaking others' locks needs
permissions `all`), and when the client goes away, for whatever reason,
closing the store removes its locks at once, so a lock never outlives its
holder's connection.

Locks are exempt from permissions (a read-only client must be able to
lock), so this is also where they are kept small: at most MAX_LOCKS lock
objects per connection, each a well-formed lock record of at most
MAX_LOCK_SIZE bytes. The server times them: `since` and `beat` are
stamped from its own clock on every write, so no client can hold a lock
with a heartbeat from the future.
"""

import msgpack

from ..errors import PermissionDenied, StoreError, UsageError
from .base import split_name
from .wrapper import StoreWrapper

MAX_LOCKS = 4
MAX_LOCK_SIZE = 4096
_FIELDS: dict[str, type | tuple[type, ...]] = {
    "host": str,
    "pid": int,
    "since": (int, float),
    "beat": (int, float),
}
_OPTIONAL: dict[str, type | tuple[type, ...]] = {"exclusive": bool, "who": bytes}


def _stamped(data: bytes | bytearray, since: float, now: float) -> bytes:
    """The lock record `data` with the server's times; UsageError if it is
    not a lock record."""
    try:
        record = msgpack.unpackb(data) if len(data) <= MAX_LOCK_SIZE else None
    except (ValueError, TypeError, msgpack.UnpackException):
        record = None
    allowed = {**_FIELDS, **_OPTIONAL}
    if (
        not isinstance(record, dict)
        or not all(isinstance(record.get(k), t) for k, t in _FIELDS.items())
        or not all(k in allowed and isinstance(v, allowed[k]) for k, v in record.items())
    ):
        raise UsageError(f"a lock must be a lock record of at most {MAX_LOCK_SIZE} bytes")
    record["since"], record["beat"] = since, now
    return msgpack.packb(record)


class LockOwnerStore(StoreWrapper):
    def __init__(self, inner, may_break_locks: bool, clock=None):
        super().__init__(inner)
        self.may_break_locks = may_break_locks
        self._clock = clock or inner.now
        self.own_locks: dict[str, float] = {}  # name -> since (server time)

    def _check(self, name: str, what: str) -> bool:
        """True if `name` is a lock; PermissionDenied if it is someone else's."""
        namespace, _ = split_name(name)
        if namespace != "locks":
            return False
        if name not in self.own_locks and not self.may_break_locks:
            raise PermissionDenied(f"permission denied: {what} another client's lock {name}")
        return True

    def put(self, name: str, data: bytes | bytearray, overwrite: bool = False) -> None:
        namespace, _ = split_name(name)
        if namespace != "locks":
            self.inner.put(name, data, overwrite)
            return
        now = self._clock()
        if name in self.own_locks:
            self.inner.put(name, _stamped(data, self.own_locks[name], now), overwrite=True)
            return
        if len(self.own_locks) >= MAX_LOCKS:
            raise PermissionDenied(
                f"permission denied: a connection may hold at most {MAX_LOCKS} locks"
            )
        # A new lock of ours, or an attempt on someone else's: only a name
        # that does not exist yet may be taken.
        self.inner.put(name, _stamped(data, now, now), overwrite=False)
        self.own_locks[name] = now

    def delete(self, name: str) -> None:
        if self._check(name, "removing"):
            self.own_locks.pop(name, None)
        self.inner.delete(name)

    def close(self) -> None:
        for name in list(self.own_locks):
            try:
                self.inner.delete(name)
            except StoreError:
                pass
        self.own_locks.clear()
        self.inner.close()
