"""`hutch mount` / `umount` through a real FUSE mount: the mounted archive
must look like the tree that was backed up. Skipped where FUSE is missing."""

import os
import shutil
import stat
import subprocess
import time

import pytest

from hutch.archive import fusefs
from hutch.archive.patterns import PatternMatcher
from hutch.repo.archives import ArchiveList

from ..conftest import (
    HUTCH,
    assert_clean_error,
    build_archive,
    make_item,
    open_repository,
    snapshot,
)


def _fuse_missing() -> str:
    if fusefs.missing():
        return fusefs.missing()
    if not os.path.exists("/dev/fuse"):
        return "no /dev/fuse"
    if not os.access("/dev/fuse", os.R_OK | os.W_OK):
        return "/dev/fuse is not usable by this user"
    if not (shutil.which("fusermount3") or shutil.which("fusermount")):
        return "no fusermount3 (Debian package fuse3)"
    return ""


pytestmark = pytest.mark.skipif(bool(_fuse_missing()), reason=_fuse_missing() or "-")


@pytest.fixture
def mountpoint(tmp_path, hutch):
    path = tmp_path / "mnt"
    path.mkdir()
    yield path
    if os.path.ismount(path):
        hutch("umount", path)


def _wait_unmounted(path, timeout=10.0) -> None:
    deadline = time.monotonic() + timeout
    while os.path.ismount(path) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not os.path.ismount(path)


def test_mounted_archive_looks_like_the_tree(hutch, repo, tree, mountpoint):
    hutch("create", f"{repo}::a", ".", cwd=tree, check=0)
    hutch("mount", f"{repo}::a", mountpoint, check=0, timeout=60)
    try:
        assert os.path.ismount(mountpoint)
        assert snapshot(mountpoint) == snapshot(tree)
        # A read in the middle of a file of several chunks fetches just that part.
        with open(os.path.join(tree, "dir/sub/random.bin"), "rb") as f:
            f.seek(2_000_000)
            expected = f.read(300_000)
        with open(mountpoint / "dir/sub/random.bin", "rb") as f:
            f.seek(2_000_000)
            assert f.read(300_000) == expected
        with pytest.raises(OSError):
            open(mountpoint / "dir/new", "wb")
    finally:
        hutch("umount", mountpoint, check=0)
    _wait_unmounted(mountpoint)


def test_mounted_repository_has_a_folder_per_archive(hutch, repo, tree, mountpoint):
    hutch("create", f"{repo}::one", ".", cwd=tree, check=0)
    os.unlink(os.path.join(tree, "empty"))
    hutch("create", f"{repo}::two", ".", cwd=tree, check=0)
    hutch("mount", repo, mountpoint, check=0, timeout=60)
    try:
        assert sorted(os.listdir(mountpoint)) == ["one", "two"]
        assert os.path.exists(mountpoint / "one/empty")
        assert not os.path.exists(mountpoint / "two/empty")
        assert (mountpoint / "two/dir/file.txt").read_bytes() == b"hello world\n" * 1000
    finally:
        hutch("umount", mountpoint, check=0)
    _wait_unmounted(mountpoint)


