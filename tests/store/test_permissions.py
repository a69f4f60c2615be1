"""The permission wrapper: every mode against every operation. The wrapper
is the same whatever it wraps, so a memory store serves (the server's
enforcement end to end is in tests/remote)."""

import pytest

from hutch.errors import PermissionDenied, UsageError
from hutch.store.memory import MemoryStore
from hutch.store.permissions import MODES, PermissionStore

ALL = set(MODES)
# operation -> modes that allow it (store/permissions.py's docstring)
ALLOWED = {
    "get data": {"all", "no-delete", "read-only"},
    "get_many data": {"all", "no-delete", "read-only"},
    "get config": ALL,
    "get key": ALL,
    "put new data": {"all", "no-delete", "write-only"},
    "overwrite data": {"all"},
    "put with overwrite, new name": {"all"},
    "delete data": {"all"},
    "put new lock": ALL,
    "refresh lock": ALL,
    "delete lock": ALL,
    "list": ALL,
    "info": ALL,
    "list leftovers": ALL,
    "remove leftovers": {"all"},
    "destroy": {"all"},
}


def _operation(store, op: str):
    if op == "get data":
        return store.get("packs/p1")
    if op == "get_many data":
        return store.get_many([("archives/a1", 0, None), ("config/config", 0, 2)])
    if op == "get config":
        return store.get("config/config")
    if op == "get key":
        return store.get("keys/repokey")
    if op == "put new data":
        return store.put("packs/p2", b"new")
    if op == "overwrite data":
        return store.put("archives/a1", b"changed", overwrite=True)
    if op == "put with overwrite, new name":
        return store.put("archives/a2", b"new", overwrite=True)
    if op == "delete data":
        return store.delete("packs/p1")
    if op == "put new lock":
        return store.put("locks/mine", b"lock")
    if op == "refresh lock":
        return store.put("locks/held", b"beat", overwrite=True)
    if op == "delete lock":
        return store.delete("locks/held")
    if op == "list":
        return store.list("packs")
    if op == "info":
        return store.info("packs/p1")
    if op == "list leftovers":
        return store.leftovers()
    if op == "remove leftovers":
        return store.leftovers(remove_older_than=3600)
    assert op == "destroy"
    return store.destroy()


@pytest.fixture
def new_store():
    return MemoryStore()


@pytest.fixture
def store(new_store):
    new_store.create()
    return new_store


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("op", list(ALLOWED))
def test_mode_and_operation(store, mode, op):
    for name, data in (
        ("packs/p1", b"pack"),
        ("archives/a1", b"archive"),
        ("config/config", b"config"),
        ("keys/repokey", b"key"),
        ("locks/held", b"lock"),
    ):
        store.put(name, data)
    before = {ns: {i.name for i in store.list(ns)} for ns in ("packs", "archives", "locks")}
    wrapped = PermissionStore(store, mode)
    if mode in ALLOWED[op]:
        _operation(wrapped, op)
        return
    with pytest.raises(PermissionDenied) as err:
        _operation(wrapped, op)
    assert mode in str(err.value)
    # A refused operation changed nothing.
    assert store.exists()
    assert {ns: {i.name for i in store.list(ns)} for ns in before} == before
    assert store.get("archives/a1") == b"archive"


def test_create_is_refused_read_only(new_store):
    with pytest.raises(PermissionDenied):
        PermissionStore(new_store, "read-only").create()
    assert not new_store.exists()
    PermissionStore(new_store, "write-only").create()
    assert new_store.exists()


def test_unknown_mode(store):
    with pytest.raises(UsageError):
        PermissionStore(store, "everything")
