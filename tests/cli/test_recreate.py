"""`hutch recreate`: archives rewritten without excluded paths or with
their chunks compressed anew; the plan first, and --dry-run changes
nothing; a recreated archive keeps its place in time."""

import json
import os

import pytest

from hutch.archive.patterns import PatternMatcher
from hutch.archive.recreate import (
    TEMPORARY_SUFFIX,
    RecreateOptions,
    execute_recreate,
    plan_recreate,
)
from hutch.archive.references import referenced_chunks
from hutch.archive.report import Reporter
from hutch.compress import ZSTD
from hutch.repo.archives import ArchiveList
from hutch.repo.packtable import scan_pack_table
from hutch.store.faults import FaultRule, FaultStore, InjectedFault

from ..conftest import assert_clean_error, open_repository, snapshot


def _archives(repo_path) -> dict:
    repo = open_repository(repo_path)
    try:
        return {e.name: e for e in ArchiveList(repo).list()}
    finally:
        repo.close()


def test_exclude_drops_paths_and_keeps_the_rest_and_its_place_in_time(hutch, repo, tree, tmp_path):
    hutch("create", f"{repo}::a", ".", cwd=tree, check=0)
    hutch("create", f"{repo}::b", ".", cwd=tree, check=0)
    before = _archives(repo)
    r = hutch("recreate", "--list", "-e", "dir/sub", f"{repo}::a", check=0)
    assert "x dir/sub/random.bin" in r.err and "x dir/sub\n" in r.err + "\n"
    after = _archives(repo)
    assert set(after) == {"a", "b"}
    assert after["b"].id == before["b"].id  # untouched
    assert after["a"].id != before["a"].id
    assert after["a"].arrived == before["a"].arrived  # its place in time
    assert after["a"].time == before["a"].time and after["a"].comment == before["a"].comment
    # The original version is soft-deleted (undelete can bring it back) until
    # compact, which (without the key) goes by what the new version publishes.
    assert (repo / "deleted" / before["a"].id.hex()).exists()
    hutch("compact", repo, check=0)
    assert not (repo / "deleted" / before["a"].id.hex()).exists()
    # What the recreated archive restores: the tree without dir/sub.
    out = tmp_path / "out"
    out.mkdir()
    hutch("extract", f"{repo}::a", cwd=out, check=0)
    expected = snapshot(tree)
    for path in list(expected):
        if path == b"dir/sub" or path.startswith(b"dir/sub/"):
            del expected[path]
    assert snapshot(out) == expected
    # prune goes by arrival: a is still the older one, b stays.
    hutch("prune", "--keep-last", "1", repo, check=0)
    assert set(_archives(repo)) == {"b"}


def test_dry_run_shows_the_plan_and_changes_nothing(hutch, repo, tree):
    hutch("create", f"{repo}::a", ".", cwd=tree, check=0)
    files_before = sorted(os.listdir(repo / "archives"))
    r = hutch("recreate", "-n", "--list", "-e", "*.txt", f"{repo}::a", check=0)
    assert "x dir/file.txt" in r.err and "Would rewrite archive a" in r.err
    plan = json.loads(hutch("recreate", "-n", "--json", "-e", "*.txt", repo, check=0).out)
    (only,) = plan["archives"]
    assert set(only["dropped"]) == {"dir/file.txt", "hardlink.txt"}
    assert sorted(os.listdir(repo / "archives")) == files_before
    assert not os.listdir(repo / "deleted")


def test_plan_names_what_each_archive_loses(hutch, repo, tree):
    hutch("create", f"{repo}::a", ".", cwd=tree, check=0)
    hutch("create", f"{repo}::b", "dir/sub", cwd=tree, check=0)
    matcher = PatternMatcher()
    matcher.add_exclude("dir/sub/random.bin")
    repository = open_repository(repo)
    try:
        entries = ArchiveList(repository).list()
        plan = plan_recreate(repository, entries, RecreateOptions(matcher=matcher))
    finally:
        repository.close()
    dropped = {c.entry.name: c.dropped for c in plan.archives}
    assert dropped == {"a": [b"dir/sub/random.bin"], "b": [b"dir/sub/random.bin"]}
    assert [c.entry.name for c in plan.changed] == ["a", "b"]
    assert plan.archives[0].dropped_size == 3 * 1024 * 1024 + 17


