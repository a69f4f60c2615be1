"""A store wrapper that ties locks to the connection that took them.

The server stacks it for every client: a client may create, refresh and
remove only the lock objects it wrote itself (breaking others' locks needs
permissions `all`), and when the client goes away, for whatever reason,
closing the store removes its locks at once, so a lock never outlives its
holder's connection.
"""

from ..errors import PermissionDenied, StoreError
from .base import split_name
from .wrapper import StoreWrapper


class LockOwnerStore(StoreWrapper):
    def __init__(self, inner, may_break_locks: bool):
        super().__init__(inner)
        self.may_break_locks = may_break_locks
        self.own_locks: set[str] = set()

    def _check(self, name: str, what: str) -> bool:
        """True if `name` is a lock; PermissionDenied if it is someone else's."""
        namespace, _ = split_name(name)
        if namespace != "locks":
            return False
        if name not in self.own_locks and not self.may_break_locks:
            raise PermissionDenied(f"permission denied: {what} another client's lock {name}")
        return True

    def put(self, name: str, data: bytes, overwrite: bool = False) -> None:
        namespace, _ = split_name(name)
        if namespace == "locks" and name not in self.own_locks:
            # A new lock of ours, or an attempt on someone else's: only a
            # name that does not exist yet may be taken.
            self.inner.put(name, data, overwrite=False)
            self.own_locks.add(name)
            return
        self.inner.put(name, data, overwrite)

    def delete(self, name: str) -> None:
        if self._check(name, "removing"):
            self.own_locks.discard(name)
        self.inner.delete(name)

    def close(self) -> None:
        for name in list(self.own_locks):
            try:
                self.inner.delete(name)
            except StoreError:
                pass
        self.own_locks.clear()
        self.inner.close()
