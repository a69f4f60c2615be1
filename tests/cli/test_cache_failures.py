"""End to end: a cache folder that cannot be written (full disk, immutable,
a folder where a file should be, a file where the folder should be) never
stops list, extract, create or check. Each warns once, naming the cache
file, finishes with exit code 1, and no source file is blamed. (A full
disk under the repository itself stops a backup, cleanly.)"""

import contextlib
import os
import subprocess

import pytest

from hutch.repo import kdfhints

from ..conftest import assert_clean_error, snapshot


def _cache_folder(cache_root) -> str:
    (repo_folder,) = [n for n in os.listdir(cache_root) if n != kdfhints.FOLDER]
    return os.path.join(cache_root, repo_folder)


@pytest.fixture
def source(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    for name in ("alpha", "beta", "gamma"):
        (root / name).write_bytes(os.urandom(50_000) + name.encode())
    return root


@contextlib.contextmanager
def _immutable(path):
    if subprocess.run(["chattr", "+i", path], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not possible here (needs root and a file system with flags)")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", path], check=True)


@pytest.fixture
def full_disk(tmp_path):
    """A tiny tmpfs, filled up; skips where mounting is not allowed."""
    mount = tmp_path / "small"
    mount.mkdir()
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", mount], capture_output=True
    )
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", mount], check=True)


def _fill(folder) -> None:
    fd = os.open(os.path.join(folder, "filler"), os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while os.write(fd, bytes(4096)):
            pass
    except OSError:
        pass  # full
    finally:
        os.close(fd)


def _assert_goes_on(hutch, repo, source, tmp_path, cache_env, warned: str, name: str):
    """create, list and extract with the broken cache: each warns
    once about `warned` and finishes (rc 1), and the backup is whole."""
    env = {"HUTCH_CACHE_DIR": str(cache_env)}
    results = [
        hutch("create", f"{repo}::{name}", ".", cwd=source, env=env),
        hutch("list", f"{repo}::{name}", env=env),
    ]
    out = tmp_path / f"out-{name}"
    out.mkdir()
    results.append(hutch("extract", f"{repo}::{name}", cwd=out, env=env))
    for r in results:
        assert r.rc == 1, r.err
        assert_clean_error(r, warned, "going on without the cache")
        assert r.err.count("going on without the cache") == 1, r.err  # once, not per file
        assert "alpha" not in r.err and "beta" not in r.err, "a source file was blamed: " + r.err
    assert snapshot(out) == snapshot(source)
    assert results[1].out.count("\n") == 3
    # check reads no cache but the position of a partial check.
    assert_clean_error(hutch("check", repo, env=env, check=0))


def test_chunks_cache_is_a_folder(hutch, repo, source, tmp_path):
    cache = tmp_path / "cache"
    hutch("create", f"{repo}::first", ".", cwd=source, check=0)
    chunks = os.path.join(_cache_folder(cache), "chunks")
    os.unlink(chunks)
    os.mkdir(chunks)
    _assert_goes_on(hutch, repo, source, tmp_path, cache, chunks, "second")


def test_files_cache_is_a_folder(hutch, repo, source, tmp_path):
    """The files cache is written after the commit point: the archive exists
    and the exit code says a warning, not an error."""
    cache = tmp_path / "cache"
    name = f"{repo}::snap-{{now:%H%M%S%f}}"  # one series, a new name each time
    hutch("create", name, ".", cwd=source, check=0)
    folder = _cache_folder(cache)
    (files,) = [n for n in os.listdir(folder) if n.startswith("files-")]
    os.unlink(os.path.join(folder, files))
    os.mkdir(os.path.join(folder, files))
    r = hutch("create", "--stats", name, ".", cwd=source, check=1)
    assert_clean_error(r, os.path.join(folder, files), "going on without the cache")
    assert "alpha" not in r.err
    assert len(hutch("list", "--short", repo, check=0).out.split()) == 2


def test_immutable_cache_folder(hutch, repo, source, tmp_path):
    cache = tmp_path / "cache"
    hutch("create", f"{repo}::first", ".", cwd=source, check=0)
    folder = _cache_folder(cache)
    (source / "alpha").write_bytes(b"changed")  # the new archive's packs: a new index
    with _immutable(folder):
        _assert_goes_on(hutch, repo, source, tmp_path, cache, folder, "second")
    assert not [n for n in os.listdir(folder) if ".tmp" in n]


def test_cache_on_a_full_disk(hutch, repo, source, tmp_path, full_disk):
    _fill(full_disk)
    _assert_goes_on(hutch, repo, source, tmp_path, full_disk, str(full_disk), "a")
    r = hutch("list", repo, env={"HUTCH_CACHE_DIR": str(full_disk)}, check=0)
    assert "cache" not in r.err  # listing archives needs no cache
    leftovers = [n for _, _, names in os.walk(full_disk) for n in names if ".tmp" in n]
    assert not leftovers


def test_cache_dir_is_a_file(hutch, repo, source, tmp_path):
    not_a_folder = tmp_path / "cache-file"
    not_a_folder.write_text("I am a file")
    _assert_goes_on(hutch, repo, source, tmp_path, not_a_folder, str(not_a_folder), "a")
    assert not_a_folder.read_text() == "I am a file"


def test_partial_check_without_a_writable_cache(hutch, repo, source, tmp_path):
    for i in range(6):  # a pack each: more than the check reads ahead
        (source / "alpha").write_bytes(os.urandom(1000))
        hutch("create", f"{repo}::a{i}", ".", cwd=source, check=0)
    not_a_folder = tmp_path / "cache-file"
    not_a_folder.write_text("")
    r = hutch(
        "check",
        "--repository-only",
        "--max-duration",
        "0.001",
        repo,
        env={"HUTCH_CACHE_DIR": str(not_a_folder)},
        check=1,
    )
    assert_clean_error(r, str(not_a_folder), "going on without the cache")


def test_repository_on_a_full_disk(hutch, source, tmp_path, full_disk):
    """Not the cache, the repository: the backup stops with one clear line
    that blames the disk, not a source file, and leaves nothing behind."""
    repo = full_disk / "repo"
    hutch("repo-create", "-e", "repokey", repo, check=0)
    hutch("create", f"{repo}::small", ".", cwd=source, check=0)
    (source / "big").write_bytes(os.urandom(400_000))
    r = hutch("create", f"{repo}::big", ".", cwd=source, check=2)
    assert_clean_error(r, "No space left on device")
    assert "b'" not in r.err and "big:" not in r.err, r.err
    assert hutch("list", "--short", repo, check=0).out == "small\n"
    leftovers = [n for _, _, names in os.walk(repo) for n in names if n.startswith(".tmp")]
    assert not leftovers
