"""Deterministic many-small-files corpus: N files of 200 B - 4 KiB, 1,000 per folder.

What most machines are made of (/etc, /home, source trees, mail): the cost per file
(walk, stat, open, read, metadata, one tiny chunk) dominates, not the bytes. Contents
are slices of a pool of source-like text (compressible, rarely identical) with one file
in eight random bytes. Built from a fixed seed, cached in bench/work/corpus/, rebuilt
only when missing or when its settings change. Layout::

    data/d0000/f000000.txt ... data/d0199/f199999.txt
    MANIFEST.json           written last; its presence marks a complete corpus
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import corpus

SEED = 20261130
FORMAT = 1
PER_DIR = 1000
MIN_SIZE, MAX_SIZE = 200, 4096
POOL_BYTES = 8 * 1024 * 1024


def spec(count: int) -> dict:
    return {"kind": "many-small", "files": count, "seed": SEED, "format": FORMAT}


def name(count: int) -> str:
    return f"small{count}"


def ensure(base: Path, count: int, log=print) -> Path:
    """The corpus root for `count` files (its data/ is what is backed up)."""
    return corpus.generated(
        base / name(count), spec(count), lambda data: write_files(data, count), log
    )


def _text_pool(rng: random.Random) -> bytes:
    words = [
        "".join(rng.choices("abcdefghijklmnopqrstuvwxyz_", k=rng.randrange(2, 10)))
        for _ in range(4000)
    ]
    lines = []
    size = 0
    while size < POOL_BYTES:
        line = " " * rng.randrange(0, 12, 4) + " ".join(rng.choices(words, k=rng.randrange(1, 9)))
        lines.append(line)
        size += len(line) + 1
    return "\n".join(lines).encode()


def write_files(data: Path, count: int) -> None:
    rng = random.Random(f"{SEED}:small")
    pool = _text_pool(rng)
    for i in range(count):
        folder = data / f"d{i // PER_DIR:04d}"
        if i % PER_DIR == 0:
            folder.mkdir(parents=True, exist_ok=True)
        size = rng.randrange(MIN_SIZE, MAX_SIZE + 1)
        if i % 8 == 7:
            body = rng.randbytes(size)
        else:
            start = rng.randrange(len(pool) - size)
            body = pool[start : start + size]
        fd = os.open(folder / f"f{i:06d}.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, body)
        finally:
            os.close(fd)
