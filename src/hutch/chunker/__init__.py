"""Cutting data into chunks: content-defined (FastCDC with a key-seeded gear
table) or fixed-size.

Specs as users type them (--chunker-params):
- `default`: fastcdc,18,22,20 (min 256 KiB, max 4 MiB, average about 1.25 MiB)
- `fastcdc,MIN_EXP,MAX_EXP,AVG_EXP`: sizes as powers of two
- `buzhash,MIN_EXP,MAX_EXP,MASK_BITS,WINDOW`: borg's form, mapped to fastcdc
- `fixed,BLOCK_SIZE`: fixed-size blocks
"""

import io
import threading
from collections.abc import Iterator
from concurrent import futures
from concurrent.futures import Executor, Future
from dataclasses import dataclass

from pyfastcdc import FastCDC

from ..errors import UsageError
from ..workers import submit

READ_SIZE = 2 * 1024 * 1024


@dataclass(frozen=True)
class ChunkerParams:
    algorithm: str  # "fastcdc" or "fixed"
    min_size: int = 0
    max_size: int = 0
    avg_size: int = 0

    def describe(self) -> str:
        if self.algorithm == "fixed":
            return f"fixed,{self.max_size}"
        exps = (s.bit_length() - 1 for s in (self.min_size, self.max_size, self.avg_size))
        return "fastcdc," + ",".join(map(str, exps))


DEFAULT = ChunkerParams("fastcdc", 1 << 18, 1 << 22, 1 << 20)


def parse_params(spec: str) -> ChunkerParams:
    parts = spec.strip().lower().split(",")
    try:
        if parts == ["default"]:
            return DEFAULT
        if parts[0] == "fixed" and len(parts) == 2:
            size = int(parts[1])
            if not 64 <= size <= 16 * 1024 * 1024:
                raise UsageError("fixed chunk size must be between 64 bytes and 16 MiB")
            return ChunkerParams("fixed", size, size, size)
        if parts[0] in ("fastcdc", "buzhash") and len(parts) >= 4:
            lo, hi, avg = (int(p) for p in parts[1:4])
            if not (6 <= lo <= 20 and 10 <= hi <= 24 and 8 <= avg <= 22 and lo <= avg <= hi):
                raise UsageError(
                    f"chunker params {spec!r} out of range: need 6<=MIN<=20, 10<=MAX<=24, "
                    "8<=AVG<=22 and MIN<=AVG<=MAX (exponents of two)"
                )
            return ChunkerParams("fastcdc", 1 << lo, 1 << hi, 1 << avg)
    except ValueError:
        pass
    raise UsageError(
        f"invalid chunker params {spec!r}; use default, fastcdc,MIN,MAX,AVG or fixed,SIZE"
    )


class Chunker:
    """Cuts files or byte strings into chunks (memoryviews)."""

    def __init__(self, params: ChunkerParams, seed: int):
        self.params = params
        if params.algorithm == "fastcdc":
            self._cdc = FastCDC(
                params.avg_size,
                min_size=params.min_size,
                max_size=params.max_size,
                # pyfastcdc shifts the seed left by one inside 64 bits.
                seed=seed & ((1 << 63) - 1),
            )
        # The read buffers of the last file, for the next one: a new one is
        # cleared in full (16 MiB of page faults even for a 200 KiB file).
        self._read_buffers: tuple[bytearray, ...] | None = None
        self._buffer_lock = threading.Lock()

    def chunks(self, data) -> Iterator[memoryview]:
        view = memoryview(data)
        if self.params.algorithm == "fixed":
            size = self.params.max_size
            for i in range(0, len(view), size):
                yield view[i : i + size]
            return
        if len(view) <= self.params.min_size:
            if len(view):
                yield view  # one chunk whatever the content: skip the cut-point search
            return
        for c in self._cdc.cut_buf(view):
            yield c.data

    def chunks_of_file(self, f, ahead: Executor | None = None) -> Iterator[bytes]:
        """Chunks of an open binary file, read in blocks; chunks are
        independent bytes objects (safe to hand to other threads).

        `ahead`: a thread that reads and cuts the next block while the caller
        works on the chunks of this one. Reading and the cut-point search
        release the GIL, and they took nearly half of the thread that walks
        the files in a first backup of large ones."""
        if self.params.algorithm == "fixed":
            size = self.params.max_size
            while block := f.read(size):
                yield block
            return
        # Two buffers, filled in turn: the next block is read into one behind
        # the unfinished last piece of the block in the other, from which
        # the chunks handed out are copied meanwhile. No new memory per
        # block, no copy of a block; taken while in use (files chunked at
        # once get buffers of their own).
        with self._buffer_lock:
            buffers, self._read_buffers = self._read_buffers, None
        if buffers is None:
            buffers = tuple(bytearray(READ_SIZE + self.params.max_size) for _ in range(2))
        views = [memoryview(b) for b in buffers]
        following: Future | None = None
        try:
            current = 0
            ends, at_end = self._next_block(f, views[0], views[1][:0])
            while True:
                view = views[current]
                if not at_end:
                    carry = view[ends[-2] if len(ends) > 1 else 0 : ends[-1]]
                    following = submit(ahead, self._next_block, f, views[1 - current], carry)
                    ends = ends[:-1]
                start = 0
                for end in ends:
                    yield bytes(view[start:end])
                    start = end
                if at_end:
                    return
                assert following is not None
                ends, at_end = following.result()
                current = 1 - current
        finally:
            if following is not None and not following.done():
                futures.wait([following])
            for view in views:
                view.release()
            self._read_buffers = buffers

    def _next_block(self, f, into: memoryview, carry: memoryview) -> tuple[list[int], bool]:
        """Read the next block of `f` into `into` behind `carry` (the piece of
        the block before that its end cut short, chunked again with what
        follows so that boundaries don't depend on READ_SIZE), and cut it:
        (the end of each piece, whether the file ended)."""
        carried = len(carry)
        into[:carried] = carry
        size = carried + _read_into(f, into[carried : carried + READ_SIZE])
        at_end = size == carried
        if not size:
            return [], True
        if size <= self.params.min_size:
            return [size], at_end
        return [c.offset + c.length for c in self._cdc.cut_buf(into[:size])], at_end


def _read_into(f, view: memoryview) -> int:
    """f.readinto(view), for streams that only have read() as well."""
    readinto = getattr(f, "readinto", None)
    if readinto is not None:
        try:
            return readinto(view) or 0
        except (NotImplementedError, io.UnsupportedOperation):
            pass
    data = f.read(len(view))
    view[: len(data)] = data
    return len(data)
