"""Compact: plans on small repositories, and a crash at every step of its
execution (through the fault-injecting store) leaving a repository that
reads, which the next compact finishes."""

import io
import os
import shutil

import pytest

from hutch.archive.create import ArchiveCreator, CreateOptions
from hutch.archive.references import plan_compaction
from hutch.archive.report import Reporter
from hutch.compress import parse_spec
from hutch.errors import IntegrityError
from hutch.repo.archives import ArchiveList
from hutch.repo.compact import execute_compact
from hutch.repo.packtable import scan_pack_table
from hutch.store.base import split_name
from hutch.store.faults import FaultRule, FaultStore, InjectedFault
from hutch.store.local import LocalStore
from hutch.store.wrapper import StoreWrapper

from ..conftest import make_item
from .maintenance_helpers import (
    add_archive,
    data,
    new_repo_path,
    open_repo,
    pack_files,
    read_archives,
)

X, Y, Z, W = data(1), data(2), data(3), data(4)


@pytest.fixture
def template(tmp_path):
    """Copies of one repository: template(source, name) -> the copy's path."""

    def copy(source, name: str) -> str:
        target = tmp_path / name
        shutil.copytree(source, target)
        return os.fspath(target)

    return copy


def compact(path, store=None, threshold=10.0, execute=True):
    """(plan, result or None) of one compact, in-process."""
    repo = open_repo(path, store)
    try:
        plan = plan_compaction(repo, threshold)
        return plan, execute_compact(repo, plan) if execute else None
    finally:
        repo.close()


def delete(path, *names):
    repo = open_repo(path)
    try:
        archives = ArchiveList(repo)
        for name in names:
            archives.delete(archives.get(name))
    finally:
        repo.close()


@pytest.fixture
def three_archives(tmp_path):
    """A {x, y}, B {y, z}, C {w}: each in a pack of its own (y stored with A)."""
    path = new_repo_path(tmp_path / "repo")
    add_archive(path, "A", {b"x": X, b"y": Y})
    add_archive(path, "B", {b"y": Y, b"z": Z})
    add_archive(path, "C", {b"w": W})
    return path


def _pack_of(path, archive_name):
    repo = open_repo(path)
    try:
        entry = ArchiveList(repo).get(archive_name)
        return repo.index.lookup(entry.items[0])[0]
    finally:
        repo.close()


def test_plan_rewrites_partly_used_packs_and_drops_unused_ones(three_archives):
    path = three_archives
    packs = {name: _pack_of(path, name) for name in "ABC"}
    before = sum(pack_files(path).values())
    delete(path, "A", "C")
    plan, _ = compact(path, execute=False)
    assert set(plan.drop) == {packs["C"]}
    assert [r.pack for r in plan.rewrite] == [packs["A"]]
    assert 0.4 < plan.rewrite[0].unused_share < 0.6  # x is dead, y lives
    assert set(plan.keep) == {packs["B"]}
    assert len(plan.deleted_archives) == 2
    assert plan.rewrite_index and len(plan.old_segments) == 3
    assert plan.missing_chunks == 0
    _, result = compact(path)
    assert (result.packs_deleted, result.packs_rewritten, result.packs_written) == (2, 1, 1)
    assert result.archives_removed == 2
    assert result.bytes_freed == before - sum(pack_files(path).values())
    assert len(X) + len(W) <= result.bytes_freed < len(X) + len(W) + 8192
    assert read_archives(path) == {"B": {b"y": Y, b"z": Z}}
    assert read_archives(path, deleted=True) == {}
    assert len(os.listdir(os.path.join(path, "index"))) == 1
    again, _ = compact(path, execute=False)
    assert again.is_empty()


def test_nothing_deleted_means_nothing_to_do(three_archives):
    plan, _ = compact(three_archives, execute=False)
    # Only the segments get merged.
    assert not plan.drop and not plan.rewrite and not plan.deleted_archives
    compact(three_archives)
    assert compact(three_archives, execute=False)[0].is_empty()
    assert set(read_archives(three_archives)) == {"A", "B", "C"}


def test_everything_deleted(three_archives):
    path = three_archives
    delete(path, "A", "B", "C")
    plan, result = compact(path)
    assert len(plan.drop) == 3 and not plan.rewrite
    assert pack_files(path) == {} and os.listdir(os.path.join(path, "index")) == []
    add_archive(path, "D", {b"x": X})
    assert read_archives(path) == {"D": {b"x": X}}


