"""End to end: one flipped byte in each kind of repository file, and
damaged local caches. Every command that reads the damage fails or reports
it cleanly, names what is lost, and never restores wrong data silently."""

import glob
import json
import os
import shutil

import pytest

from hutch.archive.itemstream import iter_items
from hutch.repo.archives import ArchiveList
from hutch.repo.pack import TRAILER
from hutch.repo.reader import ChunkReader

from ..conftest import assert_clean_error, open_repository


def _flip(path, offset: int) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0x40]))


def _pack_path(repo, pack: str) -> str:
    return os.path.join(repo, "packs", pack[:2], pack)


def _chunk_location(repo_path, archive: str, path: bytes) -> tuple[str, int, int, bytes]:
    """(pack file, offset, length, chunk id) of the first chunk of `path`."""
    repo = open_repository(repo_path)
    reader = ChunkReader(repo)
    try:
        entry = ArchiveList(repo).get(archive)
        (item,) = [i for i in iter_items(reader, entry) if i["path"] == path]
        chunk_id = bytes(item["chunks"][0][0])
        pack, offset, length = repo.index.lookup(chunk_id)
    finally:
        reader.close()
        repo.close()
    return _pack_path(repo_path, pack), offset, length, chunk_id


def _data(seed: int, size: int = 300 * 1024) -> bytes:
    return os.urandom(size - 8) + seed.to_bytes(8, "big")


@pytest.fixture
def damaged_setup(hutch, tmp_path):
    """A repository (compression none) holding archive a of three files."""

    def make(mode="repokey"):
        repo = tmp_path / "repo"
        hutch("init", "-e", mode, repo, check=0)
        src = tmp_path / "src"
        src.mkdir()
        files = {"good-1": _data(1), "victim": _data(2), "good-2": _data(3)}
        for name, data in files.items():
            (src / name).write_bytes(data)
        hutch("create", "-C", "none", f"{repo}::a", ".", cwd=src, check=0)
        return repo, src, files

    return make


def _extract(hutch, repo, archive, target, *args, check=None):
    target.mkdir(exist_ok=True)
    return hutch("extract", *args, f"{repo}::{archive}", cwd=target, check=check)


