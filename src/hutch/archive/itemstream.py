"""The item stream of an archive: items packed with msgpack one after the
other, cut into content-defined chunks (so unchanged stretches deduplicate
between archives) and stored as ITEMS objects."""

from collections.abc import Iterator

import msgpack

from ..chunker import Chunker, ChunkerParams
from ..compress import Compressor
from ..crypto.objects import ObjectKind
from ..errors import HutchError, IntegrityError
from ..repo.archives import ArchiveEntry
from ..repo.reader import ChunkReader
from ..repo.writer import RepoWriter

ITEMS_CHUNKER = ChunkerParams("fastcdc", 1 << 12, 1 << 20, 1 << 16)
_FLUSH_AT = 4 * 1024 * 1024
ITEMS_WINDOW = 2 * 1024 * 1024


class ItemStreamWriter:
    def __init__(self, writer: RepoWriter, compressor: Compressor):
        self.writer = writer
        self.compressor = compressor
        key = writer.repo.key
        self._chunker = Chunker(ITEMS_CHUNKER, key.chunker_seed)
        self._packer = msgpack.Packer()
        self._buffer = bytearray()
        self.ids: list[bytes] = []
        self.size = 0

    def add(self, item: dict) -> None:
        self._buffer += self._packer.pack(item)
        if len(self._buffer) >= _FLUSH_AT:
            self._cut(final=False)

    def _cut(self, final: bool) -> None:
        pieces = [bytes(c) for c in self._chunker.chunks(self._buffer)]
        # Keep the last piece open (unless final) so cut points don't depend on flush timing.
        keep = b"" if final or not pieces else pieces.pop()
        key = self.writer.repo.key
        for piece in pieces:
            chunk_id = key.chunk_id(piece)
            if not self.writer.has(chunk_id):
                blob = self.writer.cipher.seal(
                    ObjectKind.ITEMS, chunk_id, self.compressor.compress(piece)
                )
                self.writer.add(chunk_id, blob)
            self.ids.append(chunk_id)
            self.size += len(piece)
        self._buffer = bytearray(keep)

    def finish(self) -> list[bytes]:
        self._cut(final=True)
        return self.ids


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
