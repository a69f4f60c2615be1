"""Repeated chunks in a restore: fetched once, read back from the target for
their later places, and fetched again whenever the copy in the target is
not exactly the chunk any more."""

import contextlib
import os
import stat

import pytest

from hutch.archive import repeats
from hutch.archive.extract import ExtractOptions, Extractor
from hutch.archive.itemstream import iter_items
from hutch.archive.patterns import PatternMatcher
from hutch.archive.repeats import REPEATS_FROM, REPEATS_UP_TO, RepeatPlanner, RestoredCopies
from hutch.archive.report import Reporter
from hutch.repo.archives import ArchiveList
from hutch.repo.reader import ChunkReader, Passed
from hutch.store.wrapper import StoreWrapper

from ..conftest import build_archive, make_item, open_repository

FILE = stat.S_IFREG | 0o644
BIG = os.urandom(3 * 1024 * 1024 + 5)  # a few chunks of the default chunker
SMALL = b"small content\n" * 10


class CountingStore(StoreWrapper):
    def __init__(self, inner):
        super().__init__(inner)
        self.pack_bytes = 0

    def get(self, name, offset=0, length=None):
        data = self.inner.get(name, offset, length)
        if name.startswith("packs/"):
            self.pack_bytes += len(data)
        return data


class Sabotage(Reporter):
    """Does `harm` to the restored file `a` just before `b` is restored."""

    def __init__(self, target, harm):
        super().__init__()
        self.target, self.harm = target, harm

    def file_status(self, status, path):
        if path == b"b" and self.harm is not None:
            self.harm(os.path.join(self.target, "a"))


def _restore(repo_path, target, reporter=None) -> int:
    """Restores archive 'x' into target; returns the pack bytes it fetched."""
    repo = open_repository(repo_path)
    counting = CountingStore(repo.store)
    repo.store = counting
    try:
        entry = ArchiveList(repo).get("x")
        reporter = reporter or Reporter()
        with contextlib.chdir(target):
            Extractor(repo, ExtractOptions(), reporter).run(entry, PatternMatcher())
        assert reporter.errors == 0 and reporter.warnings == 0
    finally:
        repo.close()
    return counting.pack_bytes


def _archive(repo_path):
    build_archive(
        repo_path,
        "x",
        [
            (make_item(b"a", FILE), BIG),
            (make_item(b"b", FILE), BIG),  # a copy of a
            (make_item(b"c", FILE), BIG + BIG),  # a's chunks, twice within one file
            (make_item(b"s1", FILE), SMALL),
            (make_item(b"s2", FILE), SMALL),  # small: fetched each time
        ],
    )


def _assert_restored(target):
    assert (target / "a").read_bytes() == BIG
    assert (target / "b").read_bytes() == BIG
    assert (target / "c").read_bytes() == BIG + BIG
    assert (target / "s1").read_bytes() == (target / "s2").read_bytes() == SMALL


def _once_each(repo_path) -> int:
    """Stored bytes of the item stream twice (it is read to plan and to
    restore), of each distinct large chunk once and of every small chunk
    each time it is used."""
    repo = open_repository(repo_path)
    reader = ChunkReader(repo)
    try:
        entry = ArchiveList(repo).get("x")
        total = 2 * sum(repo.index.lookup(cid)[2] for cid in entry.items)
        large = set()
        for item in iter_items(reader, entry):
            for cid, size in item.get("chunks", []):
                if size < REPEATS_FROM:
                    total += repo.index.lookup(cid)[2]
                elif cid not in large:
                    large.add(cid)
                    total += repo.index.lookup(cid)[2]
        return total
    finally:
        reader.close()
        repo.close()


def test_repeated_chunks_are_fetched_once(repo, tmp_path):
    _archive(repo)
    target = tmp_path / "out"
    target.mkdir()
    fetched = _restore(repo, target)
    _assert_restored(target)
    assert fetched == _once_each(repo)


def _change(path):
    with open(path, "r+b") as f:
        f.write(b"\0" * 100)


def _truncate(path):
    os.truncate(path, 1000)


def _fifo(path):
    os.unlink(path)
    os.mkfifo(path)


def _symlink_to_a_good_copy(path):
    os.rename(path, path + ".moved")
    os.symlink(path + ".moved", path)


HARMS = [_change, _truncate, os.unlink, _fifo, _symlink_to_a_good_copy]