@pytest.mark.parametrize("mode", ["repokey", "none"])
def test_flipped_byte_in_a_chunk(hutch, tmp_path, damaged_setup, mode):
    repo, src, files = damaged_setup(mode)
    pack, offset, length, _ = _chunk_location(repo, "a", b"victim")
    _flip(pack, offset + length // 2)
    out = tmp_path / "out"
    r = _extract(hutch, repo, "a", out, check=2)
    assert_clean_error(r, "victim", "damaged")
    assert "good-1" not in r.err and "good-2" not in r.err
    assert (out / "good-1").read_bytes() == files["good-1"]
    assert (out / "good-2").read_bytes() == files["good-2"]
    if (out / "victim").exists():
        assert (out / "victim").read_bytes() != files["victim"]
    assert_clean_error(_extract(hutch, repo, "a", tmp_path / "dry", "-n", check=2), "victim")
    r = hutch("extract", "--stdout", f"{repo}::a", "victim", check=2)
    assert_clean_error(r, "victim")
    r = hutch("extract", "--stdout", f"{repo}::a", "good-2", check=0)
    assert r.stdout_bytes == files["good-2"]
    hutch("list", f"{repo}::a", check=0)


def test_flipped_byte_in_an_archive_file_list(hutch, tmp_path, damaged_setup):
    repo, src, files = damaged_setup()
    opened = open_repository(repo)
    try:
        items_id = ArchiveList(opened).get("a").items[0]
        pack, offset, length = opened.index.lookup(items_id)
    finally:
        opened.close()
    _flip(_pack_path(repo, pack), offset + length // 2)
    for args in (("list", f"{repo}::a"), ("extract", "--dry-run", f"{repo}::a")):
        assert_clean_error(hutch(*args, check=2), "archive 'a'", "damaged")
    assert hutch("list", "--short", repo, check=0).out.split() == ["a"]
    hutch("create", f"{repo}::b", ".", cwd=src, check=0)


def _pack_header_offset(pack: str) -> int:
    size = os.path.getsize(pack)
    with open(pack, "rb") as f:
        f.seek(size - TRAILER.size)
        _, header_len, ids_len = TRAILER.unpack(f.read())
    return size - TRAILER.size - ids_len - header_len + header_len // 2


def test_flipped_byte_in_a_pack_header(hutch, tmp_path, damaged_setup):
    repo, src, files = damaged_setup()
    pack, *_ = _chunk_location(repo, "a", b"victim")
    _flip(pack, _pack_header_offset(pack))
    # The index holds everything a restore needs: the header is not read.
    out = tmp_path / "out"
    _extract(hutch, repo, "a", out, check=0)
    assert {n: (out / n).read_bytes() for n in files} == files
    # Without index segments and cache, the header is all there is.
    for segment in glob.glob(str(repo / "index" / "*")):
        os.unlink(segment)
    shutil.rmtree(os.environ["HUTCH_CACHE_DIR"])
    r = _extract(hutch, repo, "a", tmp_path / "out2", check=2)
    assert_clean_error(r, "damaged")
    # New backups work, and store the data again rather than trust the pack.
    doc = json.loads(hutch("create", "--json", f"{repo}::b", ".", cwd=src, check=0).out)
    assert doc["archive"]["stats"]["deduplicated_size"] >= sum(map(len, files.values()))
    out3 = tmp_path / "out3"
    _extract(hutch, repo, "b", out3, check=0)
    assert {n: (out3 / n).read_bytes() for n in files} == files


def test_flipped_byte_in_an_index_segment(hutch, tmp_path, damaged_setup):
    repo, src, files = damaged_setup()
    (segment,) = glob.glob(str(repo / "index" / "*"))
    _flip(segment, os.path.getsize(segment) // 2)
    shutil.rmtree(os.environ["HUTCH_CACHE_DIR"])  # so the segment is read
    out = tmp_path / "out"
    _extract(hutch, repo, "a", out, check=0)  # the pack headers say the same
    assert {n: (out / n).read_bytes() for n in files} == files
    doc = json.loads(hutch("create", "--json", f"{repo}::b", ".", cwd=src, check=0).out)
    assert doc["archive"]["stats"]["deduplicated_size"] < 64 * 1024


def test_flipped_byte_in_an_archive_entry(hutch, tmp_path, damaged_setup):
    repo, src, files = damaged_setup()
    hutch("create", f"{repo}::b", ".", cwd=src, check=0)
    ids = {a["name"]: a["id"] for a in json.loads(hutch("list", "--json", repo).out)["archives"]}
    entry = repo / "archives" / ids["a"]
    _flip(entry, os.path.getsize(entry) // 2)
    r = hutch("list", "--short", repo, check=2)
    assert r.out.split() == ["b"]
    assert_clean_error(r, f"archives/{ids['a']}", "damaged")
    assert_clean_error(hutch("info", repo, check=2), "damaged")
    r = _extract(hutch, repo, "a", tmp_path / "out-a", check=2)
    assert_clean_error(r, "damaged")
    out = tmp_path / "out-b"
    _extract(hutch, repo, "b", out, check=0)
    assert {n: (out / n).read_bytes() for n in files} == files
    hutch("create", f"{repo}::c", ".", cwd=src, check=0)


@pytest.mark.parametrize("where", [0.1, 0.3, 0.5, 0.7, 0.95])
def test_flipped_byte_in_the_repokey(hutch, repo, where):
    key = repo / "keys" / "repokey"
    _flip(key, int(os.path.getsize(key) * where))
    r = hutch("list", repo, check=2)
    assert_clean_error(r, "key")
    assert len(r.err.strip().splitlines()) == 1


def test_flipped_byte_in_a_key_file(hutch, tmp_path):
    repo = tmp_path / "repo"
    hutch("init", "-e", "keyfile", repo, check=0)
    (key,) = glob.glob(os.path.join(os.environ["HUTCH_CONFIG_DIR"], "keys", "*"))
    text = open(key).read()
    body = text.index("\n") + 20
    with open(key, "w") as f:
        f.write(text[:body] + ("A" if text[body] != "A" else "B") + text[body + 1 :])
    assert_clean_error(hutch("list", repo, check=2), "key")


def test_flipped_byte_in_the_config(hutch, repo):
    config = repo / "config" / "config"
    for offset in range(0, os.path.getsize(config), 5):
        original = config.read_bytes()
        _flip(config, offset)
        r = hutch("list", repo)
        assert r.rc in (0, 2), r.err
        assert_clean_error(r)
        config.write_bytes(original)


def test_chunk_index_cache_is_rebuilt_when_missing_or_damaged(hutch, tmp_path, damaged_setup):
    repo, src, files = damaged_setup()
    (cache,) = glob.glob(os.path.join(os.environ["HUTCH_CACHE_DIR"], "*", "chunks"))
    os.unlink(cache)
    doc = json.loads(hutch("create", "--json", f"{repo}::b", ".", cwd=src, check=0).out)
    assert doc["archive"]["stats"]["deduplicated_size"] < 64 * 1024, "rebuilt index deduplicates"
    assert os.path.exists(cache)
    # Point a chunk's index entry elsewhere: the cache looks fine but lies.
    _, offset, _, chunk_id = _chunk_location(repo, "a", b"victim")
    data = open(cache, "rb").read()
    at = data.index(chunk_id[4:]) + 28 + 4 + 3  # id (after its prefix), pack number, offset
    _flip(cache, at)
    out = tmp_path / "out"
    _extract(hutch, repo, "a", out, check=0)
    assert {n: (out / n).read_bytes() for n in files} == files
    with open(cache, "wb") as f:
        f.write(os.urandom(1000))
    hutch("create", f"{repo}::c", ".", cwd=src, check=0)
    out2 = tmp_path / "out2"
    _extract(hutch, repo, "c", out2, check=0)
    assert {n: (out2 / n).read_bytes() for n in files} == files


def test_damaged_files_cache_is_not_trusted(hutch, tmp_path, damaged_setup):
    repo, src, files = damaged_setup()
    (cache,) = glob.glob(os.path.join(os.environ["HUTCH_CACHE_DIR"], "*", "files-*"))
    for offset in (os.path.getsize(cache) // 3, os.path.getsize(cache) // 2):
        _flip(cache, offset)
    hutch("create", f"{repo}::b", ".", cwd=src, check=0)
    with open(cache, "wb") as f:
        f.write(b"\x93\x01\x02")
    hutch("create", f"{repo}::c", ".", cwd=src, check=0)
    for archive in ("b", "c"):
        out = tmp_path / f"out-{archive}"
        _extract(hutch, repo, archive, out, check=0)
        assert {n: (out / n).read_bytes() for n in files} == files


def test_a_repaired_archive_does_not_look_whole(hutch, tmp_path, repo):
    """The pack holding b's file list is lost and check --repair rewrites
    b: whatever reads b afterwards says what was lost and exits with 1."""
    src = tmp_path / "src"
    src.mkdir()
    for i in range(52):
        (src / f"file-{i}").write_bytes(_data(i, 2000))
    hutch("create", f"{repo}::a", "-", input=b"other data", check=0)
    before = set(glob.glob(f"{repo}/packs/*/*"))
    hutch("create", f"{repo}::b", ".", cwd=src, check=0)
    for pack in set(glob.glob(f"{repo}/packs/*/*")) - before:
        os.unlink(pack)  # b's data and its file list
    assert hutch("check", "--repair", repo).rc == 1
    reads = {
        "list": hutch("list", f"{repo}::b"),
        "extract": hutch("extract", f"{repo}::b", cwd=tmp_path),
        "export-tar": hutch("export-tar", f"{repo}::b", tmp_path / "b.tar"),
        "info": hutch("info", f"{repo}::b"),
        "check": hutch("check", "--verify-data", repo),
    }
    for command, r in reads.items():
        assert r.rc == 1, (command, r.err)
        assert_clean_error(r, "archive b", "repaired", "file list", "lost")
    info = reads["info"].out
    assert "Number of files: 52" not in info or "repair" in info.split("Number of files")[1]
    assert json.loads(hutch("info", "--json", f"{repo}::b").out)["archives"][0]["repaired"]
    assert hutch("list", f"{repo}::a", check=0).err == ""
