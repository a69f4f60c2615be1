"""Packs and the chunk index: headers, segments, and the local cache."""

import os
import tracemalloc

import blake3
import pytest

from hutch.compress import parse_spec
from hutch.crypto.objects import ObjectKind
from hutch.errors import IntegrityError
from hutch.repo import index as index_module
from hutch.repo import reader as reader_module
from hutch.repo import writer as writer_module
from hutch.repo.cache import CacheDir
from hutch.repo.index import ChunkIndex, load_index
from hutch.repo.pack import TRAILER, NeedMore, PackBuilder, parse_tail
from hutch.repo.reader import ChunkReader, Passed
from hutch.repo.repository import Repository
from hutch.repo.writer import RepoWriter


def _pack(cipher, n=5, size=1000):
    builder = PackBuilder()
    for i in range(n):
        builder.add(
            bytes([i]) * 32, cipher.seal(ObjectKind.CHUNK, bytes([i]) * 32, os.urandom(size))
        )
    entries = list(builder.entries)
    name, data = builder.finish(cipher)
    return name, data, entries


def test_pack_header_round_trip(make_repo):
    cipher = make_repo().cipher
    name, data, entries = _pack(cipher)
    assert parse_tail(data, len(data), cipher) == entries
    with pytest.raises(NeedMore) as more:
        parse_tail(data[-30:], len(data), cipher)
    assert parse_tail(data[-more.value.size :], len(data), cipher) == entries


@pytest.mark.parametrize("sizes", [(30_000, 29_000), (30_000, 1_000), (1_000, 30_000)])
def test_a_pack_built_in_the_memory_of_the_last_holds_only_its_own_objects(make_repo, sizes):
    cipher = make_repo().cipher
    _, first, _ = _pack(cipher, n=4, size=sizes[0])
    builder = PackBuilder(first)
    objects = {os.urandom(32): os.urandom(sizes[1]) for _ in range(3)}
    for obj_id, plain in objects.items():
        builder.add(obj_id, cipher.seal(ObjectKind.CHUNK, obj_id, plain))
    name, data = builder.finish(cipher)
    assert name == blake3.blake3(data).hexdigest()
    entries = parse_tail(data, len(data), cipher)
    assert entries == builder.entries
    end = entries[-1][1] + entries[-1][2]
    header_len, ids_len = TRAILER.unpack(data[-TRAILER.size :])[1:]
    assert len(data) == end + header_len + ids_len + TRAILER.size
    for obj_id, offset, length in entries:
        assert (
            cipher.open(ObjectKind.CHUNK, obj_id, data[offset : offset + length])
            == (objects[obj_id])
        )


def test_damaged_pack_tail_is_an_integrity_error(make_repo):
    cipher = make_repo().cipher
    _, data, _ = _pack(cipher)
    for i in range(len(data) - 400, len(data)):
        damaged = data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1 :]
        try:
            entries = parse_tail(damaged, len(damaged), cipher)
        except (IntegrityError, NeedMore):
            continue
        # Only the clear list of ids may change without the header noticing.
        _, header_len, ids_len = TRAILER.unpack(data[-TRAILER.size :])
        assert len(data) - TRAILER.size - ids_len <= i < len(data) - TRAILER.size
        assert entries == parse_tail(data, len(data), cipher)
    with pytest.raises(IntegrityError):
        parse_tail(b"short", 5, cipher)


def test_chunk_index_serialises():
    index = ChunkIndex()
    index.add_pack("p1", [(b"a" * 32, 0, 10), (b"b" * 32, 10, 20)])
    index.add_pack("p2", [(b"c" * 32, 0, 5), (b"a" * 32, 5, 10)])  # first location wins
    copy = ChunkIndex.from_parts(*index.parts())
    assert len(copy) == 3
    assert copy.lookup(b"a" * 32) == ("p1", 0, 10)
    assert copy.lookup(b"c" * 32) == ("p2", 0, 5)
    assert copy.known_packs() == {"p1", "p2"}


def _write_chunks(repo: Repository, n: int, pack_size=None) -> dict[bytes, bytes]:
    writer = RepoWriter(repo, **({"pack_size": pack_size} if pack_size else {}))
    compressor = parse_spec("lz4")
    chunks = {}
    for _ in range(n):
        data = os.urandom(5000)
        chunk_id = repo.key.chunk_id(data)
        writer.add(
            chunk_id, repo.cipher.seal(ObjectKind.CHUNK, chunk_id, compressor.compress(data))
        )
        chunks[chunk_id] = data
    writer.flush()
    writer.close()
    return chunks


