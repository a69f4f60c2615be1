"""Reading an archive's item stream: the items, packed with msgpack one
after the other in ITEMS objects (itemwriter.py writes them). Kept apart
from the writer so that commands which only read load neither the chunker
nor the pack writer."""

from collections.abc import Iterator

import msgpack

from ..crypto.objects import ObjectKind
from ..errors import HutchError, IntegrityError
from ..repo.archives import ArchiveEntry
from ..repo.reader import ChunkReader

ITEMS_WINDOW = 2 * 1024 * 1024


def iter_items(reader: ChunkReader, entry: ArchiveEntry) -> Iterator[dict]:
    """The items of an archive, in order. Damage raises IntegrityError: an
    archive whose item stream is broken cannot be listed reliably."""
    unpacker = msgpack.Unpacker(max_buffer_size=256 * 1024 * 1024)
    # Item chunks compress well: a short read-ahead keeps the plaintext small.
    for data in reader.iter_get(ObjectKind.ITEMS, entry.items, window=ITEMS_WINDOW):
        if isinstance(data, HutchError):
            raise IntegrityError(f"archive {entry.name!r}: its file list is damaged ({data})")
        unpacker.feed(data)
        try:
            for item in unpacker:
                if not isinstance(item, dict) or not isinstance(item.get("path"), bytes):
                    raise IntegrityError(f"archive {entry.name!r}: malformed item")
                yield item
        except (ValueError, TypeError, msgpack.UnpackException) as e:
            raise IntegrityError(f"archive {entry.name!r}: malformed file list ({e})") from None
