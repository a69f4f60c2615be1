"""Copying sealed objects, as they are, into new packs: what compact does
with the live objects of a pack it rewrites, and check --repair with the
intact objects of a damaged pack. Objects are not re-encrypted: the
authentication of an object binds its kind and id, not its place."""

from ..errors import ObjectExists
from .pack import TARGET_SIZE, PackBuilder
from .repository import Repository


class PackCopier:
    def __init__(self, repo: Repository, pack_size: int = TARGET_SIZE):
        self.repo = repo
        self.pack_size = pack_size
        self.builder = PackBuilder()
        self.written: dict[str, list] = {}  # new pack -> entries
        self.bytes_written = 0

    def add(self, obj_id: bytes, blob: bytes | bytearray) -> None:
        self.builder.add(obj_id, blob)
        if self.builder.size >= self.pack_size:
            self.finish()

    def finish(self) -> None:
        """Upload what is collected as one pack."""
        builder, self.builder = self.builder, PackBuilder()
        if not len(builder):
            return
        name, data = builder.finish(self.repo.cipher)
        if self.repo.lock is not None:
            self.repo.lock.check()
        try:
            self.repo.store.put(f"packs/{name}", data)
        except ObjectExists:
            pass  # named by its hash: the same bytes are there already
        self.written[name] = builder.entries
        self.bytes_written += len(data)
