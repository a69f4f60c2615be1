"""Whether one stored object (a chunk or an item-stream piece, sealed) is
intact: it authenticates under the key, and without a key (mode none) its
content hashes to its id."""

from ..compress import decompress
from ..crypto.objects import ObjectKind
from ..errors import HutchError
from .repository import Repository

PACKED_KINDS = (ObjectKind.CHUNK, ObjectKind.ITEMS)


def object_is_intact(repo: Repository, obj_id: bytes, blob: bytes) -> bool:
    if len(blob) < 3 or blob[2] not in PACKED_KINDS:
        return False
    try:
        plain = repo.cipher.open(blob[2], obj_id, blob)
        if repo.key.mode == "none":
            return repo.key.chunk_id(decompress(plain)) == obj_id
    except HutchError:
        return False
    return True
