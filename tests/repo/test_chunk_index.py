"""The compact chunk index: every entry found after merges, nothing
invented, first location kept, about 50 bytes per chunk."""

import os
import random
import sys

from hutch.repo import index as index_mod
from hutch.repo.index import ChunkIndex


def _ids(n, seed=1):
    rnd = random.Random(seed)
    return [rnd.randbytes(32) for _ in range(n)]


def test_entries_survive_merges_and_round_trip(monkeypatch):
    monkeypatch.setattr(index_mod, "MERGE_AT", 100)
    idx = ChunkIndex()
    ids = _ids(5000)
    for p in range(50):
        idx.add_pack(
            f"pack{p}", [(i, n * 10, n + 1) for n, i in enumerate(ids[p * 100 : p * 100 + 100])]
        )
    assert len(idx) == 5000
    for p in (0, 17, 49):
        n = 42
        assert idx.lookup(ids[p * 100 + n]) == (f"pack{p}", n * 10, n + 1)
    for other in _ids(200, seed=2):
        assert other not in idx
    again = ChunkIndex.from_parts(*idx.parts())
    assert len(again) == 5000
    assert all(i in again for i in ids[::97])
    assert again.lookup(ids[4999]) == ("pack49", 990, 100)


def test_first_location_wins(monkeypatch):
    monkeypatch.setattr(index_mod, "MERGE_AT", 1)
    idx = ChunkIndex()
    cid = os.urandom(32)
    idx.add_pack("a", [(cid, 0, 5)])
    idx.add_pack("b", [(cid, 7, 5), (os.urandom(32), 0, 1)])
    assert idx.lookup(cid) == ("a", 0, 5)


def _bytes_held(idx: ChunkIndex) -> int:
    table = idx._table
    size = sys.getsizeof(table.prefixes) + sys.getsizeof(table.records)
    size += sys.getsizeof(idx._recent)
    for key, value in idx._recent.items():
        size += sys.getsizeof(key) + sys.getsizeof(value) + sum(map(sys.getsizeof, value))
    return size


def test_at_most_fifty_bytes_per_chunk_at_any_moment(monkeypatch):
    # Scaled down: with 500 as the floor, the bound holds from 24,000 chunks
    # on (as it does from 786,432 with the real floor).
    monkeypatch.setattr(index_mod, "MERGE_AT", 500)
    idx = ChunkIndex()
    rnd = random.Random(6)
    worst = 0.0
    for p in range(300):
        entries = [
            (rnd.randbytes(32), rnd.randrange(1 << 24), 1 + rnd.randrange(1 << 22))
            for _ in range(200)
        ]
        idx.add_pack(f"{p:064x}", entries)
        if len(idx) >= 500 * index_mod.MERGE_SHARE:
            worst = max(worst, _bytes_held(idx) / len(idx))
    assert 44 < worst <= 50, worst


def test_ids_that_are_not_spread_evenly_are_found(monkeypatch):
    # Planted entries need not be hashes: long shared prefixes, runs of
    # neighbours and the ends of the id space must not lead the search astray.
    monkeypatch.setattr(index_mod, "MERGE_AT", 10)
    rnd = random.Random(3)
    skewed = [bytes(24) + rnd.randbytes(8) for _ in range(300)]
    skewed += [b"\xff" * 31 + bytes([n]) for n in range(200)]
    skewed += [n.to_bytes(32, "big") for n in range(300)]
    skewed += _ids(300, seed=4)
    pair = [b"\x80\x00\x00\x07" + rnd.randbytes(28) for _ in range(2)]  # exactly two share it
    single = b"\x90\x00\x00\x07" + b"\x40" * 28  # alone with its prefix
    skewed += [*pair, single]
    idx = ChunkIndex()
    idx.add_pack("p", [(cid, n, 1) for n, cid in enumerate(skewed)])
    idx._merge()
    for n, cid in enumerate(skewed):
        assert idx.lookup(cid) == ("p", n, 1)
    # Absent ids that share their prefix with one entry sort before and after it.
    neighbours = [single[:4] + b"\x00" * 28, single[:4] + b"\xff" * 28]
    for absent in [
        bytes(32),
        b"\xff" * 32,
        bytes(24) + b"\x01" * 8,
        *neighbours,
        *_ids(50, seed=5),
    ]:
        assert (absent in idx) == (absent in skewed)


def test_a_lookup_keeps_its_table_when_a_merge_replaces_it(monkeypatch):
    # The upload thread merges while other threads look chunks up: a place
    # found in one table must not be read in the next one.
    monkeypatch.setattr(index_mod, "MERGE_AT", 1)
    ids = _ids(400, seed=7)
    idx = ChunkIndex()
    idx.add_pack("first", [(cid, n, 1) for n, cid in enumerate(ids[:200])])
    idx._merge()
    real_locate = index_mod._locate

    merged = []

    def locate_then_merge(table, chunk_id, lo=0):
        found = real_locate(table, chunk_id, lo)
        if not merged:
            merged.append(True)
            idx._merge()  # as if another thread merged right now
        return found

    idx._recent = {cid: (0, 1000 + n, 2) for n, cid in enumerate(ids[200:])}
    monkeypatch.setattr(index_mod, "_locate", locate_then_merge)
    assert idx.lookup(ids[150]) == ("first", 150, 1)
    assert merged and not idx._recent and len(idx) == 400
