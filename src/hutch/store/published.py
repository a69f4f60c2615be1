"""What an archive publishes for the server, in clear, next to its sealed
entry: so that the server can keep a repository healthy without the key
(repo-prune by series, compact by references).

An archive object (`archives/<id>`) is

    MAGIC (8) | published length (u32 BE) | published (msgpack) | sealed entry

published = {"series": opaque id, "items": [ids of its item-stream chunks],
"refs": [names of its reference lists]}. Ids are keyed hashes: they show
equality, never content. The sealed entry repeats all three, and a client
with the key accepts an entry only where both agree, so a server cannot
alter what a client reads. A client that publishes a lie harms only its
own archive (its chunks may be freed); it cannot make the server free
another archive's chunks, which that archive lists itself.

A reference list (`refs/<hash>`) is REFS_MAGIC followed by sorted 32-byte
chunk ids; it is named by the hash of its bytes.
"""

import struct

import msgpack

MAGIC = b"HUTCHAR2"
REFS_MAGIC = b"HUTCHRF1"
_LENGTH = struct.Struct(">I")
MAX_PUBLISHED = 64 * 1024 * 1024
ID_SIZE = 32


class Malformed(ValueError):
    """Not an object of the expected layout."""


def pack_archive_object(published: dict, sealed: bytes | bytearray) -> bytes:
    body = msgpack.packb(published)
    return MAGIC + _LENGTH.pack(len(body)) + body + sealed


def split_archive_object(data) -> tuple[dict, bytes]:
    """(published, sealed entry); Malformed if the layout is wrong."""
    data = bytes(data)
    head = len(MAGIC) + _LENGTH.size
    if len(data) < head or not data.startswith(MAGIC):
        raise Malformed("not an archive object")
    (length,) = _LENGTH.unpack_from(data, len(MAGIC))
    if length > MAX_PUBLISHED or head + length > len(data):
        raise Malformed("archive object is cut short")
    try:
        published = msgpack.unpackb(data[head : head + length])
    except (ValueError, TypeError, msgpack.UnpackException):
        raise Malformed("archive object's published part is damaged") from None
    if (
        not isinstance(published, dict)
        or not isinstance(published.get("series"), bytes)
        or not _ids(published.get("items"))
        or not isinstance(published.get("refs"), list)
        or not all(isinstance(r, str) for r in published["refs"])
    ):
        raise Malformed("archive object's published part is malformed")
    return published, data[head + length :]


def _ids(value) -> bool:
    return isinstance(value, list) and all(
        isinstance(i, bytes) and len(i) == ID_SIZE for i in value
    )


def pack_refs(ids) -> bytes:
    """A reference list of `ids` (sorted, each once)."""
    return REFS_MAGIC + b"".join(sorted(set(ids)))


def unpack_refs(data) -> list[bytes]:
    data = bytes(data)
    body = data[len(REFS_MAGIC) :]
    if not data.startswith(REFS_MAGIC) or len(body) % ID_SIZE:
        raise Malformed("not a reference list")
    return [body[i : i + ID_SIZE] for i in range(0, len(body), ID_SIZE)]
