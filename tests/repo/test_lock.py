"""Locks: shared and exclusive, waiting, stale locks, a lock taken away."""

import socket
import time

import msgpack
import pytest

from hutch.crypto.key import Key
from hutch.errors import LockLost, LockTimeout
from hutch.repo import lock as lock_mod
from hutch.repo.lock import Lock, break_locks
from hutch.store.memory import MemoryStore


@pytest.fixture
def store():
    s = MemoryStore()
    s.create()
    return s


def test_shared_locks_coexist(store):
    with Lock(store, exclusive=False, wait=0.2), Lock(store, exclusive=False, wait=0.2):
        assert len(store.list("locks")) == 2
    assert store.list("locks") == []


def test_exclusive_waits_and_names_the_holder(store):
    with Lock(store, exclusive=False, wait=0.2):
        started = time.monotonic()
        with pytest.raises(LockTimeout) as err:
            Lock(store, exclusive=True, wait=0.5).acquire()
        assert time.monotonic() - started >= 0.5
        assert "Failed to create/acquire the lock" in str(err.value)
        assert "pid" in str(err.value) and "since" in str(err.value)
    # The loser left nothing behind.
    assert store.list("locks") == []


def test_stale_lock_is_ignored_and_removed(store):
    old = {
        "host": "elsewhere",
        "pid": 1,
        "since": 0,
        "beat": time.time() - 10_000,
        "exclusive": True,
    }
    store.put("locks/" + "a" * 32, msgpack.packb(old))
    with Lock(store, exclusive=True, wait=0.2):
        names = [i.name for i in store.list("locks")]
        assert "locks/" + "a" * 32 not in names


def test_lock_of_dead_local_process_is_stale(store):
    dead = {
        "host": lock_mod.host_id(),
        "pid": 2**22 + 12345,
        "since": 0,
        "beat": time.time(),
        "exclusive": True,
    }
    store.put("locks/" + "b" * 32, msgpack.packb(dead))
    with Lock(store, exclusive=True, wait=0.2):
        pass


def test_lock_taken_away_is_noticed(store, monkeypatch):
    monkeypatch.setattr(lock_mod, "HEARTBEAT", 0.05)
    held = Lock(store, exclusive=False, wait=0.2).acquire()
    held.check()
    assert break_locks(store) == 1
    deadline = time.monotonic() + 5
    while not held.lost and time.monotonic() < deadline:
        time.sleep(0.02)
    with pytest.raises(LockLost):
        held.check()
    held.release()


def test_lock_record_names_no_host_in_clear(store):
    key = Key.generate("repokey", b"r" * 32)
    with Lock(store, exclusive=True, wait=0.2, cipher=key.cipher()):
        (info,) = store.list("locks")
        assert socket.gethostname().encode() not in store.get(info.name)
        with pytest.raises(LockTimeout) as err:
            Lock(store, exclusive=True, wait=0.1, cipher=key.cipher()).acquire()
        assert f"held by {socket.gethostname()} pid" in str(err.value)


@pytest.mark.parametrize(
    "garbage",
    [
        b"\xc1 not msgpack",
        msgpack.packb([1, 2, 3]),
        msgpack.packb({"beat": "soon", "since": "long ago", "pid": "x"}),
    ],
)
def test_unreadable_lock_is_held_not_swept(store, garbage):
    store.put("locks/" + "c" * 32, garbage)
    with pytest.raises(LockTimeout) as err:
        Lock(store, exclusive=True, wait=0.1).acquire()
    message = str(err.value)
    # The lock object is named, with what to do; no made-up holder.
    assert "locks/" + "c" * 32 in message and "break-lock" in message, message
    assert "None" not in message and "1970" not in message, message
    assert "locks/" + "c" * 32 in [i.name for i in store.list("locks")]