@pytest.mark.parametrize("threshold,rewritten", [(0, 1), (40, 1), (60, 0), (100, 0)])
def test_threshold(three_archives, threshold, rewritten):
    delete(three_archives, "A")
    plan, _ = compact(three_archives, threshold=threshold)
    assert len(plan.rewrite) == rewritten
    assert read_archives(three_archives) == {"B": {b"y": Y, b"z": Z}, "C": {b"w": W}}


def test_duplicate_chunks_of_concurrent_writers_are_kept_once(tmp_path):
    path = new_repo_path(tmp_path / "repo")
    # Two writers that loaded the index before either wrote: both upload X.
    repos = [open_repo(path), open_repo(path)]
    for repo in repos:
        len(repo.index)
    for i, repo in enumerate(repos):
        creator = ArchiveCreator(repo, CreateOptions(compression=parse_spec("none")), Reporter())
        item = make_item(b"x", 0o100644)
        creator.run(f"w{i}", lambda c=creator, it=item: c.add_stream_item(it, io.BytesIO(X)))
        repo.close()
    assert sum(pack_files(path).values()) > 2 * len(X)
    compact(path)
    assert sum(pack_files(path).values()) < len(X) + 8192
    assert read_archives(path) == {"w0": {b"x": X}, "w1": {b"x": X}}


def test_damaged_archive_entry_stops_compact_before_anything_changes(three_archives):
    path = three_archives
    delete(path, "A")
    entry = sorted(os.listdir(os.path.join(path, "archives")))[0]
    entry_path = os.path.join(path, "archives", entry)
    blob = bytearray(open(entry_path, "rb").read())
    blob[len(blob) // 2] ^= 1
    open(entry_path, "wb").write(bytes(blob))
    packs = pack_files(path)
    with pytest.raises(IntegrityError, match="check --repair"):
        compact(path)
    assert pack_files(path) == packs
    assert len(os.listdir(os.path.join(path, "deleted"))) == 1


def _segments_listing_missing_packs(path) -> dict:
    repo = open_repo(path)
    try:
        return scan_pack_table(repo.store, repo.cipher, headers="none").missing
    finally:
        repo.close()


class RecordingStore(StoreWrapper):
    """Records the changes (put, delete) made through it, locks aside."""

    def __init__(self, inner):
        super().__init__(inner)
        self.calls: list[tuple[str, str]] = []

    def _record(self, method, name):
        namespace, _ = split_name(name)
        if namespace != "locks":
            self.calls.append((method, namespace))

    def put(self, name, data, overwrite=False):
        self._record("put", name)
        super().put(name, data, overwrite)

    def delete(self, name):
        self._record("delete", name)
        super().delete(name)


def test_crash_at_every_step_leaves_a_readable_repository(three_archives, template):
    delete(three_archives, "A", "C")
    expected = read_archives(three_archives)
    clean = template(three_archives, "clean")
    recorder = RecordingStore(LocalStore(clean))
    compact(clean, store=recorder)
    clean_size = sum(pack_files(clean).values())
    steps = recorder.calls
    assert ("put", "packs") in steps and ("delete", "packs") in steps
    seen: dict[tuple[str, str], int] = {}
    for i, (method, namespace) in enumerate(steps):
        seen[(method, namespace)] = nth = seen.get((method, namespace), 0) + 1
        path = template(three_archives, f"crash-{i}")
        rule = FaultRule(method, prefix=f"{namespace}/", nth=nth)
        with pytest.raises(InjectedFault):
            compact(path, store=FaultStore(LocalStore(path), [rule]))
        where = f"crash before {method} {namespace} #{nth}"
        assert read_archives(path) == expected, where
        assert _segments_listing_missing_packs(path) == {}, where
        # Archives that undelete could still bring back are whole.
        for name, files in read_archives(path, deleted=True).items():
            assert None not in files.values(), f"deleted archive {name} lost data"
        compact(path)
        assert read_archives(path) == expected
        assert sum(pack_files(path).values()) == clean_size
        assert compact(path, execute=False)[0].is_empty()


def test_unreadable_pack_during_rewrite_changes_nothing(three_archives):
    path = three_archives
    delete(path, "A")
    packs = pack_files(path)
    store = FaultStore(LocalStore(path), [FaultRule("get", prefix="packs/", nth=1, times=0)])
    repo = open_repo(path)
    try:
        plan = plan_compaction(repo, 10.0)
    finally:
        repo.close()
    repo = open_repo(path, store)
    try:
        with pytest.raises(InjectedFault):
            execute_compact(repo, plan)
    finally:
        repo.close()
    assert pack_files(path) == packs
    assert read_archives(path)["B"] == {b"y": Y, b"z": Z}
