"""End to end: back up a tree with every file type, restore it, compare."""

import json
import os

import pytest

from ..conftest import assert_clean_error, snapshot

MODES = [
    "repokey",
    "keyfile",
    "repokey-chacha20-poly1305",
    "keyfile-chacha20-poly1305",
    "authenticated",
    "none",
]


@pytest.mark.parametrize("mode", MODES)
def test_every_mode_restores_identical_tree(hutch, tmp_path, tree, mode):
    repo = tmp_path / f"repo-{mode}"
    hutch("init", "-e", mode, repo, check=0)
    hutch("create", f"{repo}::first", ".", cwd=tree, check=0)
    out = tmp_path / "out"
    out.mkdir()
    hutch("extract", f"{repo}::first", cwd=out, check=0)
    assert snapshot(out) == snapshot(tree)


def test_restore_keeps_holes_with_sparse(hutch, repo, tmp_path, tree):
    hutch("create", f"{repo}::a", ".", cwd=tree, check=0)
    out = tmp_path / "out"
    out.mkdir()
    hutch("extract", "--sparse", f"{repo}::a", "sparse", cwd=out, check=0)
    st = os.stat(out / "sparse")
    assert st.st_size == 8 * 1024 * 1024 + 3
    assert st.st_blocks * 512 < 1024 * 1024, "holes were written as data"
    with open(out / "sparse", "rb") as f:
        assert f.read(5) == b"start"


def test_partial_extract_and_strip_components(hutch, repo, tmp_path, tree):
    hutch("create", f"{repo}::a", tree, check=0)
    out = tmp_path / "out"
    out.mkdir()
    stored = str(tree).lstrip("/")
    depth = stored.count("/") + 1
    hutch(
        "extract", "--strip-components", depth, f"{repo}::a", f"{stored}/dir/sub", cwd=out, check=0
    )
    assert sorted(os.listdir(out)) == ["dir"]
    assert sorted(os.listdir(out / "dir")) == ["sub"]
    with open(os.path.join(tree, "dir/sub/random.bin"), "rb") as f:
        assert (out / "dir/sub/random.bin").read_bytes() == f.read()


def test_second_backup_adds_almost_nothing(hutch, repo, tree):
    first = json.loads(hutch("create", "--json", f"{repo}::a", ".", cwd=tree, check=0).out)
    second = json.loads(hutch("create", "--json", f"{repo}::b", ".", cwd=tree, check=0).out)
    assert first["archive"]["stats"]["deduplicated_size"] > 3 * 1024 * 1024
    assert second["archive"]["stats"]["deduplicated_size"] < 64 * 1024


@pytest.mark.parametrize("how", ["option", "env"])
def test_one_thread_restores_identical_tree(hutch, repo, tmp_path, tree, how):
    """--threads 1 (or HUTCH_THREADS=1): all chunk work in one thread, same archive.
    The tree has files above the size that is always stored in the reading thread."""
    with open(os.path.join(tree, "large.bin"), "wb") as f:
        f.write(os.urandom(3 * 1024 * 1024))
    args, env = (["--threads", "1"], None) if how == "option" else ([], {"HUTCH_THREADS": "1"})
    hutch(*args, "create", f"{repo}::a", ".", cwd=tree, env=env, check=0)
    out = tmp_path / "out"
    out.mkdir()
    hutch(*args, "extract", f"{repo}::a", cwd=out, env=env, check=0)
    assert snapshot(out) == snapshot(tree)


def test_bad_thread_counts_are_refused(hutch, repo):
    for value in ("0", "-2", "many"):
        result = hutch("--threads", value, "list", repo, check=2)
        assert_clean_error(result, "thread count")
    result = hutch("list", repo, env={"HUTCH_THREADS": "0"}, check=2)
    assert_clean_error(result, "thread count")


def test_copies_of_large_files_restore_identical(hutch, repo, tmp_path, tree):
    """Repeated chunks are read back from the restored copy, also into a
    sparse restore and across folders; the result is the same tree."""
    block = os.urandom(2 * 1024 * 1024 + 1)
    for name, content in (("copy1", block), ("dir/copy2", block), ("twice", block + block)):
        with open(os.path.join(tree, name), "wb") as f:
            f.write(content)
    hutch("create", f"{repo}::a", ".", cwd=tree, check=0)
    for options in ([], ["--sparse"]):
        out = tmp_path / f"out{len(options)}"
        out.mkdir()
        hutch("extract", *options, f"{repo}::a", cwd=out, check=0)
        assert snapshot(out) == snapshot(tree)
