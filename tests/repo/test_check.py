"""Check and repair, in-process: a corruption matrix (a flipped byte in a
pack's data, in a pack header, in an index segment, in an archive entry; a
deleted pack; truncated files). Check finds each one; repair recovers what
can be recovered; nothing reads back silently wrong; a second check after
repair finds no damage."""

import os

import blake3
import msgpack
import pytest

from hutch.archive.check import CheckOptions, run_check
from hutch.archive.itemscan import ItemScan
from hutch.archive.itemstream import iter_items
from hutch.errors import EXIT_ERROR, EXIT_OK, EXIT_WARNING, IntegrityError
from hutch.repo.archives import ArchiveEntry, ArchiveList
from hutch.repo.check import Findings, check_repository
from hutch.repo.index import read_segment, write_segment
from hutch.repo.pack import TRAILER
from hutch.repo.reader import ChunkReader

from .maintenance_helpers import (
    add_archive,
    data,
    new_repo_path,
    open_repo,
    pack_files,
    read_archives,
)

GOOD_1, GOOD_2, VICTIM = data(1), data(2), data(3)
FILES = {
    "a": {b"good-1": GOOD_1, b"good-2": GOOD_2},
    "b": {b"good-1": GOOD_1, b"good-2": GOOD_2, b"victim": VICTIM},
}


def check(path, **options) -> tuple[Findings, int]:
    repo = open_repo(path)
    findings = Findings()
    try:
        run_check(repo, findings, CheckOptions(**options))
    finally:
        repo.close()
    return findings, findings.exit_code(options.get("repair", False))


@pytest.fixture
def repo_path(tmp_path):
    """Archive a, then b: b's pack holds only the victim and b's file list."""
    path = new_repo_path(tmp_path / "repo")
    for name, files in FILES.items():
        add_archive(path, name, files)
    return path


def _flip(path: str, offset: int) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0x10]))


def _truncate(path: str, size: int) -> None:
    with open(path, "r+b") as f:
        f.truncate(size)


def _where(path, archive: str, file: bytes | None = None) -> tuple[str, int, int]:
    """(pack file, offset, length) of a file's first chunk, or of the first
    piece of the archive's file list."""
    repo = open_repo(path)
    reader = ChunkReader(repo)
    try:
        entry = ArchiveList(repo).get(archive)
        chunk_id = entry.items[0]
        if file is not None:
            (item,) = [i for i in iter_items(reader, entry) if i["path"] == file]
            chunk_id = bytes(item["chunks"][0][0])
        pack, offset, length = repo.index.lookup(chunk_id)
    finally:
        reader.close()
        repo.close()
    return os.path.join(path, "packs", pack[:2], pack), offset, length


def _archive_file(path, name: str) -> str:
    repo = open_repo(path)
    try:
        entry = ArchiveList(repo).get(name)
    finally:
        repo.close()
    return os.path.join(path, "archives", entry.id.hex())


def _segments(path) -> list[str]:
    folder = os.path.join(path, "index")
    return [os.path.join(folder, n) for n in sorted(os.listdir(folder))]


