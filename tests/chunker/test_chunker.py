"""Chunking: cut points depend on content and seed only."""

import io
import os
import random
import tracemalloc
from concurrent.futures import ThreadPoolExecutor

import pytest

import hutch.chunker as chunker_module
from hutch.chunker import DEFAULT, Chunker, ChunkerParams, parse_params
from hutch.errors import UsageError

SMALL = ChunkerParams("fastcdc", 1 << 12, 1 << 16, 1 << 14)


@pytest.fixture(scope="module")
def data():
    return random.Random(7).randbytes(3 * 1024 * 1024 + 123)


@pytest.fixture(params=["here", "ahead"])
def ahead(request):
    """No read-ahead thread, or one."""
    if request.param == "here":
        yield None
        return
    with ThreadPoolExecutor(max_workers=1) as pool:
        yield pool


def _sizes(chunks) -> list[int]:
    return [len(c) for c in chunks]


def test_same_seed_same_cuts_and_chunks_rebuild_the_data(data):
    a = [bytes(c) for c in Chunker(SMALL, 12345).chunks(data)]
    b = [bytes(c) for c in Chunker(SMALL, 12345).chunks(data)]
    assert a == b
    assert b"".join(a) == data
    assert len(a) > 50
    assert all(SMALL.min_size <= len(c) <= SMALL.max_size for c in a[:-1])


def test_different_seed_different_cuts(data):
    one = _sizes(Chunker(SMALL, 12345).chunks(data))
    two = _sizes(Chunker(SMALL, 54321).chunks(data))
    assert one != two
    # Not merely shifted: most cut points differ.
    cuts = [set(_cut_points(s)) for s in (one, two)]
    assert len(cuts[0] & cuts[1]) < len(cuts[0]) // 2


def _cut_points(sizes):
    total = 0
    for s in sizes:
        total += s
        yield total


def test_cuts_resynchronise_after_an_insert(data):
    chunker = Chunker(SMALL, 99)
    edited = data[:1000] + b"inserted" + data[1000:]
    before = {bytes(c) for c in chunker.chunks(data)}
    after = [bytes(c) for c in chunker.chunks(edited)]
    assert sum(c in before for c in after) >= len(after) - 3


@pytest.mark.parametrize("read_size", [4096, 65536 + 7, 1 << 20, 10 << 20])
@pytest.mark.parametrize("params", [SMALL, DEFAULT])
def test_boundaries_do_not_depend_on_the_read_size(data, monkeypatch, read_size, params, ahead):
    expected = _sizes(Chunker(params, 5).chunks(data))
    monkeypatch.setattr(chunker_module, "READ_SIZE", read_size)
    got = [bytes(c) for c in Chunker(params, 5).chunks_of_file(io.BytesIO(data), ahead)]
    assert _sizes(got) == expected
    assert b"".join(got) == data


class _Trickle(io.RawIOBase):
    """A pipe that returns fewer bytes than asked."""

    def __init__(self, data):
        self._data = memoryview(data)
        self._rng = random.Random(1)

    def readable(self):
        return True

    def read(self, n=-1):
        n = min(n if n >= 0 else len(self._data), self._rng.randint(1, 300_000))
        chunk, self._data = bytes(self._data[:n]), self._data[n:]
        return chunk


def test_short_reads_do_not_move_boundaries(data, ahead):
    expected = _sizes(Chunker(SMALL, 5).chunks(data))
    got = list(Chunker(SMALL, 5).chunks_of_file(_Trickle(data), ahead))
    assert _sizes(got) == expected
    assert b"".join(got) == data


def test_the_buffers_of_one_file_serve_the_next_without_leftovers(data, monkeypatch, ahead):
    monkeypatch.setattr(chunker_module, "READ_SIZE", 200_000)
    chunker = Chunker(SMALL, 5)
    files = [data, data[:150_000], b"", data[:5000], os.urandom(700_000), data[1:]]
    for content in files:
        got = list(chunker.chunks_of_file(io.BytesIO(content), ahead))
        assert b"".join(got) == content
        assert _sizes(got) == _sizes(Chunker(SMALL, 5).chunks(content))
    # A file left half-read (the backup skipped it) gives its buffers back.
    left = chunker.chunks_of_file(io.BytesIO(data), ahead)
    next(left)
    left.close()
    assert b"".join(chunker.chunks_of_file(io.BytesIO(data[7:]), ahead)) == data[7:]


def test_a_file_after_the_first_costs_no_new_read_buffers(data):
    # A new buffer is cleared in full: 8 MiB of page faults for each file of
    # 200 KiB made a backup of such files four times slower.
    chunker = Chunker(DEFAULT, 5)
    small = data[:200_000]
    assert b"".join(chunker.chunks_of_file(io.BytesIO(small))) == small
    tracemalloc.start()
    try:
        for _ in range(3):
            assert b"".join(chunker.chunks_of_file(io.BytesIO(small))) == small
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 * len(small)


class _FailingAfter(io.RawIOBase):
    def __init__(self, data, at):
        self._data, self._at, self._pos = data, at, 0

    def readable(self):
        return True

    def readinto(self, view):
        if self._pos >= self._at:
            raise OSError(5, "Input/output error")
        n = min(len(view), len(self._data) - self._pos)
        view[:n] = self._data[self._pos : self._pos + n]
        self._pos += n
        return n


def test_a_read_error_ahead_reaches_the_reader(data, monkeypatch, ahead):
    monkeypatch.setattr(chunker_module, "READ_SIZE", 200_000)
    chunker = Chunker(SMALL, 5)
    got = []
    with pytest.raises(OSError, match="Input/output error"):
        for chunk in chunker.chunks_of_file(_FailingAfter(data, 1_000_000), ahead):
            got.append(chunk)
    assert 800_000 <= sum(map(len, got)) <= 1_000_000
    assert b"".join(got) == data[: sum(map(len, got))]
    assert b"".join(chunker.chunks_of_file(io.BytesIO(data), ahead)) == data


def test_fixed_chunker(data):
    params = parse_params("fixed,65536")
    sizes = _sizes(Chunker(params, 1).chunks(data))
    assert sizes[:-1] == [65536] * (len(sizes) - 1)
    file_sizes = _sizes(Chunker(params, 1).chunks_of_file(io.BytesIO(data)))
    assert file_sizes == sizes


def test_empty_input():
    assert list(Chunker(SMALL, 1).chunks(b"")) == []
    assert list(Chunker(SMALL, 1).chunks_of_file(io.BytesIO(b""))) == []


def test_parse_params():
    assert parse_params("default") == DEFAULT
    assert parse_params("fastcdc,12,16,14") == SMALL
    assert parse_params("buzhash,19,23,21,4095") == ChunkerParams(
        "fastcdc", 1 << 19, 1 << 23, 1 << 21
    )
    assert parse_params("fixed,4096") == ChunkerParams("fixed", 4096, 4096, 4096)
    assert DEFAULT.describe() == "fastcdc,18,22,20"
    assert parse_params(DEFAULT.describe()) == DEFAULT
    for bad in ("", "fastcdc", "fastcdc,a,b,c", "fastcdc,16,12,14", "fixed,10", "fixed", "rabin,1"):
        with pytest.raises(UsageError):
            parse_params(bad)


def test_seed_size_does_not_matter():
    """Any 64-bit seed from a key works (pyfastcdc takes fewer bits)."""
    for seed in (1, 2**63 - 1, 2**63, 2**64 - 1):
        chunks = list(Chunker(SMALL, seed).chunks(os.urandom(200_000)))
        assert sum(map(len, chunks)) == 200_000
