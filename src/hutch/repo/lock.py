"""Repository locks: shared (backups, restores, listings) and exclusive
(key changes, and later compact and check).

A lock is an object `locks/<random>` naming its holder. To take one, a
client writes its own lock and then looks at the others: if they conflict,
it removes its own and waits. A heartbeat thread refreshes the lock; a lock
whose heartbeat is older than STALE_AFTER, or whose holder on this host is
dead, is ignored and removed.
"""

import os
import random
import socket
import threading
import time

import msgpack

from ..errors import LockLost, LockTimeout, ObjectNotFound, StoreError
from ..store.base import Store

HEARTBEAT = 30.0
STALE_AFTER = 5 * HEARTBEAT


class Lock:
    def __init__(self, store: Store, exclusive: bool, wait: float = 10.0):
        self.store = store
        self.exclusive = exclusive
        self.wait = wait
        self.name = f"locks/{os.urandom(16).hex()}"
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.since = time.time()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.lost = False

    def _record(self) -> bytes:
        return msgpack.packb(
            {
                "host": self.host,
                "pid": self.pid,
                "since": self.since,
                "beat": time.time(),
                "exclusive": self.exclusive,
            }
        )

    def _others(self) -> list[dict]:
        result = []
        for info in self.store.list("locks"):
            if info.name == self.name:
                continue
            try:
                rec = msgpack.unpackb(self.store.get(info.name))
                rec["name"] = info.name
            except ObjectNotFound:
                continue
            except (ValueError, TypeError, msgpack.UnpackException):
                rec = {"name": info.name, "beat": 0, "exclusive": True, "host": "?", "pid": 0}
            if self._is_stale(rec):
                try:
                    self.store.delete(info.name)
                except StoreError:
                    pass
                continue
            result.append(rec)
        return result

    def _is_stale(self, rec: dict) -> bool:
        if time.time() - float(rec.get("beat", 0)) > STALE_AFTER:
            return True
        if rec.get("host") == self.host:
            try:
                os.kill(int(rec.get("pid", 0)), 0)
            except ProcessLookupError:
                return True
            except (PermissionError, ValueError, OverflowError):
                pass
        return False

    def acquire(self) -> "Lock":
        deadline = time.monotonic() + self.wait
        delay = 0.05
        while True:
            self.store.put(self.name, self._record(), overwrite=True)
            others = self._others()
            conflicts = [o for o in others if self.exclusive or o.get("exclusive")]
            if not conflicts:
                break
            self.store.delete(self.name)
            if time.monotonic() >= deadline:
                holder = conflicts[0]
                since = time.strftime(
                    "%Y-%m-%d %H:%M:%S", time.localtime(float(holder.get("since", 0)))
                )
                raise LockTimeout(
                    f"Failed to create/acquire the lock {self.store.location} (timeout): held by "
                    f"{holder.get('host')} pid {holder.get('pid')} since {since}; "
                    "wait, raise --lock-wait, or 'hutch break-lock' if that holder is gone"
                )
            time.sleep(delay * (1 + random.random()))
            delay = min(delay * 2, 1.0)
        self._thread = threading.Thread(target=self._beat, daemon=True, name="lock-heartbeat")
        self._thread.start()
        return self

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT):
            try:
                self.store.info(self.name)
            except ObjectNotFound:
                # Taken as stale (we were suspended?) or broken: whoever took
                # it may be changing the repository; stop writing.
                self.lost = True
                return
            except StoreError:
                continue
            try:
                self.store.put(self.name, self._record(), overwrite=True)
            except StoreError:
                pass

    def check(self) -> None:
        """Raise LockLost if the lock was taken from us."""
        if self.lost:
            raise LockLost(
                "the repository lock was removed while this process held it "
                "(stale after a suspend, or break-lock); stopping before writing more"
            )

    def release(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()
        try:
            self.store.delete(self.name)
        except StoreError:
            pass

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


def break_locks(store: Store) -> int:
    count = 0
    for info in store.list("locks"):
        try:
            store.delete(info.name)
            count += 1
        except ObjectNotFound:
            pass
    return count
