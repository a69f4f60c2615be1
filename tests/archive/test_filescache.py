"""The files cache: which files count as unchanged under each mode."""

import errno
import io
import os
import time
import tracemalloc
from types import SimpleNamespace

import pytest

from hutch.archive.filescache import MAX_AGE, FilesCache, check_mode
from hutch.crypto.key import Key
from hutch.errors import UsageError
from hutch.repo.cache import CacheDir

KEY = Key.generate("repokey", bytes(32))
OLD = time.time_ns() - 10 * 1_000_000_000
CID = bytes(range(32))


def _stat(**changes):
    """What the files cache looks at of a stat result."""
    fields = {"st_ctime_ns": OLD, "st_mtime_ns": OLD, "st_size": 4, "st_ino": 1234}
    fields.update(changes)
    return SimpleNamespace(**fields)


def test_check_mode():
    assert check_mode("ctime,size,inode") == "ctime,size,inode"
    assert check_mode("inode,size,mtime") == "mtime,size,inode"
    assert check_mode("disabled") == "disabled"
    for bad in ("", "ctime", "size", "ctime,mtime,size", "ctime,size,color", "disabled,size"):
        with pytest.raises(UsageError):
            check_mode(bad)


def test_modes_compare_what_they_name(tmp_path):
    folder = CacheDir(str(tmp_path / "cache"))
    cache = FilesCache(folder, "files-x", "ctime,size,inode", KEY)
    assert cache.lookup(cache.key(b"f"), _stat()) is None and not cache.knows(cache.key(b"f"))
    cache.remember(cache.key(b"f"), _stat(), [[CID, 4]], time.time_ns(), False)
    cache.save()
    changes = {
        "same": {},
        "mtime": {"st_mtime_ns": OLD + 1},
        "ctime": {"st_ctime_ns": OLD + 1},
        "size": {"st_size": 5},
        "inode": {"st_ino": 4321},
    }
    # A cache written under one mode serves every other mode.
    expected_unchanged = {
        "ctime,size,inode": {"same", "mtime"},
        "mtime,size,inode": {"same", "ctime"},
        "ctime,size": {"same", "mtime", "inode"},
        "mtime,size": {"same", "ctime", "inode"},
        "disabled": set(),
    }
    for mode, unchanged in expected_unchanged.items():
        loaded = FilesCache(folder, "files-x", mode, KEY)
        for what, change in changes.items():
            found = loaded.lookup(loaded.key(b"f"), _stat(**change))
            assert (found is not None) == (what in unchanged), (mode, what)
            assert loaded.knows(loaded.key(b"f")) == (mode != "disabled")
            if found is not None:
                assert found.chunks == [[CID, 4]]


def test_recent_files_are_not_remembered(tmp_path):
    cache = FilesCache(CacheDir(str(tmp_path)), "files-x", "ctime,size,inode", KEY)
    now = time.time_ns()
    cache.remember(cache.key(b"f"), _stat(st_mtime_ns=now, st_ctime_ns=now), [[CID, 4]], now, False)
    assert not cache.knows(cache.key(b"f"))


def test_a_new_series_starts_from_the_latest_cache(tmp_path):
    folder = CacheDir(str(tmp_path))
    cache = FilesCache(folder, "files-a", "ctime,size,inode", KEY)
    cache.remember(cache.key(b"f"), _stat(), [[CID, 4]], time.time_ns(), False)
    cache.save()
    other = FilesCache(folder, "files-b", "ctime,size,inode", KEY)
    assert other.lookup(other.key(b"f"), _stat()).chunks == [[CID, 4]]


def test_damaged_cache_starts_over(tmp_path):
    path = str(tmp_path / "files-x")
    folder = CacheDir(str(tmp_path))
    cache = FilesCache(folder, "files-x", "ctime,size,inode", KEY)
    cache.remember(cache.key(b"f"), _stat(), [[CID, 4]], time.time_ns(), False)
    cache.save()
    data = open(path, "rb").read()
    for i in range(len(data)):
        with open(path, "wb") as f:
            f.write(data[:i] + bytes([data[i] ^ 1]) + data[i + 1 :])
        loaded = FilesCache(folder, "files-x", "ctime,size,inode", KEY)
        assert loaded.lookup(loaded.key(b"f"), _stat()) is None, i


def test_an_entry_no_backup_uses_is_dropped_after_max_age(tmp_path):
    """A file seen in every backup keeps its entry; one gone from the
    backups (deleted, excluded) loses it after MAX_AGE backups, so the
    cache does not grow with every file that ever was."""
    folder = CacheDir(str(tmp_path))
    cache = FilesCache(folder, "files-x", "ctime,size,inode", KEY)
    for name in (b"seen", b"gone"):
        cache.remember(cache.key(name), _stat(), [[CID, 4]], time.time_ns(), False)
    cache.save()
    for backup in range(MAX_AGE + 1):
        cache = FilesCache(folder, "files-x", "ctime,size,inode", KEY)
        assert cache.knows(cache.key(b"gone")), backup
        found = cache.lookup(cache.key(b"seen"), _stat())
        assert found is not None
        cache.keep(found.at)  # the backup used it
        cache.save()
    cache = FilesCache(folder, "files-x", "ctime,size,inode", KEY)
    assert not cache.knows(cache.key(b"gone"))
    assert cache.lookup(cache.key(b"seen"), _stat()).chunks == [[CID, 4]]


