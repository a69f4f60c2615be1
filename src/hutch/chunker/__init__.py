"""Cutting data into chunks: content-defined (FastCDC with a key-seeded gear
table) or fixed-size.

Specs as users type them (--chunker-params):
- `default`: fastcdc,18,22,20 (min 256 KiB, max 4 MiB, average about 1.25 MiB)
- `fastcdc,MIN_EXP,MAX_EXP,AVG_EXP`: sizes as powers of two
- `buzhash,MIN_EXP,MAX_EXP,MASK_BITS,WINDOW`: borg's form, mapped to fastcdc
- `fixed,BLOCK_SIZE`: fixed-size blocks
"""

import io
from collections.abc import Iterator
from dataclasses import dataclass

from pyfastcdc import FastCDC

from ..errors import UsageError

READ_SIZE = 8 * 1024 * 1024


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

    def chunks_of_file(self, f) -> Iterator[bytes]:
        """Chunks of an open binary file, read in large blocks; chunks are
        independent bytes objects (safe to hand to other threads)."""
        if self.params.algorithm == "fixed":
            size = self.params.max_size
            while block := f.read(size):
                yield block
            return
        # One buffer for the whole file: each block is read in behind the
        # piece carried over from the last one, with no new allocation and
        # no copy of the block (only the chunks handed out are copied).
        buf = bytearray(READ_SIZE + self.params.max_size)
        view = memoryview(buf)
        try:
            carried = 0
            while True:
                n = _read_into(f, view[carried : carried + READ_SIZE])
                end = carried + (n or 0)
                if not end:
                    return
                pieces = list(self.chunks(view[:end]))
                if not n:
                    yield from (bytes(c) for c in pieces)
                    return
                # The last piece may be cut short by the block end; chunk it again
                # with what follows so that boundaries don't depend on READ_SIZE.
                for c in pieces[:-1]:
                    yield bytes(c)
                last = bytes(pieces[-1])
                for c in pieces:
                    c.release()
                carried = len(last)
                buf[:carried] = last
        finally:
            view.release()


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
