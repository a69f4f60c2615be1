"""Writing an archive's item stream (itemstream.py reads it): items packed
with msgpack one after the other, cut into content-defined chunks (so
unchanged stretches deduplicate between archives) and stored as ITEMS
objects.

Alongside, the chunk ids the items reference are published for keyless
maintenance as reference lists (`refs/`, store/published.py): the ids in
item order, cut where an id's leading bits say so (ids are keyed hashes,
so the cuts are content-defined and an unchanged stretch of files yields
the same list again, stored once), each list sorted."""

import msgpack

from ..chunker import Chunker, ChunkerParams
from ..compress import Compressor
from ..crypto.objects import ObjectKind
from ..errors import ObjectExists
from ..repo.writer import RepoWriter
from ..store.base import Store
from ..store.published import pack_refs
from ..store.schema import content_name

ITEMS_CHUNKER = ChunkerParams("fastcdc", 1 << 12, 1 << 20, 1 << 16)
_FLUSH_AT = 4 * 1024 * 1024
REFS_EVERY = 4096  # ids in a reference list, on average
REFS_MAX = 65536


def item_packer() -> msgpack.Packer:
    """How an item is packed into the stream; the walk's helper process
    packs with one of these too, so its items are the writer's bytes."""
    return msgpack.Packer()


class RefsWriter:
    """Cuts the referenced chunk ids into reference lists and stores each
    new one (dry_run: names them, stores nothing)."""

    def __init__(self, store: Store, dry_run: bool = False):
        self.store = store
        self.dry_run = dry_run
        self.names: list[str] = []
        self._group: list[bytes] = []
        self._known: set[str] | None = None

    def add(self, chunk_id: bytes) -> None:
        self._group.append(chunk_id)
        if int.from_bytes(chunk_id[:4], "big") % REFS_EVERY == 0 or len(self._group) >= REFS_MAX:
            self._cut()

    def _cut(self) -> None:
        if not self._group:
            return
        data = pack_refs(self._group)
        self._group = []
        name = content_name(data)
        if not self.dry_run:
            if self._known is None:
                self._known = {i.name.split("/", 1)[1] for i in self.store.list("refs")}
            if name not in self._known:
                try:
                    self.store.put(f"refs/{name}", data)
                except ObjectExists:
                    pass
                self._known.add(name)
        if name not in self.names:
            self.names.append(name)

    def finish(self) -> list[str]:
        self._cut()
        return self.names


class ItemStreamWriter:
    """After finish(): `ids` (the item stream's chunks) and `refs` (the
    reference lists of what its items use)."""

    def __init__(self, writer: RepoWriter, compressor: Compressor):
        self.writer = writer
        self.compressor = compressor
        key = writer.repo.key
        self._chunker = Chunker(ITEMS_CHUNKER, key.chunker_seed)
        self._packer = item_packer()
        self._buffer = bytearray()
        self.ids: list[bytes] = []
        self.refs: list[str] = []
        self._refs = RefsWriter(writer.repo.store, writer.dry_run)
        self.size = 0

    def add(self, item: dict) -> None:
        refs = self._refs
        for key in ("chunks", "chunks_healthy"):
            for chunk_id, _ in item.get(key) or ():
                refs.add(bytes(chunk_id))
        self._append(self._packer.pack(item))

    def add_packed(self, packed: bytes, chunk_ids: list[bytes]) -> None:
        """Add an item packed elsewhere (by an `item_packer`), with the ids of its chunks."""
        for chunk_id in chunk_ids:
            self._refs.add(chunk_id)
        self._append(packed)

    def _append(self, packed: bytes) -> None:
        self._buffer += packed
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
        self.refs = self._refs.finish()
        return self.ids