def test_many_files_round_trip_and_replace(tmp_path):
    folder = CacheDir(str(tmp_path))
    cache = FilesCache(folder, "files-x", "ctime,size,inode", KEY)
    chunks = {i: [[bytes([i % 256]) * 32, i], [bytes(32), 7]][: 1 + i % 2] for i in range(3000)}
    for i, cl in chunks.items():
        cache.remember(cache.key(b"f%d" % i), _stat(st_ino=i), cl, time.time_ns(), False)
    cache.save()
    again = FilesCache(folder, "files-x", "ctime,size,inode", KEY)
    for i, cl in chunks.items():
        assert again.lookup(again.key(b"f%d" % i), _stat(st_ino=i)).chunks == cl
    # A file backed up again replaces its entry; the others are kept.
    again.remember(again.key(b"f5"), _stat(st_ino=5, st_size=9), [[CID, 9]], time.time_ns(), False)
    again.save()
    third = FilesCache(folder, "files-x", "ctime,size,inode", KEY)
    assert third.lookup(third.key(b"f5"), _stat(st_ino=5, st_size=9)).chunks == [[CID, 9]]
    assert third.lookup(third.key(b"f5"), _stat(st_ino=5)) is None
    for i, cl in chunks.items():
        if i != 5:
            assert third.lookup(third.key(b"f%d" % i), _stat(st_ino=i)).chunks == cl


def test_bare_is_trusted_only_where_ctimes_are_compared(tmp_path):
    folder = CacheDir(str(tmp_path))
    cache = FilesCache(folder, "files-x", "ctime,size,inode", KEY)
    cache.remember(cache.key(b"bare"), _stat(), [[CID, 4]], time.time_ns(), True)
    cache.remember(cache.key(b"dressed"), _stat(), [[CID, 4]], time.time_ns(), False)
    cache.save()
    for mode, trusted in (
        ("ctime,size,inode", True),
        ("ctime,size", True),
        ("mtime,size,inode", False),
        ("mtime,size", False),
    ):
        loaded = FilesCache(folder, "files-x", mode, KEY)
        assert loaded.lookup(loaded.key(b"bare"), _stat()).bare == trusted, mode
        assert not loaded.lookup(loaded.key(b"dressed"), _stat()).bare, mode


def test_at_most_a_hundred_bytes_per_file_of_one_chunk(tmp_path):
    """The bound the README states, for a loaded cache of 50,000 files."""
    folder = CacheDir(str(tmp_path))
    cache = FilesCache(folder, "files-x", "ctime,size,inode", KEY)
    count = 50_000
    for i in range(count):
        cache.remember(cache.key(b"f%d" % i), _stat(st_ino=i), [[CID, 4]], time.time_ns(), True)
    cache.save()
    del cache
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        loaded = FilesCache(folder, "files-x", "ctime,size,inode", KEY)
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert loaded.lookup(loaded.key(b"f7"), _stat(st_ino=7)).bare
    assert held <= 100 * count, held / count


def test_this_backups_entries_are_not_held_in_memory(tmp_path):
    """They wait for `save` in scratch files: a backup holds the old entries
    alone (the bound above), not a second copy growing with every file."""
    folder = CacheDir(str(tmp_path / "cache"))
    cache = FilesCache(folder, "files-x", "ctime,size,inode", KEY)
    count = 200_000
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(count):
            cache.remember(cache.key(b"f%d" % i), _stat(st_ino=i), [[CID, 4]], time.time_ns(), True)
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert held <= 15 * count, held / count  # two scratch buffers of 1 MiB
    cache.save()
    assert os.listdir(tmp_path / "cache") == ["files-x"]
    loaded = FilesCache(folder, "files-x", "ctime,size,inode", KEY)
    assert loaded.lookup(loaded.key(b"f199999"), _stat(st_ino=199_999)).chunks == [[CID, 4]]


class _FullDisk(io.BytesIO):
    def write(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")


def test_no_scratch_space_keeps_the_old_cache_working(tmp_path, monkeypatch):
    warnings = []
    folder = CacheDir(str(tmp_path / "cache"), warnings.append)
    first = FilesCache(folder, "files-x", "ctime,size,inode", KEY)
    first.remember(first.key(b"old"), _stat(), [[CID, 4]], time.time_ns(), True)
    first.save()
    saved = (tmp_path / "cache" / "files-x").read_bytes()
    monkeypatch.setattr(CacheDir, "scratch", lambda self: _FullDisk())
    cache = FilesCache(folder, "files-x", "ctime,size,inode", KEY)
    for i in range(3):
        cache.remember(cache.key(b"new%d" % i), _stat(), [[CID, 4]], time.time_ns(), True)
        assert cache.lookup(cache.key(b"old"), _stat()).chunks == [[CID, 4]]
    cache.save()
    assert len(warnings) == 1 and "No space left" in warnings[0]
    assert (tmp_path / "cache" / "files-x").read_bytes() == saved
