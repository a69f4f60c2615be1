"""The names a repository gives its objects, and what a server can check
about them without the key.

Every object has exactly one spelling of its name: ids are lower-case hex
of a fixed length, matched against the whole key (no other case, no
trailing newline), so that two names can never mean the same object.
Packs and index segments are content-addressed: their key is the BLAKE3
hash of their bytes, which anyone can verify.

| namespace | key |
| --- | --- |
| config | `config` |
| keys | `repokey` |
| packs, index, refs | BLAKE3 of the object's bytes (64 hex) |
| archives, deleted | an archive id (64 hex), the same in both |
| locks | a random lock id (32 hex) |
| arrivals | `<namespace>.<key>` of the object whose arrival it records |
"""

import re

import blake3

from .base import split_name

_HEX64 = re.compile(r"[0-9a-f]{64}")
_KEYS = {
    "config": re.compile(r"config"),
    "keys": re.compile(r"repokey"),
    "packs": _HEX64,
    "index": _HEX64,
    "refs": _HEX64,
    "archives": _HEX64,
    "deleted": _HEX64,
    "locks": re.compile(r"[0-9a-f]{32}"),
    "arrivals": re.compile(r"(?:packs|index|archives)\.[0-9a-f]{64}"),
}
CONTENT_ADDRESSED = ("packs", "index", "refs")
# Objects whose arrival the serving process records; an archive keeps its
# record while it moves between archives/ and deleted/.
WITNESSED = ("packs", "index", "archives")


def content_name(data) -> str:
    """The key of a content-addressed object: the BLAKE3 hash of its bytes."""
    return blake3.blake3(data).hexdigest()


def is_canonical(name: str) -> bool:
    """Whether `name` is the one spelling of a repository object's name."""
    namespace, key = name.partition("/")[::2]
    pattern = _KEYS.get(namespace)
    return pattern is not None and pattern.fullmatch(key) is not None


def object_id(name: str) -> bytes:
    """The id in an archive's store name; ValueError unless canonical."""
    namespace, key = split_name(name)
    if namespace not in ("archives", "deleted") or not is_canonical(name):
        raise ValueError(f"{name!r} is not an archive's store name")
    return bytes.fromhex(key)


def arrival_name(name: str) -> str:
    """Where the arrival of object `name` is recorded (deleted archives
    share the record of their archives/ entry)."""
    namespace, key = split_name(name)
    if namespace == "deleted":
        namespace = "archives"
    return f"arrivals/{namespace}.{key}"


def arrived_object(record_name: str) -> str:
    """The object an arrival record (`arrivals/ns.key`) is about."""
    namespace, key = split_name(record_name)[1].split(".", 1)
    return f"{namespace}/{key}"
