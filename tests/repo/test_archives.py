"""The archives list: order, names, damaged entries."""

import pytest

from hutch.errors import ArchiveExists, ArchiveNotFound, IntegrityError
from hutch.repo.archives import ArchiveEntry, ArchiveList


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
    assert [e.name for e in archives.list()] == ["good"]
    assert archives.damaged == [bad]
    assert archives.get("good").name == "good"
    with pytest.raises(IntegrityError) as err:
        archives.get("bad")
    assert bad in str(err.value)
    repo.store.put("archives/" + "00" * 32, b"not an archive at all")
    assert [e.name for e in archives.list()] == ["good"]
    assert len(archives.damaged) == 2
