"""Packs: many sealed objects in one store object, written once.

Layout:

    obj_0 | obj_1 | ... | header | ids | trailer

- header: a sealed PACK_HEADER object listing (id, offset, length) of each
  object; where a chunk sits and how large it is stay encrypted.
- ids: msgpack list of the chunk ids in the pack, sorted, in clear. Ids are
  keyed hashes: they show equality only. They let a server without the key
  find packs that no archive references (planned keyless maintenance).
- trailer: MAGIC(8) | header length (u32 BE) | ids length (u32 BE).

A pack's name is the BLAKE3 hash of its bytes.
"""

import struct

import blake3
import msgpack

from ..crypto.objects import ObjectCipher, ObjectKind
from ..errors import IntegrityError

MAGIC = b"HUTCHPK1"
TRAILER = struct.Struct(">8sII")
HEADER_ID = b"pack header"
# A writer holds the pack being filled, one to three being stored and, while
# packs fill fast, the memory of a stored one (repo/writer.py): three to
# five packs. At 16 MiB a first backup of 1.1 GiB of large files peaked at
# 110 MiB (127 through `hutch serve`), at 8 MiB 94 (105), in about the same
# time on tmpfs and 1.07x on disk, where each pack costs a flush. At 6 MiB
# (with 6 MiB in flight, archive/create.py) it peaked at 82 against 85 on
# disk, in 0.90x the time (10 pairs, 0.82-1.04). Into object storage, where
# each put waits out latency, 6 MiB packs took 1.10x the time of 8 (3
# pairs): stores that take several puts at once keep 8 MiB.
TARGET_SIZE = 6 * 1024 * 1024
PARALLEL_TARGET_SIZE = 8 * 1024 * 1024


def target_size(parallel_puts: int) -> int:
    """The size packs are cut at for a store that takes `parallel_puts` at once."""
    return PARALLEL_TARGET_SIZE if parallel_puts > 1 else TARGET_SIZE


# Enough to fetch the header of a typical pack in one read.
TAIL_GUESS = 256 * 1024


class PackBuilder:
    """Collects sealed objects until the pack is big enough, in one buffer
    that becomes the pack: no second copy when it is finished.

    `buffer`: the memory of a pack already stored, to be filled again. Fresh
    memory costs a page fault per 4 KiB touched, and the kernel clears
    every page: a first backup of 1.1 GiB spent more time in faults than in
    copying objects into packs. Writing over the old bytes costs neither;
    `finish` cuts the buffer to the pack's length, which CPython does in
    place (a bytearray keeps its memory when it shrinks by less than half).
    """

    def __init__(self, buffer: bytearray | None = None):
        self._data = buffer if buffer is not None else bytearray()
        self._size = 0
        self.entries: list[tuple[bytes, int, int]] = []

    @property
    def size(self) -> int:
        return self._size

    def add(self, obj_id: bytes, blob: bytes | bytearray) -> None:
        self.entries.append((obj_id, self._size, len(blob)))
        self._append(blob)

    def _append(self, blob: bytes | bytearray) -> None:
        end = self._size + len(blob)
        if end <= len(self._data):
            self._data[self._size : end] = blob
        else:
            del self._data[self._size :]
            self._data += blob
        self._size = end

    def __len__(self) -> int:
        return len(self.entries)

    def finish(self, cipher: ObjectCipher) -> tuple[str, bytearray]:
        """(name, bytes) of the finished pack."""
        header = cipher.seal(
            ObjectKind.PACK_HEADER, HEADER_ID, msgpack.packb([list(e) for e in self.entries])
        )
        ids = msgpack.packb(sorted(e[0] for e in self.entries))
        self._append(header)
        self._append(ids)
        self._append(TRAILER.pack(MAGIC, len(header), len(ids)))
        data = self._data
        del data[self._size :]
        self._data = bytearray()
        return blake3.blake3(data).hexdigest(), data


def parse_tail(
    tail: bytes | bytearray, pack_size: int, cipher: ObjectCipher
) -> list[tuple[bytes, int, int]]:
    """The entries of a pack from its last bytes; IntegrityError if damaged.

    If `tail` does not reach back to the header, raises `NeedMore` with the
    number of bytes from the end that are needed.
    """
    if len(tail) < TRAILER.size:
        raise IntegrityError("pack is too short to be a pack")
    magic, header_len, ids_len = TRAILER.unpack(tail[-TRAILER.size :])
    if magic != MAGIC:
        raise IntegrityError("pack trailer is damaged")
    need = header_len + ids_len + TRAILER.size
    if need > pack_size:
        raise IntegrityError("pack trailer is damaged (header larger than pack)")
    if need > len(tail):
        raise NeedMore(need)
    start = len(tail) - need
    plain = cipher.open(ObjectKind.PACK_HEADER, HEADER_ID, tail[start : start + header_len])
    try:
        entries = [(bytes(i), int(o), int(n)) for i, o, n in msgpack.unpackb(plain)]
    except (ValueError, TypeError, msgpack.UnpackException):
        raise IntegrityError("pack header is malformed") from None
    data_end = pack_size - need
    for _, offset, length in entries:
        if offset < 0 or length <= 0 or offset + length > data_end:
            raise IntegrityError("pack header points outside the pack")
    return entries


def parse_ids(tail: bytes | bytearray, pack_size: int) -> list[bytes]:
    """The chunk ids a pack lists in clear (no key needed), from its last
    bytes; IntegrityError if malformed, NeedMore if `tail` is too short."""
    if len(tail) < TRAILER.size:
        raise IntegrityError("pack is too short to be a pack")
    magic, header_len, ids_len = TRAILER.unpack(tail[-TRAILER.size :])
    if magic != MAGIC or header_len + ids_len + TRAILER.size > pack_size:
        raise IntegrityError("pack trailer is damaged")
    if ids_len + TRAILER.size > len(tail):
        raise NeedMore(ids_len + TRAILER.size)
    start = len(tail) - TRAILER.size - ids_len
    try:
        ids = msgpack.unpackb(tail[start : len(tail) - TRAILER.size])
        if not isinstance(ids, list) or not all(isinstance(i, bytes) for i in ids):
            raise ValueError("not a list of ids")
    except (ValueError, TypeError, msgpack.UnpackException):
        raise IntegrityError("pack's id list is malformed") from None
    return ids


class NeedMore(Exception):
    def __init__(self, size: int):
        super().__init__(size)
        self.size = size
