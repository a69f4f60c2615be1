"""End to end: prune, undelete, compact, check, with-lock and repo-delete
as a user runs them, compact next to a running backup, and the exit codes."""

import os
import subprocess
import time

import pytest

from hutch.archive.itemstream import iter_items
from hutch.repo.archives import ArchiveList
from hutch.repo.reader import ChunkReader

from ..conftest import HUTCH, assert_clean_error, faketime, open_repository


def _names(hutch, repo) -> list[str]:
    return hutch("list", "--short", repo, check=0).out.split()


def _repo_size(repo) -> int:
    return sum(
        os.path.getsize(os.path.join(folder, name))
        for folder, _, names in os.walk(repo / "packs")
        for name in names
    )


@pytest.fixture
def dated(hutch, repo, tmp_path):
    """Archives of a tree holding one new file each time, made on given days
    (the clock moved: prune goes by when archives arrived)."""
    src = tmp_path / "src"
    src.mkdir()
    days = ["2023-12-30", "2023-12-31", "2024-01-01", "2024-01-01", "2024-01-02"]
    for i, day in enumerate(days):
        for old in src.iterdir():
            old.unlink()
        (src / f"file-{i}").write_bytes(os.urandom(300_000))
        stamp = f"{day}T{10 + i:02d}:00:00"
        hutch(
            "create",
            f"{repo}::backup-{i}",
            ".",
            cwd=src,
            prefix=faketime(f"@{stamp.replace('T', ' ')}"),
            check=0,
        )
    return src


def test_prune_undelete_compact(hutch, repo, dated, tmp_path):
    r = hutch("prune", "--dry-run", "--keep-daily", "2", repo, check=0)
    lines = r.err.splitlines()
    assert lines[0].startswith("Keeping archive (rule: daily #1):") and "backup-4" in lines[0]
    assert lines[1].startswith("Keeping archive (rule: daily #2):") and "backup-3" in lines[1]
    assert lines[2].startswith("Would prune:") and "backup-2" in lines[2]
    assert len(lines) == 5
    assert len(_names(hutch, repo)) == 5
    r = hutch("prune", "--list", "--keep-daily", "2", repo, check=0)
    assert "Pruning archive (1/3):" in r.err and "Pruning archive (3/3):" in r.err
    assert _names(hutch, repo) == ["backup-3", "backup-4"]
    # Soft deleted: undelete brings one back, compact makes it final.
    hutch("undelete", f"{repo}::backup-0", check=0)
    assert _names(hutch, repo) == ["backup-0", "backup-3", "backup-4"]
    before = _repo_size(repo)
    r = hutch("compact", "--dry-run", repo, check=0)
    assert "Would remove 2 deleted archive(s) for good" in r.err
    assert _repo_size(repo) == before
    r = hutch("compact", repo, check=0)
    assert "Compaction freed" in r.err
    assert _repo_size(repo) < before - 500_000
    assert_clean_error(hutch("undelete", f"{repo}::backup-1", check=2), "backup-1")
    for name in ("backup-0", "backup-4"):
        out = tmp_path / name
        out.mkdir()
        hutch("extract", f"{repo}::{name}", cwd=out, check=0)
    assert os.listdir(tmp_path / "backup-4") == os.listdir(dated) == ["file-4"]
    assert os.listdir(tmp_path / "backup-0") == ["file-0"]
    assert hutch("check", "--verify-data", repo).rc == 0


def test_prune_match_archives_and_rules(hutch, repo, tree):
    for name in ("web-1", "web-2", "db-1", "db-2"):
        hutch("create", f"{repo}::{name}", "dir/file.txt", cwd=tree, check=0)
    hutch("prune", "-a", "sh:web-*", "--keep-last", "1", repo, check=0)
    assert _names(hutch, repo) == ["web-2", "db-1", "db-2"]
    hutch("prune", "--match-archives", "re:^db", "--keep-within", "1H", repo, check=0)
    assert _names(hutch, repo) == ["web-2", "db-1", "db-2"]
    assert_clean_error(hutch("prune", repo, check=2), "at least one rule")
    assert_clean_error(hutch("prune", "--keep-within", "2x", repo, check=2), "interval")


def test_prune_minus_one_means_unlimited(hutch, repo, dated):
    """As in borg: -1 keeps every period (or, for --keep-last, every archive)."""
    r = hutch("prune", "--list", "--keep-daily", "-1", repo, check=0)
    assert "backup-2" in r.err and "Pruning archive (1/1):" in r.err
    assert _names(hutch, repo) == ["backup-0", "backup-1", "backup-3", "backup-4"]
    hutch("prune", "--keep-last", "-1", repo, check=0)
    assert len(_names(hutch, repo)) == 4
    r = hutch("prune", "--keep-monthly", "-2", repo, check=2)
    assert_clean_error(r, "--keep-monthly", "-1")


