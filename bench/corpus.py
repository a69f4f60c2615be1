"""Deterministic benchmark corpus: many small source-like files plus large mixed files.

The corpus is generated from a fixed seed so every run (and every machine) backs up
the same bytes. It is cached on disk and rebuilt only when missing or when its
parameters change. Layout under the corpus directory::

    data/src/...            several thousand pseudo-source files of 1-64 KiB
    data/large/random/...   incompressible random data
    data/large/logs/...     highly compressible log-like text
    data/large/dup/...      random data with the same 8 MiB blocks repeated at
                            unaligned offsets, within and across files
    MANIFEST.json           written last; its presence marks a complete corpus
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

KIB = 1024
MIB = 1024 * KIB
SEED = 20240611
# Bump when the generator changes, so stale cached corpora are rebuilt.
FORMAT = 1
DUP_BLOCK = 8 * MIB
WRITE_BLOCK = 8 * MIB
MAX_LARGE_FILE = 128 * MIB
MIN_LARGE_FILE = 4 * MIB

WORDS = """
account active adapter address agent alpha apply archive array assert async backup
balance batch binary block branch buffer bundle byte cache callback canvas channel
check chunk cipher client close cluster column commit compare config connect context
copy counter cursor data debug decode default delete delta device digest dispatch
document domain driver element encode engine entry error event export factory field
filter flush format frame gamma handle hash header heap helper index inode input
insert item iterator journal kernel key label layer length limit linker list loader
local lock logger lookup manager mapping marker matrix memory merge message method
metric mirror module monitor mount node number object offset option order output
packet page parent parse patch path peer pending pipeline pointer policy pool port
prefix printer process profile prompt proxy queue quota range reader record reducer
region registry remote render report request resolve result retry revision route
runner sample scanner schema scope segment select sender server session shard signal
size socket source span stack state status storage stream string switch symbol sync
table target task temp thread ticket timer token trace tree tuple update upload user
value vector version view volume walker widget window worker writer zone
""".split()

SOURCE_EXTS = (".py", ".c", ".h", ".rs", ".js", ".md", ".txt", ".json", ".cfg", ".toml")


@dataclass(frozen=True)
class Spec:
    """Parameters that fully determine the corpus bytes."""

    small_files: int
    large_mib: int
    seed: int = SEED
    format: int = FORMAT

    @property
    def name(self) -> str:
        return f"s{self.small_files}-l{self.large_mib}"


def default_spec(small: bool, corpus_mib: int | None) -> Spec:
    """~1 GiB + 4000 small files by default; ~60 MiB total with --small."""
    if small:
        return Spec(small_files=900, large_mib=corpus_mib if corpus_mib is not None else 48)
    return Spec(small_files=4000, large_mib=corpus_mib if corpus_mib is not None else 1024)


def ensure(base: Path, spec: Spec, log=print) -> Path:
    """Return the corpus directory for spec, generating it first if needed."""

    def write(data: Path) -> None:
        _write_small_files(data / "src", spec)
        _write_large_files(data / "large", spec)

    return generated(base / spec.name, asdict(spec), write, log)


def generated(root: Path, spec: dict, write: Callable[[Path], None], log=print) -> Path:
    """`root`, with `write(root / "data")` run first unless a corpus of the
    same spec is there already (its MANIFEST.json says so)."""
    manifest = root / "MANIFEST.json"
    if manifest.exists() and json.loads(manifest.read_text()).get("spec") == spec:
        return root
    if root.exists():
        shutil.rmtree(root)
    log(f"generating corpus {root.name} in {root} (one-off, cached afterwards)")
    write(root / "data")
    manifest.write_text(json.dumps({"spec": spec}, indent=2) + "\n")
    return root


def _rng(spec: Spec, label: str) -> random.Random:
    # A separate stream per purpose keeps each part stable when another part changes.
    return random.Random(f"{spec.seed}:{label}")


# --- small source-like files -------------------------------------------------------------


def _source_line(rng: random.Random) -> str:
    w = rng.sample(WORDS, 5)
    n = rng.randrange(1000)
    templates = (
        f"def {w[0]}_{w[1]}({w[2]}, {w[3]}=None):",
        f"    return {w[0]}.{w[1]}({w[2]}) + {n}",
        f"    # {w[0]} the {w[1]} before {w[2]} so {w[3]} stays {w[4]}",
        f"    if {w[0]}_{w[1]} > {n}:",
        f"        {w[0]}_{w[1]} = {w[2]}[{n}]",
        f"class {w[0].title()}{w[1].title()}({w[2].title()}):",
        f"import {w[0]}.{w[1]}",
        f'    {w[0]}.{w[1]} = "{w[2]} {w[3]} {w[4]}"',
        f"    for {w[0]} in {w[1]}_{w[2]}({n}):",
        "",
    )
    return rng.choice(templates)


def _line_pool(rng: random.Random, count: int = 30000) -> list[str]:
    return [_source_line(rng) for _ in range(count)]


def _text_of_size(rng: random.Random, pool: list[str], size: int) -> bytes:
    # Average pool line is ~30 bytes; overshoot, then trim to the exact size.
    text = "\n".join(rng.choices(pool, k=size // 20 + 4)).encode()
    return text[: size - 1] + b"\n"


def _make_dirs(rng: random.Random, root: Path, count: int) -> list[Path]:
    dirs = [root]
    for i in range(count):
        parent = rng.choice(dirs)
        dirs.append(parent / f"{rng.choice(WORDS)}_{i}")
    for d in dirs:
        d.mkdir(parents=True, exist_ok=True)
    return dirs


def _write_small_files(root: Path, spec: Spec) -> None:
    rng = _rng(spec, "small")
    pool = _line_pool(rng)
    dirs = _make_dirs(rng, root, max(1, spec.small_files // 12))
    for i in range(spec.small_files):
        # Log-uniform sizes: many files near 1 KiB, fewer near 64 KiB, like real trees.
        size = int(KIB * 2 ** rng.uniform(0, 6))
        name = f"{rng.choice(WORDS)}_{rng.choice(WORDS)}_{i}{rng.choice(SOURCE_EXTS)}"
        (rng.choice(dirs) / name).write_bytes(_text_of_size(rng, pool, size))


# --- large files -------------------------------------------------------------------------


def _split_sizes(rng: random.Random, total: int) -> list[int]:
    """Split total bytes into files of MIN..MAX_LARGE_FILE with uneven, unaligned sizes."""
    if total <= 0:
        return []
    count = max(1, math.ceil(total / (96 * MIB)))
    base = max(MIN_LARGE_FILE, total // count)
    sizes = []
    remaining = total
    while remaining > 0:
        size = min(remaining, MAX_LARGE_FILE, base + rng.randrange(-base // 8, base // 8 + 1))
        if remaining - size < MIN_LARGE_FILE:
            size = remaining
        sizes.append(size)
        remaining -= size
    return sizes


def _write_random(path: Path, rng: random.Random, size: int) -> None:
    with path.open("wb") as f:
        for start in range(0, size, WRITE_BLOCK):
            f.write(rng.randbytes(min(WRITE_BLOCK, size - start)))


def _log_tails(rng: random.Random, count: int = 20000) -> list[str]:
    levels = ("INFO ", "INFO ", "INFO ", "DEBUG", "WARN ", "ERROR")
    tails = []
    for _ in range(count):
        w = rng.sample(WORDS, 4)
        tails.append(
            f"{rng.choice(levels)} [{w[0]}-{rng.randrange(16)}] {w[1]} {w[2]} "
            f"id={rng.randrange(1 << 32):08x} path=/api/{w[3]}/{rng.randrange(5000)} "
            f"status={rng.choice((200, 200, 200, 201, 204, 404, 500))} "
            f"took={rng.randrange(1, 900)}ms"
        )
    return tails


def _log_block(rng: random.Random, tails: list[str], clock: list[int]) -> bytes:
    # Timestamps only move forward, so no two lines (and no two blocks) are identical:
    # the data compresses well but does not deduplicate trivially.
    lines = []
    ms = clock[0]
    second, prefix = -1, ""
    steps = rng.choices(range(1, 40), k=12000)
    for tail, step in zip(rng.choices(tails, k=12000), steps, strict=True):
        ms += step
        if ms // 1000 != second:
            # Formatting the date only once per second keeps generation fast.
            second = ms // 1000
            h, rest = divmod(second, 3600)
            day = 1 + h // 24 % 28
            prefix = f"2024-06-{day:02d} {h % 24:02d}:{rest // 60:02d}:{rest % 60:02d}."
        lines.append(f"{prefix}{ms % 1000:03d} {tail}")
    clock[0] = ms
    return ("\n".join(lines) + "\n").encode()


def _write_logs(path: Path, rng: random.Random, size: int) -> None:
    tails = _log_tails(rng)
    clock = [0]
    written = 0
    with path.open("wb") as f:
        while written < size:
            block = _log_block(rng, tails, clock)[: size - written]
            f.write(block)
            written += len(block)


def _write_dup(path: Path, rng: random.Random, size: int, blocks: list[bytes]) -> None:
    written = 0
    with path.open("wb") as f:
        while written < size:
            # An odd-sized unique filler shifts each repeated block off any alignment.
            filler = rng.randbytes(rng.randrange(4 * KIB, MIB) | 1)
            piece = filler + rng.choice(blocks)
            piece = piece[: size - written]
            f.write(piece)
            written += len(piece)


def _write_large_files(root: Path, spec: Spec) -> None:
    rng = _rng(spec, "large")
    total = spec.large_mib * MIB
    parts = {"random": total // 3, "logs": total // 3}
    parts["dup"] = total - parts["random"] - parts["logs"]
    # Each distinct 8 MiB block should appear about four times in the dup part.
    nblocks = max(1, parts["dup"] // (4 * DUP_BLOCK))
    blocks = [_rng(spec, f"block{i}").randbytes(DUP_BLOCK) for i in range(nblocks)]
    for kind, kind_total in parts.items():
        (root / kind).mkdir(parents=True, exist_ok=True)
        for i, size in enumerate(_split_sizes(rng, kind_total)):
            path = root / kind / f"{kind}-{i:02d}.bin"
            frng = _rng(spec, f"{kind}{i}")
            if kind == "random":
                _write_random(path, frng, size)
            elif kind == "logs":
                _write_logs(path.with_suffix(".log"), frng, size)
            else:
                _write_dup(path, frng, size, blocks)


# --- content hashing ---------------------------------------------------------------------


def tree_digests(root: Path) -> dict[str, str]:
    """Map each regular file's path (relative to root) to a BLAKE2b digest of its bytes."""
    digests = {}
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            path = Path(dirpath, name)
            with path.open("rb") as f:
                digest = hashlib.file_digest(f, "blake2b").hexdigest()
            digests[path.relative_to(root).as_posix()] = digest
    return digests


def combined_digest(digests: dict[str, str]) -> str:
    """One digest over sorted (path, file digest) pairs: equal iff trees are equal."""
    h = hashlib.blake2b()
    for rel in sorted(digests):
        h.update(f"{rel}\0{digests[rel]}\n".encode())
    return h.hexdigest()


def tree_stats(digests_root: Path) -> tuple[int, int]:
    """Return (number of files, total bytes) under a directory."""
    count = total = 0
    for dirpath, _dirnames, filenames in os.walk(digests_root):
        for name in filenames:
            count += 1
            total += os.lstat(os.path.join(dirpath, name)).st_size
    return count, total
