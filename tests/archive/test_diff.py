"""diff_archives on hand-made archives: each kind of change, --content-only,
and item streams whose orders disagree."""

import stat

import pytest

from hutch.archive.diff import DiffOptions, diff_archives
from hutch.archive.patterns import PatternMatcher
from hutch.repo.archives import ArchiveList
from hutch.repo.reader import ChunkReader

from ..conftest import build_archive, make_item, open_repository

FILE = stat.S_IFREG | 0o644
DIR = stat.S_IFDIR | 0o755
LINK = stat.S_IFLNK | 0o777
T = 1_600_000_000_000_000_000


def _diff(repo_path, options=DiffOptions(), matcher=None) -> dict:
    repo = open_repository(repo_path)
    reader = ChunkReader(repo)
    try:
        archives = ArchiveList(repo)
        old, new = archives.get("old"), archives.get("new")
        diffs = diff_archives(reader, old, new, matcher or PatternMatcher(), options)
        return {d.path: d.changes for d in diffs}
    finally:
        reader.close()
        repo.close()


def _base():
    return [
        (make_item(b"d", DIR), None),
        (make_item(b"d/same", FILE), b"same content"),
        (make_item(b"d/grows", FILE), b"x" * 100),
        (make_item(b"d/gone", FILE), b"bye"),
        (make_item(b"d/gone-dir", DIR), None),
        (make_item(b"link", LINK, target=b"d/same"), None),
        (make_item(b"meta", FILE, user="alice", group="staff", xattrs={b"user.a": b"1"}), b"m"),
    ]


def _changed():
    return [
        (make_item(b"d", DIR), None),
        (make_item(b"d/new", FILE), b"12345"),
        (make_item(b"d/same", FILE), b"same content"),
        (make_item(b"d/grows", FILE), b"y" * 250),
        (make_item(b"link", LINK, target=b"d/grows"), None),
        (
            make_item(
                b"meta",
                FILE | 0o111,
                user="bob",
                group="staff",
                mtime=T + 1,
                xattrs={b"user.a": b"2"},
            ),
            b"m",
        ),
    ]


@pytest.fixture
def pair(repo):
    build_archive(repo, "old", _base())
    build_archive(repo, "new", _changed())
    return repo


def test_each_kind_of_change(pair):
    diffs = _diff(pair)
    assert set(diffs) == {b"d/new", b"d/grows", b"d/gone", b"d/gone-dir", b"link", b"meta"}
    assert diffs[b"d/new"] == [{"type": "added", "size": 5}]
    assert diffs[b"d/gone"] == [{"type": "removed", "size": 3}]
    assert diffs[b"d/gone-dir"] == [{"type": "removed directory"}]
    assert diffs[b"d/grows"] == [{"type": "modified", "added": 250, "removed": 100}]
    assert diffs[b"link"] == [{"type": "changed link"}]
    types = [c["type"] for c in diffs[b"meta"]]
    assert types == ["mode", "owner", "mtime", "xattrs"]
    mode, owner, mtime, xattrs = diffs[b"meta"]
    assert (mode["old_mode"], mode["new_mode"]) == ("-rw-r--r--", "-rwxr-xr-x")
    assert (owner["old_user"], owner["new_user"]) == ("alice", "bob")
    assert (mtime["old_mtime"], mtime["new_mtime"]) == (T, T + 1)
    assert xattrs["names"] == ["user.a"]


def test_content_only_ignores_metadata(pair):
    diffs = _diff(pair, DiffOptions(content_only=True))
    assert b"meta" not in diffs
    assert diffs[b"link"] == [{"type": "changed link"}]


def test_numeric_ids_compare_numbers(pair):
    diffs = _diff(pair, DiffOptions(numeric_ids=True))
    assert [c["type"] for c in diffs[b"meta"]] == ["mode", "mtime", "xattrs"]


def test_patterns_restrict(pair):
    matcher = PatternMatcher(fallback=False)
    matcher.add_include("d")
    assert set(_diff(pair, matcher=matcher)) == {b"d/new", b"d/grows", b"d/gone", b"d/gone-dir"}


def test_type_change_shows_even_with_content_only(repo):
    build_archive(repo, "old", [(make_item(b"x", FILE), b"data")])
    build_archive(repo, "new", [(make_item(b"x", DIR), None)])
    diffs = _diff(repo, DiffOptions(content_only=True))
    assert diffs == {b"x": [{"type": "mode", "old_mode": "-rw-r--r--", "new_mode": "drwxr-xr-x"}]}


def test_orders_that_disagree_still_pair_up(repo):
    """No global order is assumed: reversed streams give the same answer."""
    build_archive(repo, "old", _base())
    build_archive(repo, "new", list(reversed(_changed())))
    diffs = _diff(repo)
    assert set(diffs) == {b"d/new", b"d/grows", b"d/gone", b"d/gone-dir", b"link", b"meta"}
    assert diffs[b"d/grows"] == [{"type": "modified", "added": 250, "removed": 100}]


def test_identical_archives_have_no_differences(repo):
    build_archive(repo, "old", _base())
    build_archive(repo, "new", _base())
    assert _diff(repo) == {}