def test_versions_view_has_a_folder_of_versions_per_file(hutch, repo, tmp_path, mountpoint):
    src = tmp_path / "src"
    (src / "docs").mkdir(parents=True)
    (src / "docs/report.txt").write_bytes(b"first")
    (src / ".bashrc").write_bytes(b"rc")
    hutch("create", f"{repo}::one", ".", cwd=src, check=0)
    hutch("create", f"{repo}::two", ".", cwd=src, check=0)  # nothing changed
    (src / "docs/report.txt").write_bytes(b"second")
    os.symlink("report.txt", src / "docs/link")
    hutch("create", f"{repo}::three", ".", cwd=src, check=0)
    hutch("mount", "-o", "versions", repo, mountpoint, check=0, timeout=60)
    try:
        assert sorted(os.listdir(mountpoint)) == [".bashrc", "docs"]
        report = mountpoint / "docs/report.txt"
        assert report.is_dir()
        assert sorted(os.listdir(report)) == ["report.00001.txt", "report.00002.txt"]
        assert (report / "report.00001.txt").read_bytes() == b"first"
        assert (report / "report.00002.txt").read_bytes() == b"second"
        assert os.listdir(mountpoint / ".bashrc") == [".bashrc.00001"]
        assert os.readlink(mountpoint / "docs/link") == "report.txt"
    finally:
        hutch("umount", mountpoint, check=0)
    _wait_unmounted(mountpoint)
    r = hutch("mount", "-o", "versions", f"{repo}::one", mountpoint)
    assert r.rc == 2
    assert_clean_error(r, "versions")


def test_foreground_mount_of_a_remote_repository_with_paths(
    hutch, tmp_path, tree, pipe_serve, mountpoint
):
    """Through `hutch serve` (ssh:// over a pipe), in the foreground, only dir/sub."""
    url = f"ssh://host{tmp_path}/remote"
    hutch("repo-create", "-e", "repokey", url, check=0)
    hutch("create", f"{url}::a", ".", cwd=tree, check=0)
    proc = subprocess.Popen(
        [HUTCH, "mount", "-f", f"{url}::a", mountpoint, "dir/sub"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while not os.path.ismount(mountpoint) and time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read().decode()
            time.sleep(0.05)
        assert sorted(os.listdir(mountpoint)) == ["dir"]
        assert sorted(os.listdir(mountpoint / "dir")) == ["sub"]
        with open(os.path.join(tree, "dir/sub/random.bin"), "rb") as f:
            assert (mountpoint / "dir/sub/random.bin").read_bytes() == f.read()
    finally:
        hutch("umount", mountpoint)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode()


def test_mount_errors_are_clean(hutch, repo, tree, tmp_path, mountpoint):
    hutch("create", f"{repo}::a", ".", cwd=tree, check=0)
    result = hutch("mount", f"{repo}::nope", mountpoint, check=2)
    assert_clean_error(result, "nope")
    assert not os.path.ismount(mountpoint)
    result = hutch("mount", f"{repo}::a", tmp_path / "missing", check=2)
    assert_clean_error(result, "mount point")
    result = hutch("umount", tmp_path / "missing", check=2)
    assert_clean_error(result, "cannot unmount")


def test_a_read_fetches_only_the_chunks_it_needs(repo):
    """The file system's read, called directly: a read in the middle of a
    file of many chunks fetches the one chunk under it; reading on fetches
    ahead."""
    content = os.urandom(12 * 1024 * 1024)
    build_archive(repo, "a", [(make_item(b"big", stat.S_IFREG | 0o600), content)])
    r = open_repository(repo)
    fs = fusefs.HutchFS(r, [ArchiveList(r).get("a")], single=True, matcher=PatternMatcher())
    fetched = []
    real_iter_get = fs.reader.iter_get

    def counting_iter_get(kind, ids):
        ids = list(ids)
        fetched.extend(ids)
        return real_iter_get(kind, ids)

    fs.reader.iter_get = counting_iter_get
    try:
        attrs = fs.getattr("/big")
        assert attrs["st_size"] == len(content)
        fh = fs.open("/big", os.O_RDONLY)
        assert len(fs._open[fh].ids) > 3
        middle = len(content) // 2
        assert fs.read("/big", 4096, middle, fh) == content[middle : middle + 4096]
        assert len(fetched) == 1
        assert fs.read("/big", 4096, middle + 4096, fh) == content[middle + 4096 : middle + 8192]
        assert len(fetched) == 1  # the same chunk, from the cache
        assert fs.read("/big", 1 << 20, len(content) - 10, fh) == content[-10:]
        fs.release("/big", fh)
    finally:
        fs.close()
        r.close()
