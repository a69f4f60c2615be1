"""End to end: restoring from read-only media. Reading commands work on a
repository that cannot be written (by themselves, with a notice, or asked
with --bypass-lock), and every command that changes it refuses clearly."""

import os
import subprocess
import time

import msgpack
import pytest

from ..conftest import assert_clean_error, snapshot

READERS = [
    ("list", "{repo}"),
    ("list", "{repo}::a"),
    ("info", "{repo}::a"),
    ("repo-info", "{repo}"),
    ("diff", "{repo}::a", "a"),
    ("check", "--verify-data", "{repo}"),
    ("export-tar", "{repo}::a", "{tmp}/a.tar"),
    ("prune", "--dry-run", "--keep-last", "1", "{repo}"),
    ("delete", "--dry-run", "{repo}::a"),
]
WRITERS = [
    ("create", "{repo}::b", "{tree}"),
    ("delete", "{repo}::a"),
    ("rename", "{repo}::a", "b"),
    ("prune", "--keep-last", "1", "{repo}"),
    ("compact", "{repo}"),
    ("check", "--repair", "{repo}"),
    ("key", "change-passphrase", "{repo}"),
]


@pytest.fixture
def read_only_repo(hutch, repo, tree, tmp_path):
    """The repository with archive `a`, seen through a read-only bind mount
    (read-only media, as the kernel reports it: EROFS)."""
    hutch("create", f"{repo}::a", tree, check=0)
    view = tmp_path / "read-only"
    view.mkdir()
    if subprocess.run(["mount", "--bind", repo, view], capture_output=True).returncode != 0:
        pytest.skip("cannot bind-mount here (needs root)")
    try:
        r = subprocess.run(["mount", "-o", "remount,bind,ro", view], capture_output=True)
        if r.returncode != 0:
            pytest.skip("cannot make a read-only bind mount here")
        yield view
    finally:
        subprocess.run(["umount", view], check=True)


def _fill(words, **values):
    return [w.format(**values) for w in words]


def test_reading_works_on_read_only_media(hutch, read_only_repo, tree, tmp_path):
    values = {"repo": read_only_repo, "tmp": tmp_path, "tree": tree}
    for words in READERS:
        r = hutch(*_fill(words, **values))
        assert r.rc == 0, (words, r.err)
        assert_clean_error(r, "cannot be written", "without a lock")
    out = tmp_path / "out"
    out.mkdir()
    r = hutch("extract", f"{read_only_repo}::a", cwd=out, check=0)
    assert "without a lock" in r.err
    assert snapshot(out / os.path.relpath(tree, "/")) == snapshot(tree)


def test_writing_is_refused_on_read_only_media(hutch, read_only_repo, tree, tmp_path):
    values = {"repo": read_only_repo, "tmp": tmp_path, "tree": tree}
    for words in WRITERS:
        r = hutch(*_fill(words, **values), env={"HUTCH_NEW_PASSPHRASE": "new"}, check=2)
        assert_clean_error(r, "Read-only file system", "cannot be written", f"'hutch {words[0]}'")
    assert hutch("list", "--short", read_only_repo, check=0).out == "a\n"


def test_bypass_lock_reads_past_a_held_lock_and_only_reads(hutch, repo, tree):
    hutch("create", f"{repo}::a", tree, check=0)
    held = {"host": "elsewhere", "pid": 1, "since": time.time(), "beat": time.time()}
    (repo / "locks" / ("e" * 32)).write_bytes(msgpack.packb({**held, "exclusive": True}))
    r = hutch("list", "--lock-wait", "0.1", repo, check=2)
    assert_clean_error(r, "lock")
    assert hutch("list", "--short", "--bypass-lock", repo, check=0).out == "a\n"
    hutch("check", "--bypass-lock", repo, check=0)
    for words in (("create", f"{repo}::b", tree), ("delete", f"{repo}::a")):
        r = hutch(*words, "--bypass-lock", check=2)
        assert_clean_error(r, "--bypass-lock", "only read", f"'hutch {words[0]}'")
    assert hutch("list", "--short", "--bypass-lock", repo, check=0).out == "a\n"


def test_read_only_media_behind_serve(hutch, read_only_repo, tree, pipe_serve):
    url = f"ssh://host{read_only_repo}"
    r = hutch("list", "--short", url, check=0)
    assert r.out == "a\n" and "without a lock" in r.err
    r = hutch("create", f"{url}::b", tree, check=2)
    assert_clean_error(r, "Read-only file system", "'hutch create'")