def flip_chunk(path):
    pack, offset, length = _where(path, "b", b"victim")
    _flip(pack, offset + length // 2)


def flip_items(path):
    pack, offset, length = _where(path, "b")
    _flip(pack, offset + length // 2)


def flip_pack_header(path):
    pack, _, _ = _where(path, "b", b"victim")
    size = os.path.getsize(pack)
    with open(pack, "rb") as f:
        f.seek(size - TRAILER.size)
        _, header_len, ids_len = TRAILER.unpack(f.read())
    _flip(pack, size - TRAILER.size - ids_len - header_len // 2)


def flip_pack_ids(path):
    pack, _, _ = _where(path, "b", b"victim")
    _flip(pack, os.path.getsize(pack) - TRAILER.size - 10)


def flip_segment(path):
    segment = _segments(path)[0]
    _flip(segment, os.path.getsize(segment) // 2)


def truncate_segment(path):
    segment = _segments(path)[-1]
    _truncate(segment, os.path.getsize(segment) // 2)


def rename_segment(path):
    """A whole, authentic segment under a name its content does not hash to."""
    segment = _segments(path)[0]
    os.rename(segment, os.path.join(os.path.dirname(segment), "0" * 64))


def flip_archive_entry(path):
    entry = _archive_file(path, "b")
    _flip(entry, os.path.getsize(entry) // 2)


def truncate_archive_entry(path):
    _truncate(_archive_file(path, "b"), 20)


def delete_pack(path):
    os.unlink(_where(path, "b", b"victim")[0])


def truncate_pack_tail(path):
    pack = _where(path, "b", b"victim")[0]
    _truncate(pack, os.path.getsize(pack) - 5)


def truncate_pack_half(path):
    pack = _where(path, "b", b"victim")[0]
    _truncate(pack, os.path.getsize(pack) // 2)


ZEROED_VICTIM = {"a": FILES["a"], "b": {**FILES["a"], b"victim": bytes(len(VICTIM))}}
ALL = FILES
WITHOUT_B = {"a": FILES["a"]}
B_EMPTY = {"a": FILES["a"], "b": {}}

# damage: what check reports; after: the archives after repair; rechecked:
# the exit code of a check after the repair (1: damaged files remain, patched,
# or files were lost with a piece of the file list: the archive says so).
MATRIX = [
    pytest.param(flip_chunk, ["b: victim: damaged", "objects are damaged"], ZEROED_VICTIM, 1),
    pytest.param(flip_items, ["pieces of its file list"], B_EMPTY, 1),
    pytest.param(flip_pack_header, ["header cannot be read", "does not match its name"], ALL, 0),
    pytest.param(flip_pack_ids, ["does not match its name"], ALL, 0),
    pytest.param(flip_segment, ["index segment"], ALL, 0),
    pytest.param(truncate_segment, ["index segment"], ALL, 0),
    pytest.param(rename_segment, ["does not match its name"], ALL, 0),
    pytest.param(flip_archive_entry, ["archive entry", "cannot be read"], WITHOUT_B, 0),
    pytest.param(truncate_archive_entry, ["archive entry"], WITHOUT_B, 0),
    pytest.param(delete_pack, ["which is missing", "pieces of its file list"], B_EMPTY, 1),
    pytest.param(truncate_pack_tail, ["does not match its name", "trailer"], ALL, 0),
    pytest.param(truncate_pack_half, ["does not match its name"], B_EMPTY, 1),
]


@pytest.mark.parametrize("damage,messages,after,rechecked", MATRIX)
def test_corruption_matrix(repo_path, damage, messages, after, rechecked):
    damage(repo_path)
    findings, rc = check(repo_path)
    assert rc == EXIT_ERROR
    text = "\n".join(findings.damage)
    for message in messages:
        assert message in text, text
    _assert_nothing_silently_wrong(repo_path)
    findings, rc = check(repo_path, repair=True)
    assert rc == EXIT_WARNING and findings.repaired and not findings.unrepaired, findings
    assert _readable(repo_path) == after
    _assert_nothing_silently_wrong(repo_path)
    findings, rc = check(repo_path, verify_data=True)
    assert not findings.damage, findings.damage
    assert rc == rechecked, findings.warnings


def _readable(path) -> dict:
    """Archives -> files whose content reads (unreadable ones left out)."""
    return {
        name: {p: c for p, c in (files or {}).items() if c is not None}
        for name, files in read_archives(path).items()
    }


def _assert_nothing_silently_wrong(path) -> None:
    """Every file reads back as it was, fails to read (extract reports it),
    or is marked as patched by repair (chunks_healthy)."""
    repo = open_repo(path)
    reader = ChunkReader(repo)
    try:
        archives = ArchiveList(repo)
        entries = archives.list()
        contents = read_archives(path)
        for entry in entries:
            if contents[entry.name] is None:
                continue  # the file list does not read: list and extract fail loudly
            items = {i["path"]: i for i in iter_items(reader, entry)}
            for file, content in contents[entry.name].items():
                original = FILES[entry.name][file]
                if content is None or content == original:
                    continue
                assert "chunks_healthy" in items[file], f"{entry.name}: {file} silently wrong"
                assert len(content) == len(original)
    finally:
        reader.close()
        repo.close()


def test_healthy_repository(repo_path):
    findings, rc = check(repo_path, verify_data=True)
    assert rc == EXIT_OK and not findings.damage and not findings.warnings


def test_repaired_file_heals_when_its_data_comes_back(repo_path):
    flip_chunk(repo_path)
    check(repo_path, repair=True)
    assert read_archives(repo_path)["b"][b"victim"] == bytes(len(VICTIM))
    # A new backup of the same data uploads the lost chunk again.
    add_archive(repo_path, "c", {b"victim": VICTIM})
    findings, rc = check(repo_path)
    assert rc == EXIT_WARNING and any("check --repair' heals" in w for w in findings.warnings)
    findings, rc = check(repo_path, repair=True)
    assert any("healed" in r for r in findings.repaired)
    assert read_archives(repo_path)["b"] == FILES["b"]
    assert check(repo_path)[1] == EXIT_OK


def test_repair_keeps_the_original_archive_until_compact(repo_path):
    flip_chunk(repo_path)
    check(repo_path, repair=True)
    repo = open_repo(repo_path)
    try:
        archives = ArchiveList(repo)
        (repaired,) = [e for e in archives.list() if e.name == "b"]
        assert "victim" in repaired.comment and "repaired by hutch check" in repaired.comment
        assert [e.name for e in archives.list_deleted()] == ["b"]
    finally:
        repo.close()


def test_verify_data_catches_a_pack_replaced_with_its_name(repo_path):
    """A server that swaps a pack for another under a matching name passes
    the hash check; only authenticating every object catches it."""
    pack, offset, length = _where(repo_path, "b", b"victim")
    old = os.path.basename(pack)
    _flip(pack, offset + length // 2)
    content = open(pack, "rb").read()
    new = blake3.blake3(content).hexdigest()
    os.makedirs(os.path.join(repo_path, "packs", new[:2]), exist_ok=True)
    os.rename(pack, os.path.join(repo_path, "packs", new[:2], new))
    repo = open_repo(repo_path)
    try:
        for segment in _segments(repo_path):
            name = "index/" + os.path.basename(segment)
            packs = read_segment(repo.store, repo.cipher, name)
            renamed = {new if p == old else p: e for p, e in packs.items()}
            write_segment(repo.store, repo.cipher, renamed)
            repo.store.delete(name)
    finally:
        repo.close()
    assert check(repo_path)[1] == EXIT_OK
    findings, rc = check(repo_path, verify_data=True)
    assert rc == EXIT_ERROR
    assert any("b: victim: damaged" in d for d in findings.damage)


def test_archives_only_finds_a_missing_pack(repo_path):
    delete_pack(repo_path)
    findings, rc = check(repo_path, repository=False)
    assert rc == EXIT_ERROR and any("file list" in d for d in findings.damage)


def test_max_duration_continues_where_it_stopped(tmp_path):
    path = new_repo_path(tmp_path / "repo")
    for i in range(6):
        add_archive(path, f"a{i}", {b"f": data(10 + i, 20_000)})
    packs = sorted(pack_files(path))
    last = os.path.join(path, "packs", packs[-1][:2], packs[-1])
    _flip(last, 100)
    seen = []
    for run in range(2):
        repo = open_repo(path, cache=True)
        position = os.path.join(repo.cache_dir, "check-position")
        findings = Findings()
        try:
            scan = check_repository(repo, findings, deadline=0.0)
        finally:
            repo.close()
        seen += sorted(scan.packs)
        if run == 0:
            assert not scan.complete and not findings.damage
            assert open(position).read().strip() == max(scan.packs)
        else:
            assert scan.complete and not os.path.exists(position)
            assert any(packs[-1] in d for d in findings.damage)
    assert seen == packs


class _Pieces:
    """A chunk reader that serves given pieces (or errors) in order."""

    def __init__(self, pieces):
        self.pieces = pieces

    def iter_get(self, kind, ids):
        for i in ids:
            yield self.pieces[i]


def test_item_scan_resynchronizes_after_a_lost_piece():
    items = [
        {"path": f"folder/file-{n:04d}".encode(), "mode": 0o100644, "size": n, "user": "u"}
        for n in range(400)
    ]
    stream = b"".join(msgpack.packb(i) for i in items)
    cut = list(range(0, len(stream), 997)) + [len(stream)]
    pieces = [stream[a:b] for a, b in zip(cut, cut[1:], strict=False)]
    pieces[4] = IntegrityError("lost")
    entry = ArchiveEntry(name="x", items=list(range(len(pieces))), time="")
    scan = ItemScan(_Pieces(pieces), entry)
    got = [i["path"] for i in scan]
    paths = [i["path"] for i in items]
    assert scan.lost_parts == 1
    # In order, no invention, and only about one piece's worth missing.
    positions = [paths.index(p) for p in got]
    assert positions == sorted(positions)
    assert len(paths) - len(got) <= 997 // 30 + 2
    assert got[0] == paths[0] and got[-1] == paths[-1]