@pytest.mark.parametrize("harm", HARMS, ids=lambda f: f.__name__)
def test_a_copy_that_is_no_longer_the_chunk_is_fetched_again(repo, tmp_path, harm):
    _archive(repo)
    clean, target = tmp_path / "clean", tmp_path / "out"
    clean.mkdir()
    target.mkdir()
    fetched = _restore(repo, target, Sabotage(target, harm))  # a FIFO would hang it
    assert (target / "b").read_bytes() == BIG
    assert (target / "c").read_bytes() == BIG + BIG
    assert fetched > _restore(repo, clean)  # what a lost came from the repository again


def _device(path):
    os.unlink(path)
    os.mknod(path, 0o600 | stat.S_IFCHR, os.makedev(1, 3))


@pytest.mark.parametrize("harm", [_fifo, _device], ids=lambda f: f.__name__)
def test_what_is_no_longer_a_file_is_never_opened(repo, tmp_path, monkeypatch, harm):
    if harm is _device and os.geteuid() != 0:
        pytest.skip("making a device node needs root")
    _archive(repo)
    target = tmp_path / "out"
    target.mkdir()
    opened = []
    real_open = os.open

    def recording_open(path, *args, **kwargs):
        opened.append(os.fsencode(path))
        return real_open(path, *args, **kwargs)

    def harm_then_record(path):
        harm(path)
        monkeypatch.setattr(os, "open", recording_open)

    _restore(repo, target, Sabotage(target, harm_then_record))
    assert (target / "b").read_bytes() == BIG
    assert b"a" not in opened and not any(p.endswith(b"/a") for p in opened), opened


def test_the_planner_passes_large_chunks_seen_before(monkeypatch):
    monkeypatch.setattr(repeats, "REMEMBERED", 2)
    plan = RepeatPlanner().plan
    small, big = REPEATS_FROM - 1, REPEATS_FROM
    assert plan(b"s", small) == (b"s", small)
    assert plan(b"s", small) == (b"s", small)
    assert plan(b"1", big) == (b"1", big)
    assert plan(b"1", big) == Passed(b"1", big)
    assert plan(b"2", big) == (b"2", big)
    assert plan(b"1", big) == Passed(b"1", big)  # used again: now the most recent
    assert plan(b"3", big) == (b"3", big)  # evicts 2, the least recently used
    assert plan(b"1", big) == Passed(b"1", big)
    assert plan(b"2", big) == (b"2", big)
    # A size no chunker makes (an archive can claim anything): always fetched.
    huge = REPEATS_UP_TO + 1
    assert plan(b"h", huge) == (b"h", huge)
    assert plan(b"h", huge) == (b"h", huge)


def test_copies_remembered_are_bounded(tmp_path, monkeypatch):
    pieces = {cid: os.urandom(REPEATS_FROM) for cid in (b"a", b"b", b"c")}
    path = tmp_path / "f"
    path.write_bytes(b"".join(pieces.values()))
    ids = {data: cid for cid, data in pieces.items()}
    size = REPEATS_FROM

    def fill(copies, cids):
        for cid in cids:
            copies.remember(cid, os.fsencode(path), list(pieces).index(cid) * size)

    monkeypatch.setattr(repeats, "REMEMBERED", 2)
    copies = RestoredCopies(ids.get)
    fill(copies, [b"a", b"b", b"c"])
    assert copies.read(Passed(b"a", size)) is None  # forgotten: the oldest of three
    assert copies.read(Passed(b"b", size)) == pieces[b"b"]
    assert copies.read(Passed(b"b", size)) == pieces[b"b"]  # still there after a good read
    fill(copies, [b"a"])  # evicts c: b was used since
    assert copies.read(Passed(b"c", size)) is None
    assert copies.read(Passed(b"b", size)) == pieces[b"b"]

    monkeypatch.setattr(repeats, "REMEMBERED", 100)
    monkeypatch.setattr(repeats, "PATH_BYTES", 2 * len(os.fsencode(path)))
    copies = RestoredCopies(ids.get)
    fill(copies, [b"a", b"b", b"c"])  # a third path: over the budget
    assert copies.read(Passed(b"a", size)) is None
    assert copies.read(Passed(b"b", size)) == pieces[b"b"]
    assert copies.read(Passed(b"c", size)) == pieces[b"c"]
