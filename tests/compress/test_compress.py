"""Compression: round trips of every spec, and damaged input."""

import os
from concurrent.futures import ThreadPoolExecutor

import pytest

from hutch.compress import LZ4, LZMA, NONE, ZLIB, ZSTD, Compressor, decompress, parse_spec
from hutch.errors import IntegrityError, UsageError

SPECS = ["lz4", "zstd", "zstd,1", "zstd,19", "zlib", "zlib,0", "zlib,9", "lzma", "lzma,0", "none"]
SPECS += ["auto,lz4", "auto,zstd,3", "auto,zlib", "auto,lzma,1"]
DATA = {
    "empty": b"",
    "one byte": b"x",
    "zeros": bytes(1024 * 1024),
    "text": b"the quick brown fox jumps over the lazy dog\n" * 5000,
    "random": os.urandom(256 * 1024),
}


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("kind", list(DATA))
def test_round_trip(spec, kind):
    data = DATA[kind]
    blob = parse_spec(spec).compress(data)
    assert decompress(blob) == data
    assert decompress(memoryview(blob)) == data


@pytest.mark.parametrize("spec", SPECS)
def test_compressible_data_shrinks(spec):
    if spec in ("none", "zlib,0"):  # level 0 only stores
        return
    assert len(parse_spec(spec).compress(DATA["text"])) < len(DATA["text"]) // 4


@pytest.mark.parametrize("spec", ["auto,lz4", "auto,zstd", "auto,lzma"])
def test_auto_stores_incompressible_data_as_it_is(spec):
    blob = parse_spec(spec).compress(DATA["random"])
    assert blob[0] == NONE and blob[1:] == DATA["random"]
    algorithm = parse_spec(spec).algorithm
    assert parse_spec(spec).compress(DATA["text"])[0] == algorithm


def test_parse_spec():
    assert parse_spec("lz4") == Compressor(LZ4)
    assert parse_spec("zstd") == Compressor(ZSTD, 3)
    assert parse_spec("ZLIB,9") == Compressor(ZLIB, 9)
    assert parse_spec("auto,lzma,2") == Compressor(LZMA, 2, auto=True)
    for bad in (
        "",
        "lz5",
        "zstd,0",
        "zstd,23",
        "zlib,10",
        "lzma,-1",
        "none,1",
        "auto",
        "auto,none",
    ):
        with pytest.raises(UsageError):
            parse_spec(bad)


@pytest.mark.parametrize("algorithm", [LZ4, ZSTD, ZLIB, LZMA])
def test_garbage_and_truncated_input_is_an_integrity_error(algorithm):
    good = parse_spec({LZ4: "lz4", ZSTD: "zstd", ZLIB: "zlib", LZMA: "lzma"}[algorithm])
    blob = good.compress(DATA["text"])
    for cut in (1, 2, 3, 5, len(blob) // 2, len(blob) - 1):
        with pytest.raises(IntegrityError):
            decompress(blob[:cut])
    for size in list(range(0, 40)) + [1000, 100_000]:
        garbage = bytes([algorithm]) + os.urandom(size)
        try:
            decompress(garbage)
        except IntegrityError:
            pass  # anything else (MemoryError, ValueError, ...) fails the test


def test_claimed_sizes_are_not_believed():
    """A header claiming a huge size must not allocate it."""
    lz4_huge = bytes([LZ4]) + (2**31 - 1).to_bytes(4, "little") + os.urandom(64)
    zstd_huge = (
        bytes([ZSTD])
        + (0xFD2FB528).to_bytes(4, "little")
        + bytes([0xE0])
        + (1 << 40).to_bytes(8, "little")
        + b"\x01\x00\x00"
    )
    for blob in (lz4_huge, zstd_huge):
        with pytest.raises(IntegrityError):
            decompress(blob)


def test_unknown_algorithm_and_empty_blob():
    with pytest.raises(IntegrityError):
        decompress(b"")
    with pytest.raises(IntegrityError):
        decompress(b"\x09data")


def test_damage_does_not_spoil_the_next_chunk():
    """Each thread reuses its zstd contexts: a failed frame, cut in the middle,
    must leave nothing behind for the next one, at any level."""
    for spec in ("zstd,1", "zstd,3", "zstd,19"):
        blob = parse_spec(spec).compress(DATA["text"])
        with pytest.raises(IntegrityError):
            decompress(blob[: len(blob) // 2])
        assert decompress(blob) == DATA["text"]
        assert decompress(parse_spec(spec).compress(DATA["random"])) == DATA["random"]


def test_threads_compress_at_once():
    spec = parse_spec("zstd,3")
    pieces = [os.urandom(64) * (500 + n) for n in range(64)]
    with ThreadPoolExecutor(4) as pool:
        blobs = list(pool.map(spec.compress, pieces))
        assert list(pool.map(decompress, blobs)) == pieces
