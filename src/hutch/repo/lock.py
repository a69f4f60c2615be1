"""Repository locks: shared (backups, restores, listings) and exclusive
(key changes, and later compact and check).

A lock is an object `locks/<random>` naming its holder. To take one, a
client writes its own lock and then looks at the others: if they conflict,
it removes its own and waits. A heartbeat thread refreshes the lock; a lock
whose heartbeat is older than STALE_AFTER, or whose holder on this host is
dead, is ignored and removed. A heartbeat more than STALE_AFTER in the
future is not believed either: through `hutch serve` the server stamps the
times, so only a forged record can claim that. Times are the store's
(`Store.now`: the server's, or object storage's), so that clients whose
clocks disagree still agree on which locks are stale.
"""

import os
import random
import socket
import threading
import time

import blake3
import msgpack

from ..crypto.objects import ObjectKind
from ..errors import HutchError, LockLost, LockTimeout, ObjectNotFound, StoreError
from ..store.base import Store

HEARTBEAT = 30.0
_WHO_ID = b"lock holder"
STALE_AFTER = 5 * HEARTBEAT


def host_id() -> str:
    """An opaque, stable id of this machine: lock records say which machine
    holds them without naming it (the name stays encrypted)."""
    try:
        with open("/etc/machine-id", "rb") as f:
            secret = f.read().strip()
    except OSError:
        secret = b""
    return blake3.blake3(b"hutch host\0" + secret + socket.gethostname().encode()).hexdigest()[:16]


class Lock:
    """cipher: the repository's, to seal the holder's host name in the
    record; without it (commands that need no key) the name is left out."""

    def __init__(self, store: Store, exclusive: bool, wait: float = 10.0, cipher=None):
        self.store = store
        self.exclusive = exclusive
        self.wait = wait
        self.cipher = cipher
        self.name = f"locks/{os.urandom(16).hex()}"
        self.host = host_id()
        self.pid = os.getpid()
        self.since = store.now()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.lost = False

    def _record(self) -> bytes:
        record = {
            "host": self.host,
            "pid": self.pid,
            "since": self.since,
            "beat": self.store.now(),
            "exclusive": self.exclusive,
        }
        if self.cipher is not None:
            record["who"] = self.cipher.seal(
                ObjectKind.LOCK, _WHO_ID, socket.gethostname().encode()
            )
        return msgpack.packb(record)

    def _holder(self, record: dict) -> str:
        """Who holds a lock, for messages: the host name if we can open it."""
        who = record.get("who")
        if self.cipher is not None and isinstance(who, bytes):
            try:
                return self.cipher.open(ObjectKind.LOCK, _WHO_ID, who).decode(errors="replace")
            except HutchError:
                pass
        return f"host {record.get('host')}"

    def _others(self) -> list[dict]:
        result = []
        now = self.store.now()
        for info in self.store.list("locks"):
            if info.name == self.name:
                continue
            try:
                rec = msgpack.unpackb(self.store.get(info.name))
                rec["name"] = info.name
            except ObjectNotFound:
                continue
            except (ValueError, TypeError, msgpack.UnpackException):
                # Unreadable: treat it as held, exclusively, until break-lock.
                rec = {"name": info.name, "unreadable": True, "exclusive": True}
            if self._is_stale(rec, now):
                try:
                    self.store.delete(info.name)
                except StoreError:
                    pass
                continue
            result.append(rec)
        return result

    def _is_stale(self, rec: dict, now: float) -> bool:
        if rec.get("unreadable"):
            return False  # held until break-lock
        try:
            beat = float(rec.get("beat", 0))
        except (TypeError, ValueError):
            rec["unreadable"] = True
            return False
        if abs(now - beat) > STALE_AFTER:
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
                raise LockTimeout(self._timeout_message(conflicts[0]))
            time.sleep(delay * (1 + random.random()))
            delay = min(delay * 2, 1.0)
        self._thread = threading.Thread(target=self._beat, daemon=True, name="lock-heartbeat")
        self._thread.start()
        return self

    def _timeout_message(self, holder: dict) -> str:
        start = f"Failed to create/acquire the lock {self.store.location} (timeout)"
        if holder.get("unreadable"):
            return (
                f"{start}: the lock object {holder['name']} cannot be read (damaged, or not "
                "written by hutch) and counts as held; if no hutch process uses the repository, "
                f"remove it with 'hutch break-lock {self.store.location}'"
            )
        try:
            since = time.strftime(
                "%Y-%m-%d %H:%M:%S", time.localtime(float(holder.get("since", 0)))
            )
        except (TypeError, ValueError, OverflowError, OSError):
            since = "an unknown time"
        return (
            f"{start}: held by {self._holder(holder)} pid {holder.get('pid')} since {since} "
            f"({holder['name']}); wait, raise --lock-wait, or 'hutch break-lock' if that "
            "holder is gone"
        )

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT):
            try:
                self.store.info(self.name)
                self.store.put(self.name, self._record(), overwrite=True)
            except ObjectNotFound:
                # Taken as stale (we were suspended?) or broken: whoever took
                # it may be changing the repository; stop writing.
                self.lost = True
                return
            except StoreError:
                continue  # may pass: try again at the next beat
            except (HutchError, OSError):
                # The connection is gone: the command itself fails on its next call.
                self.lost = True
                return

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
