"""End to end: the options of `hutch extract`."""

import os
import stat

import pytest

from ..conftest import build_archive, make_item


def _files(root) -> set[str]:
    found = set()
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            found.add(os.path.relpath(os.path.join(folder, name), root))
    return found


def test_stdout_writes_the_selected_files(hutch, repo, tree):
    hutch("create", f"{repo}::a", ".", cwd=tree, check=0)
    r = hutch("extract", "--stdout", f"{repo}::a", "dir/file.txt", check=0)
    assert r.stdout_bytes == b"hello world\n" * 1000
    r = hutch("extract", "--stdout", f"{repo}::a", "dir/sub", check=0)
    with open(os.path.join(tree, "dir/sub/random.bin"), "rb") as f:
        assert r.stdout_bytes == f.read()


def test_strip_components(hutch, repo, tree, tmp_path):
    hutch("create", f"{repo}::a", ".", cwd=tree, check=0)
    out = tmp_path / "out"
    out.mkdir()
    hutch("extract", "--strip-components", "1", f"{repo}::a", "dir", cwd=out, check=0)
    assert _files(out) == {"file.txt", "script.sh", "sub", "sub/random.bin"}
    assert (out / "file.txt").read_bytes() == b"hello world\n" * 1000
    assert os.access(out / "script.sh", os.X_OK)


def test_dry_run_writes_nothing(hutch, repo, tree, tmp_path):
    hutch("create", f"{repo}::a", ".", cwd=tree, check=0)
    out = tmp_path / "out"
    out.mkdir()
    r = hutch("extract", "--dry-run", "--list", f"{repo}::a", cwd=out, check=0)
    assert os.listdir(out) == []
    assert "dir/sub/random.bin" in r.err


def test_list_names_what_is_restored(hutch, repo, tree, tmp_path):
    hutch("create", f"{repo}::a", ".", cwd=tree, check=0)
    out = tmp_path / "out"
    out.mkdir()
    r = hutch("extract", "--list", f"{repo}::a", "dir/sub", cwd=out, check=0)
    assert set(r.err.split()) == {"dir/sub", "dir/sub/random.bin"}


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can restore other owners")
def test_numeric_ids_and_name_mapping(hutch, repo, tmp_path):
    """The archive says user nobody with uid 12345 (another machine's
    numbering): names win unless --numeric-ids."""
    regular = stat.S_IFREG | 0o640
    build_archive(
        repo,
        "a",
        [
            (
                make_item(b"named", regular, uid=12345, gid=12346, user="nobody", group="nogroup"),
                b"1",
            ),
            (make_item(b"unknown", regular, uid=12347, gid=12348, user="no-such-user-here"), b"2"),
            (make_item(b"numeric", regular, uid=12349, gid=12350), b"3"),
        ],
    )
    by_name = tmp_path / "by-name"
    by_name.mkdir()
    hutch("extract", f"{repo}::a", cwd=by_name, check=0)
    owners = {
        n: (os.lstat(by_name / n).st_uid, os.lstat(by_name / n).st_gid) for n in os.listdir(by_name)
    }
    assert owners == {"named": (65534, 65534), "unknown": (12347, 12348), "numeric": (12349, 12350)}
    by_number = tmp_path / "by-number"
    by_number.mkdir()
    hutch("extract", "--numeric-ids", f"{repo}::a", cwd=by_number, check=0)
    assert (os.lstat(by_number / "named").st_uid, os.lstat(by_number / "named").st_gid) == (
        12345,
        12346,
    )
    assert (by_number / "unknown").read_bytes() == b"2"


def test_create_numeric_ids_stores_no_names(hutch, repo, tree):
    hutch("create", "--numeric-ids", f"{repo}::a", ".", cwd=tree, check=0)
    hutch("create", f"{repo}::b", ".", cwd=tree, check=0)
    fmt = "{user}:{uid}{NL}"
    numeric = set(hutch("list", "--format", fmt, f"{repo}::a", check=0).out.split())
    named = set(hutch("list", "--format", fmt, f"{repo}::b", check=0).out.split())
    uid = os.getuid()
    assert numeric == {f"{uid}:{uid}"} | ({"65534:65534"} if uid == 0 else set())
    assert any(not u.split(":")[0].isdigit() for u in named), named
