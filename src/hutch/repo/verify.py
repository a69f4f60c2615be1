"""Whether one stored object (a chunk or an item-stream piece, sealed) is
what its id says: it authenticates under the key, and its plaintext hashes
to its id (a keyed hash). Authentication alone is not enough: a client
that holds the key can seal garbage under a real id; only the id check
tells that copy from the genuine one."""

from ..compress import decompress
from ..crypto.objects import ObjectKind
from ..errors import HutchError
from .repository import Repository

PACKED_KINDS = (ObjectKind.CHUNK, ObjectKind.ITEMS)


def object_is_intact(repo: Repository, obj_id: bytes, blob) -> bool:
    if len(blob) < 3 or blob[2] not in PACKED_KINDS:
        return False
    try:
        plain = decompress(repo.cipher.open(blob[2], obj_id, blob))
    except HutchError:
        return False
    return repo.key.chunk_id(plain) == obj_id
