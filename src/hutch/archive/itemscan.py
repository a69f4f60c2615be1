"""Reading an archive's item stream past damage, for check and repair.

`iter_items` stops at the first damaged piece of an item stream, which is
right for extract and list. Check and repair want every item that can still
be read: after a lost piece, the stream is out of step (an item may start
anywhere in the next piece), so the scan looks for the first offset where a
whole, well-formed item starts and carries on from there. The items of the
lost stretch are gone; the scan counts the pieces it lost."""

from collections.abc import Iterator

import msgpack

from ..crypto.objects import ObjectKind
from ..errors import HutchError
from ..repo.archives import ArchiveEntry
from ..repo.reader import ChunkReader

_MAX_BUFFER = 256 * 1024 * 1024
_DECODE_ERRORS = (ValueError, TypeError, msgpack.UnpackException)


def is_item(obj) -> bool:
    return (
        isinstance(obj, dict)
        and isinstance(obj.get("path"), bytes)
        and isinstance(obj.get("mode"), int)
        and all(isinstance(k, str) for k in obj)
    )


def _item_at(data: bytes, offset: int):
    """The object that starts at `offset`, if one ends within `data`."""
    unpacker = msgpack.Unpacker(max_buffer_size=_MAX_BUFFER)
    position, step = offset, 4096
    while True:
        unpacker.feed(data[position : position + step])
        position += step
        try:
            return unpacker.unpack()
        except msgpack.OutOfData:
            if position >= len(data):
                return None
            step *= 2
        except _DECODE_ERRORS:
            return None


def find_item_start(data: bytes) -> int | None:
    """The first offset in `data` where a well-formed item starts."""
    for offset, byte in enumerate(data):
        # Items are maps: fixmap (0x80-0x8f) or map 16 (0xde).
        if (0x80 <= byte <= 0x8F or byte == 0xDE) and is_item(_item_at(data, offset)):
            return offset
    return None


class ItemScan:
    """Iterate the readable items of an archive; afterwards `lost_parts`
    says how many pieces of the stream could not be read or parsed."""

    def __init__(self, reader: ChunkReader, entry: ArchiveEntry):
        self.reader = reader
        self.entry = entry
        self.total_parts = len(entry.items)
        self.lost_parts = 0
        self.first_error = ""

    def _lost(self, why: str) -> None:
        self.lost_parts += 1
        self.first_error = self.first_error or why

    def __iter__(self) -> Iterator[dict]:
        unpacker = msgpack.Unpacker(max_buffer_size=_MAX_BUFFER)
        in_step = True
        for data in self.reader.iter_get(ObjectKind.ITEMS, self.entry.items):
            if isinstance(data, HutchError):
                self._lost(str(data))
                in_step = False
                continue
            if not in_step:
                start = find_item_start(data)
                if start is None:
                    continue  # no item starts in this piece: still out of step
                unpacker = msgpack.Unpacker(max_buffer_size=_MAX_BUFFER)
                data = data[start:]
                in_step = True
            unpacker.feed(data)
            try:
                for obj in unpacker:
                    if not is_item(obj):
                        raise ValueError("not an item")
                    yield obj
            except _DECODE_ERRORS as e:
                self._lost(f"malformed file list ({e})")
                in_step = False
