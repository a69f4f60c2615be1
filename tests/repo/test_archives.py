"""The archives list: order, names, damaged entries."""

import pytest

from hutch.errors import ArchiveExists, ArchiveNotFound, IntegrityError
from hutch.repo.archives import ArchiveEntry, ArchiveList
from hutch.store.arrivals import ArrivalStore
from hutch.store.wrapper import StoreWrapper


def _entry(name, time):
    return ArchiveEntry(name=name, items=[], time=time)


def test_order_is_by_moment_not_by_text(make_repo):
    archives = ArchiveList(make_repo())
    archives.add(_entry("utc-late", "2024-01-01T10:30:00+0000"))
    archives.add(_entry("berlin-early", "2024-01-01T11:00:00+0200"))  # 09:00 UTC
    archives.add(_entry("same-second-b", "2024-01-01T12:00:00.000002+0000"))
    archives.add(_entry("same-second-a", "2024-01-01T12:00:00.000003+0000"))
    names = [e.name for e in archives.list()]
    assert names == ["berlin-early", "utc-late", "same-second-b", "same-second-a"]


def test_names_are_unique(make_repo):
    archives = ArchiveList(make_repo())
    archives.add(_entry("a", "2024-01-01T10:30:00+0000"))
    with pytest.raises(ArchiveExists):
        archives.add(_entry("a", "2024-01-02T10:30:00+0000"))
    with pytest.raises(ArchiveExists):
        archives.rename(archives.get("a"), "a")
    archives.add(_entry("b", "2024-01-02T10:30:00+0000"))
    archives.rename(archives.get("b"), "c")
    assert [e.name for e in archives.list()] == ["a", "c"]
    archives.delete(archives.get("a"))
    with pytest.raises(ArchiveNotFound):
        archives.get("a")


def test_a_damaged_entry_is_left_out_and_named(make_repo):
    repo = make_repo()
    archives = ArchiveList(repo)
    archives.add(_entry("good", "2024-01-01T10:30:00+0000"))
    archives.add(_entry("bad", "2024-01-02T10:30:00+0000"))
    bad = f"archives/{archives.get('bad').id.hex()}"
    blob = bytearray(repo.store.get(bad))
    blob[-5] ^= 1
    repo.store.put(bad, bytes(blob), overwrite=True)
    archives = ArchiveList(repo)  # a list reads again only entries it has not seen
    assert [e.name for e in archives.list()] == ["good"]
    assert archives.damaged == [bad]
    assert archives.get("good").name == "good"
    with pytest.raises(IntegrityError) as err:
        archives.get("bad")
    assert bad in str(err.value)
    repo.store.put("archives/" + "00" * 32, b"not an archive at all")
    assert [e.name for e in archives.list()] == ["good"]
    assert len(archives.damaged) == 2


class _CountingStore(StoreWrapper):
    """Counts the round trips a client would make: each get_many is one."""

    def __init__(self, inner):
        super().__init__(inner)
        self.calls: list[tuple[str, int]] = []

    def get(self, name, offset=0, length=None):
        self.calls.append(("get", 1))
        return self.inner.get(name, offset, length)

    def get_many(self, requests):
        self.calls.append(("get_many", len(requests)))
        return self.inner.get_many(requests)

    def list(self, namespace):
        self.calls.append(("list", 0))
        return self.inner.list(namespace)


def test_entries_and_arrivals_are_read_in_one_round_trip_and_only_once(make_repo):
    repo = make_repo()
    counting = repo.store = _CountingStore(ArrivalStore(repo.store))  # as open_store stacks
    writer = ArchiveList(repo)
    for i in range(3):
        writer.add(_entry(f"a{i}", f"2024-01-0{i + 1}T10:30:00+0000"))
    del counting.calls[:]
    archives = ArchiveList(repo)
    assert [e.name for e in archives.list()] == ["a0", "a1", "a2"]
    assert all(e.arrival is not None for e in archives.list())
    # One listing, then three entries and their three arrival records at once.
    assert counting.calls[:2] == [("list", 0), ("get_many", 6)]
    del counting.calls[:]
    assert archives.exists("a1") and not archives.exists("a3")
    assert counting.calls == [("list", 0), ("list", 0)]  # nothing read again
    # What another client adds, deletes or this one renames is seen.
    writer.add(_entry("a3", "2024-01-04T10:30:00+0000"))
    writer.delete(writer.get("a0"))
    archives.rename(archives.get("a1"), "renamed")
    assert [e.name for e in archives.list()] == ["renamed", "a2", "a3"]
    assert [e.name for e in ArchiveList(repo).list()] == ["renamed", "a2", "a3"]