def _reopen(repo: Repository) -> Repository:
    return Repository(
        repo.store, repo.config, repo.key, repo.cache_dir and os.path.dirname(repo.cache_dir)
    )


def _read_all(repo, chunks):
    reader = ChunkReader(repo)
    try:
        return dict(zip(chunks, reader.iter_get(ObjectKind.CHUNK, list(chunks)), strict=True))
    finally:
        reader.close()


@pytest.mark.parametrize("reuse_within, kept", [(0.0, 0), (3600.0, 1)])
def test_a_stored_pack_is_kept_to_build_in_only_while_packs_fill_fast(
    make_repo, monkeypatch, reuse_within, kept
):
    monkeypatch.setattr(writer_module, "REUSE_WITHIN", reuse_within)
    repo = make_repo()
    writer = RepoWriter(repo, pack_size=40_000)
    for _ in range(30):
        blob = os.urandom(5000)
        writer.add(blake3.blake3(blob).digest(), blob)
    writer.flush()
    # Slow packs leave their memory to the system; fast ones keep one
    # buffer (one upload at a time on a local folder) for the next.
    assert len(writer._spare) == kept
    writer.close()
    assert len(repo.store.list("packs")) > 2


def test_a_pack_is_cut_before_the_object_that_would_take_it_past_its_size(make_repo):
    repo = make_repo()
    pack_size = 40_000
    writer = RepoWriter(repo, pack_size=pack_size)
    sizes = [9_000, 17_000, 3_000, 25_000, 60_000, 1_000, 39_000, 12_000, 12_000, 15_000]
    for size in sizes:
        blob = os.urandom(size)
        writer.add(blake3.blake3(blob).digest(), blob)
    writer.flush()
    writer.close()
    packs = [repo.store.get(info.name) for info in repo.store.list("packs")]
    objects = [[length for _, _, length in parse_tail(p, len(p), repo.cipher)] for p in packs]
    assert sorted(length for lengths in objects for length in lengths) == sorted(sizes)
    for lengths in objects:
        # Only an object larger than the size on its own takes a pack past it.
        assert sum(lengths) <= pack_size or lengths == [60_000]
    # A cut only where the next object does not fit: 1,000 and 39,000 fill
    # one pack to the byte.
    assert sorted(map(sorted, objects)) == sorted(
        map(
            sorted,
            [[9_000, 17_000, 3_000], [25_000], [60_000], [1_000, 39_000], [12_000, 12_000, 15_000]],
        )
    )


def test_written_chunks_read_back_through_segments_headers_and_cache(make_repo):
    repo = make_repo()
    chunks = _write_chunks(repo, 30, pack_size=40_000)
    assert len(repo.store.list("packs")) > 2 and len(repo.store.list("index")) == 1
    assert _read_all(_reopen(repo), chunks) == chunks  # from the cache
    os.unlink(os.path.join(repo.cache_dir, "chunks"))
    assert _read_all(_reopen(repo), chunks) == chunks  # from the segment
    for info in repo.store.list("index"):
        repo.store.delete(info.name)
    os.unlink(os.path.join(repo.cache_dir, "chunks"))
    assert _read_all(_reopen(repo), chunks) == chunks  # from the pack headers


def test_the_next_command_reads_no_segment_a_writer_wrote(make_repo, monkeypatch):
    """A writer saves the index with its own segments in the cache: the
    next command finds every chunk without reading a segment or a pack."""
    repo = make_repo()
    assert len(repo.index) == 0  # loaded (and cached) before the writer adds anything
    first = _write_chunks(repo, 30, pack_size=40_000)
    second = _write_chunks(repo, 10)
    assert len(repo.store.list("index")) == 2
    reopened = _reopen(repo)
    read = []
    get = reopened.store.get
    monkeypatch.setattr(reopened.store, "get", lambda name, *a: read.append(name) or get(name, *a))
    assert all(c in reopened.index for c in first | second)
    assert read == []
    assert _read_all(reopened, first | second) == first | second


def test_a_current_cache_is_not_rewritten(make_repo):
    """Loading the index rewrites its cache only when it learned something:
    another writer's segment, not a command that found everything there."""
    repo = make_repo()
    chunks = _write_chunks(repo, 5)
    cache_file = os.path.join(repo.cache_dir, "chunks")
    before = os.stat(cache_file)
    assert _read_all(_reopen(repo), chunks) == chunks
    after = os.stat(cache_file)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    elsewhere = Repository(repo.store, repo.config, repo.key, None)  # no cache: another client
    more = _write_chunks(elsewhere, 5)
    reopened = _reopen(repo)
    assert _read_all(reopened, more) == more
    assert os.stat(cache_file).st_ino != before.st_ino
    assert reopened.index.segments == {info.name for info in repo.store.list("index")}