def _compression_of_every_copy(repo_path) -> dict[bytes, list[int]]:
    """chunk id -> compression tag of each stored copy."""
    repository = open_repository(repo_path)
    try:
        table = scan_pack_table(repository.store, repository.cipher, headers="all")
        tags: dict[bytes, list[int]] = {}
        for pack, entries in table.entries.items():
            for cid, offset, length in entries:
                blob = repository.store.get(f"packs/{pack}", offset, length)
                payload = repository.cipher.open(blob[2], cid, blob)
                tags.setdefault(cid, []).append(payload[0])
        return tags
    finally:
        repository.close()


def test_recompress_stores_each_chunk_once_with_the_new_compression(hutch, repo, tree, tmp_path):
    hutch("create", f"{repo}::a", ".", cwd=tree, check=0)
    hutch("create", f"{repo}::b", "dir", cwd=tree, check=0)
    assert ZSTD not in {t for tags in _compression_of_every_copy(repo).values() for t in tags}
    r = hutch("recreate", "--json", "-C", "zstd,3", repo, check=0)
    assert json.loads(r.out)["recompressed"]["chunks_recompressed"] > 0
    copies = _compression_of_every_copy(repo)
    used = _used_chunks(repo)
    assert all(copies[c] == [ZSTD] for c in used), {c.hex()[:8]: copies[c] for c in used}
    hutch("compact", repo, check=0)  # keyless: by the reference lists
    hutch("check", "--verify-data", repo, check=0)
    out = tmp_path / "out"
    out.mkdir()
    hutch("extract", f"{repo}::a", cwd=out, check=0)
    assert snapshot(out) == snapshot(tree)
    # Nothing is different any more: nothing is stored anew.
    r = hutch("recreate", "--json", "-C", "zstd,3", repo, check=0)
    assert json.loads(r.out)["recompressed"]["chunks_recompressed"] == 0


def _used_chunks(repo_path) -> set[bytes]:
    repository = open_repository(repo_path)
    try:
        return referenced_chunks(repository).needed
    finally:
        repository.close()


def test_target_keeps_the_original(hutch, repo, tree):
    hutch("create", f"{repo}::a", ".", cwd=tree, check=0)
    before = _archives(repo)
    hutch("recreate", "--target", "a-small", "-e", "dir", f"{repo}::a", check=0)
    after = _archives(repo)
    assert after["a"].id == before["a"].id
    names = hutch("list", "--short", f"{repo}::a-small", check=0).out.split()
    assert "empty" in names and not any(n.startswith("dir") for n in names)


def test_refusals(hutch, repo, tree):
    hutch("create", f"{repo}::a", ".", cwd=tree, check=0)
    r = hutch("recreate", f"{repo}::a")
    assert r.rc == 2
    assert_clean_error(r, "needs something to do")
    r = hutch("recreate", "--recompress", "always", f"{repo}::a")
    assert r.rc == 2
    assert_clean_error(r, "--compression")
    r = hutch("recreate", "-e", "dir", f"{repo}::nope")
    assert r.rc == 2
    assert_clean_error(r, "does not exist")


@pytest.mark.parametrize(
    "rule",
    [
        FaultRule("put", prefix="archives/", nth=1),  # the new version
        FaultRule("put", prefix="arrivals/archives.", nth=1),  # its place in time
        FaultRule("put", prefix="deleted/", nth=1),  # soft-deleting the original
        FaultRule("delete", prefix="archives/", nth=1),
        FaultRule("put", prefix="archives/", nth=2),  # renaming the new version
    ],
    ids=["add", "arrival", "soft-delete", "remove", "rename"],
)
def test_an_interruption_leaves_the_original_or_the_new_version(hutch, repo, tree, rule):
    hutch("create", f"{repo}::a", ".", cwd=tree, check=0)
    original = _archives(repo)["a"]
    repository = open_repository(repo)
    repository.store = FaultStore(repository.store, [rule])
    matcher = PatternMatcher()
    matcher.add_exclude("dir")
    try:
        plan = plan_recreate(repository, [original], RecreateOptions(matcher=matcher))
        with pytest.raises(InjectedFault):
            execute_recreate(repository, plan, Reporter())
    finally:
        repository.close()
    left = [e for e in _archives(repo).values()]
    assert left, "neither the original nor the new version is left"
    for entry in left:
        assert entry.name == "a" or entry.name.startswith("a" + TEMPORARY_SUFFIX)
    # Whatever is left under the name "a" (if anything) reads whole.
    if "a" in {e.name for e in left}:
        hutch("list", f"{repo}::a", check=0)
