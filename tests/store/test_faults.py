"""The fault-injecting store wrapper that crash and corruption tests use."""

import time

import pytest

from hutch.store.faults import FaultRule, FaultStore, InjectedFault
from hutch.store.memory import MemoryStore


@pytest.fixture
def inner():
    store = MemoryStore()
    store.create()
    for i in range(4):
        store.put(f"packs/p{i}", bytes(range(100)))
        store.put(f"index/s{i}", b"segment")
    return store


def test_raise_on_the_nth_matching_call_only(inner):
    store = FaultStore(inner, [FaultRule("get", prefix="packs/", nth=3)])
    store.get("index/s0")  # other prefixes neither fault nor count
    store.get("packs/p0")
    store.get("packs/p1")
    with pytest.raises(InjectedFault):
        store.get("packs/p2")
    store.get("packs/p3")
    store.get("packs/p2")


def test_times(inner):
    store = FaultStore(inner, [FaultRule("put", nth=2, times=2)])
    store.put("archives/a", b"1")
    for name in ("archives/b", "archives/c"):
        with pytest.raises(InjectedFault):
            store.put(name, b"x")
    store.put("archives/d", b"4")
    assert {i.name for i in inner.list("archives")} == {"archives/a", "archives/d"}
    forever = FaultStore(inner, [FaultRule("delete", times=0)])
    for _ in range(5):
        with pytest.raises(InjectedFault):
            forever.delete("archives/a")
    assert inner.get("archives/a") == b"1"


def test_truncate_and_flip(inner):
    truncating = FaultStore(inner, [FaultRule("get", action="truncate")])
    assert truncating.get("packs/p0") == bytes(range(50))
    assert truncating.get("packs/p0") == bytes(range(100))
    flipping = FaultStore(inner, [FaultRule("get", action="flip")])
    flipped = flipping.get("packs/p0", 10, 20)
    original = bytes(range(10, 30))
    assert len(flipped) == len(original)
    assert sum(a != b for a, b in zip(flipped, original, strict=True)) == 1
    put_flip = FaultStore(inner, [FaultRule("put", action="flip")])
    put_flip.put("archives/f", b"\x00" * 10)
    assert inner.get("archives/f") != b"\x00" * 10
    assert FaultStore(inner, []).get_many([("packs/p1", 0, 3)]) == [bytes(range(3))]


def test_latency(inner):
    store = FaultStore(inner, [FaultRule("list", action="latency", seconds=0.2)])
    start = time.monotonic()
    assert len(store.list("packs")) == 4
    assert time.monotonic() - start >= 0.2
    start = time.monotonic()
    store.list("packs")
    assert time.monotonic() - start < 0.2