def test_passed_chunks_come_out_in_their_place_unfetched(make_repo):
    repo = make_repo()
    chunks = _write_chunks(repo, 6)
    ids = list(chunks)
    # Not in the repository at all: fetching it would yield an error instead.
    absent = Passed(b"\x07" * 32, 5000)
    asked = [(ids[0], 5000), absent, (ids[1], 5000), (ids[2], 5000), absent, (ids[3], 5000)]
    reader = ChunkReader(repo)
    try:
        got = list(reader.iter_get_sized(ObjectKind.CHUNK, asked))
    finally:
        reader.close()
    assert got == [chunks[ids[0]], absent, chunks[ids[1]], chunks[ids[2]], absent, chunks[ids[3]]]


@pytest.mark.parametrize("unfetched", ["passed", "missing"])
def test_unfetched_chunks_do_not_queue_without_bound(make_repo, unfetched):
    """A stream of chunks that are never fetched (passed, or missing from
    the index) is read ahead no further than fetched chunks would be."""
    repo = make_repo()
    taken = 0

    def chunks():
        nonlocal taken
        for n in range(100_000):
            taken += 1
            cid = n.to_bytes(32, "big")
            yield Passed(cid, 0) if unfetched == "passed" else (cid, 0)

    reader = ChunkReader(repo)
    try:
        first = next(reader.iter_get_sized(ObjectKind.CHUNK, chunks(), window_bytes=1 << 20))
    finally:
        reader.close()
    assert first == Passed((0).to_bytes(32, "big"), 0) or isinstance(first, IntegrityError)
    assert taken < 100, taken


def test_damaged_segment_falls_back_to_pack_headers(make_repo):
    repo = make_repo(cache=False)
    chunks = _write_chunks(repo, 10)
    (segment,) = repo.store.list("index")
    blob = bytearray(repo.store.get(segment.name))
    blob[len(blob) // 2] ^= 1
    repo.store.put(segment.name, bytes(blob), overwrite=True)
    assert _read_all(_reopen(repo), chunks) == chunks


def test_stale_cache_is_not_trusted(make_repo):
    """A cache naming a pack that is gone (compacted) is rebuilt."""
    repo = make_repo()
    first = _write_chunks(repo, 3)
    second = _write_chunks(repo, 3)
    reopened = _reopen(repo)
    assert all(c in reopened.index for c in first | second)
    gone = reopened.index.lookup(next(iter(first)))[0]
    repo.store.delete(f"packs/{gone}")
    for info in repo.store.list("index"):
        repo.store.delete(info.name)
    index = load_index(repo.store, repo.cipher, repo.cache)
    assert not any(c in index for c in first)
    assert all(c in index for c in second)


def test_cache_loads_without_copies_of_the_index(tmp_path):
    """Loading the cache of 200,000 chunks peaks at the index itself (44
    bytes a chunk), not at copies of the file on the way to it."""
    index = ChunkIndex()
    count = 200_000
    ids = sorted(os.urandom(32) for _ in range(count))
    index.add_pack("p" * 64, [(cid, n * 100, 100) for n, cid in enumerate(ids)])
    folder = CacheDir(str(tmp_path / "cache"))
    index.segments = {"index/x"}
    index_module.write_cache(folder, index)
    del index
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        loaded = index_module._read_cache(folder)
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    assert loaded.segments == {"index/x"} and len(loaded) == count
    assert loaded.lookup(ids[12345]) == ("p" * 64, 1234500, 100)
    assert peak <= 50 * count, peak / count


@pytest.mark.parametrize("opened_by", ["consumer", "pool"])
def test_damaged_chunks_are_errors_not_data(make_repo, monkeypatch, opened_by):
    """Whichever thread opens a chunk, it is authenticated and checked
    against its id."""
    if opened_by == "pool":
        monkeypatch.setattr(reader_module, "POOL_OPENS_FROM", 0)
    repo = make_repo()
    chunks = _write_chunks(repo, 8)
    (pack,) = repo.store.list("packs")
    victim = list(chunks)[3]
    _, offset, length = repo.index.lookup(victim)
    data = bytearray(repo.store.get(pack.name))
    data[offset + length // 2] ^= 1
    repo.store.put(pack.name, bytes(data), overwrite=True)
    results = _read_all(_reopen(repo), chunks)
    assert isinstance(results.pop(victim), IntegrityError)
    assert results == {c: d for c, d in chunks.items() if c != victim}