def test_compact_waits_for_a_running_create(hutch, repo, tmp_path):
    """The chunks of a deleted archive that a running backup counts on are
    not removed: compact waits for the backup, then both succeed."""
    content = os.urandom(3 * 1024 * 1024)
    hutch("create", f"{repo}::old", "-", input=content, check=0)
    hutch("delete", f"{repo}::old", check=0)
    create = subprocess.Popen(
        [HUTCH, "create", f"{repo}::new", "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    create.stdin.write(content)
    create.stdin.flush()
    deadline = time.monotonic() + 20
    while not os.listdir(repo / "locks") and time.monotonic() < deadline:
        time.sleep(0.05)
    compact = subprocess.Popen(
        [HUTCH, "compact", "--lock-wait", "60", repo],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    time.sleep(1.0)
    assert compact.poll() is None, "compact ran next to a backup"
    create.stdin.close()
    assert create.wait(timeout=60) == 0, create.stderr.read()
    assert compact.wait(timeout=60) == 0, compact.stderr.read()
    create.stderr.close()
    compact.stderr.close()
    assert _names(hutch, repo) == ["new"]
    assert hutch("extract", "--stdout", f"{repo}::new", check=0).stdout_bytes == content
    assert hutch("check", repo).rc == 0


def test_creates_wait_while_the_exclusive_lock_is_held(hutch, repo, tree):
    holder = subprocess.Popen([HUTCH, "with-lock", repo, "sleep", "2"], stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while not os.listdir(repo / "locks") and time.monotonic() < deadline:
        time.sleep(0.05)
    r = hutch("create", "--lock-wait", "0.3", f"{repo}::early", ".", cwd=tree, check=2)
    assert_clean_error(r, "Failed to create/acquire the lock")
    start = time.monotonic()
    hutch("create", "--lock-wait", "30", f"{repo}::patient", ".", cwd=tree, check=0)
    assert holder.wait(timeout=30) == 0
    assert time.monotonic() - start > 0.5
    assert _names(hutch, repo) == ["patient"]


def test_with_lock(hutch, repo, tmp_path):
    r = hutch("with-lock", repo, "sh", "-c", f"ls {repo}/locks | wc -l; exit 3", check=3)
    assert r.out.strip() == "1"
    assert os.listdir(repo / "locks") == []
    r = hutch("with-lock", "--repo", str(repo), "true", check=0)
    assert_clean_error(hutch("with-lock", repo, "no-such-command-xyz", check=2), "cannot run")
    assert_clean_error(hutch("with-lock", repo, check=2), "usage")
    assert_clean_error(hutch("with-lock", tmp_path, "true", check=2), "no repository")


def test_repo_delete_asks_first(hutch, repo, tree):
    hutch("create", f"{repo}::a", ".", cwd=tree, check=0)
    cache = os.environ["HUTCH_CACHE_DIR"]
    assert os.listdir(cache)
    r = hutch("repo-delete", repo, check=2)  # no answer on stdin
    assert_clean_error(r, "not deleted")
    r = hutch("repo-delete", repo, input="no\n", check=2)
    assert "Type 'YES'" in r.err and "1 archive" in r.err
    assert _names(hutch, repo) == ["a"]
    hutch("repo-delete", "--dry-run", repo, check=0)
    assert repo.exists()
    hutch("repo-delete", repo, input="YES\n", check=0)
    assert not repo.exists()
    assert os.listdir(cache) == []
    assert_clean_error(hutch("list", repo, check=2), "no repository")


@pytest.mark.parametrize("how", ["env", "force"])
def test_repo_delete_without_asking(hutch, repo, how):
    if how == "env":
        hutch("repo-delete", repo, env={"HUTCH_DELETE_I_KNOW_WHAT_I_AM_DOING": "YES"}, check=0)
    else:
        hutch("repo-delete", "--force", repo, check=0)
    assert not repo.exists()


def _flip(path, offset):
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0x01]))


def test_check_exit_codes_and_repair(hutch, repo, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    files = {name: os.urandom(250_000) for name in ("good", "victim")}
    for name, content in files.items():
        (src / name).write_bytes(content)
    hutch("create", "-C", "none", f"{repo}::a", "good", cwd=src, check=0)
    hutch("create", "-C", "none", f"{repo}::b", ".", cwd=src, check=0)
    assert hutch("check", repo).rc == 0
    _flip(_chunk_pack(repo, "b", b"victim"), 1000)
    r = hutch("check", repo, check=2)
    assert_clean_error(r, "archive b: victim: damaged")
    assert ": good:" not in r.err
    # Without reading the data, the archives look fine; reading it finds the damage.
    assert hutch("check", "--archives-only", repo).rc == 0
    r = hutch("check", "--archives-only", "--verify-data", repo, check=2)
    assert_clean_error(r, "archive b: victim: damaged")
    r = hutch("check", "--repair", repo, check=1)
    assert "rewritten" in r.err
    r = hutch("check", repo, check=1)
    assert "earlier repair" in r.err
    out = tmp_path / "out"
    out.mkdir()
    hutch("extract", f"{repo}::b", "good", cwd=out)
    assert (out / "good").read_bytes() == files["good"]
    info = hutch("info", f"{repo}::b", check=1)  # a repaired archive says so
    assert "repaired by hutch check" in info.out and "1 file(s) hold zeros" in info.out
    # Compact after repair: the original b goes for good, nothing is missing.
    r = hutch("compact", repo, check=0)
    assert "missing" not in r.err


def _chunk_pack(repo_path, archive: str, path: bytes) -> str:
    """The pack file holding the first chunk of `path` in `archive`."""
    repo = open_repository(repo_path)
    reader = ChunkReader(repo)
    try:
        entry = ArchiveList(repo).get(archive)
        (item,) = [i for i in iter_items(reader, entry) if i["path"] == path]
        pack = repo.index.lookup(bytes(item["chunks"][0][0]))[0]
    finally:
        reader.close()
        repo.close()
    return os.path.join(repo_path, "packs", pack[:2], pack)


def test_check_finds_a_damaged_key(hutch, repo):
    key = repo / "keys" / "repokey"
    _flip(key, os.path.getsize(key) // 2)
    r = hutch("check", repo, check=2)
    assert_clean_error(r, "key")
    assert len(r.err.strip().splitlines()) == 1


def test_check_max_duration(hutch, repo):
    for name in ("a", "b", "c", "d", "e", "f"):
        hutch("create", f"{repo}::{name}", "-", input=os.urandom(1000), check=0)
    r = hutch("check", "--max-duration", "0.001", "-v", repo, check=2)
    assert_clean_error(r, "--repository-only")
    r = hutch("check", "--repository-only", "--max-duration", "0.001", "-v", repo, check=0)
    assert "next check continues" in r.err
    r = hutch("check", "--repository-only", "--max-duration", "60", "-v", repo, check=0)
    assert "continuing the pack check" in r.err


def test_extract_names_files_that_repair_patched_with_zeros(hutch, repo, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "victim").write_bytes(os.urandom(250_000))
    hutch("create", "-C", "none", f"{repo}::b", ".", cwd=src, check=0)
    _flip(_chunk_pack(repo, "b", b"victim"), 1000)
    hutch("check", "--repair", repo, check=1)
    out = tmp_path / "out"
    out.mkdir()
    r = hutch("extract", f"{repo}::b", cwd=out)
    assert r.rc != 0 and "victim" in r.err


@pytest.mark.parametrize("served", [False, True], ids=["local", "served"])
def test_leftovers_of_a_killed_upload(hutch, repo, tree, request, served):
    """A backup killed during an upload leaves its temporary pack file:
    check reports it, compact removes it once it is an hour old; a younger
    one may belong to a writer still at work and stays."""
    url = str(repo)
    if served:
        request.getfixturevalue("pipe_serve")
        url = f"ssh://host{repo}"
    hutch("create", f"{url}::a", tree, check=0)
    folder = next(path for path, _, names in os.walk(repo / "packs") if names)
    killed = os.path.join(folder, ".tmp-killed01")
    with open(killed, "wb") as f:
        f.write(os.urandom(2_000_000))
    os.utime(killed, (time.time() - 7200, time.time() - 7200))
    writing = os.path.join(repo, "index", ".tmp-writing")
    with open(writing, "wb") as f:
        f.write(b"half")
    r = hutch("check", url, check=1)
    assert_clean_error(r, "1 temporary file(s) of interrupted writes (2.0 MB", "compact")
    assert ".tmp-killed01" in r.err and ".tmp-writing" not in r.err
    r = hutch("compact", "--dry-run", url, check=0)
    assert "Would remove 1 temporary file(s)" in r.err and os.path.exists(killed)
    r = hutch("compact", url, check=0)
    assert "Removed 1 temporary file(s)" in r.err
    assert not os.path.exists(killed) and os.path.exists(writing)
    assert hutch("check", url).rc == 0
    assert hutch("list", "--short", url, check=0).out == "a\n"
