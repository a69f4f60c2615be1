"""The salt and cost of the key last seen at each repository location, so
the next command can derive its key while it connects (crypto/early.py).
Kept in the cache: not secret (the sealed key carries them in the clear),
and losing them only costs the overlap."""

import contextlib
import os

import blake3
import msgpack

from ..crypto.early import KdfInputs
from .cache import CacheDir

FOLDER = "key-salts"


def _name(location: str) -> str:
    return blake3.blake3(location.encode("utf-8", "surrogateescape")).hexdigest()[:32]


def remembered(hints: CacheDir, location: str) -> KdfInputs | None:
    """What was seen at `location`; None if nothing or nothing usable."""
    data = hints.read(_name(location))
    if data is None:
        return None
    try:
        hint = msgpack.unpackb(data)
        params = {k: int(hint[k]) for k in ("iterations", "lanes", "memory_cost")}
        return bytes(hint["salt"]), params
    except (ValueError, TypeError, KeyError, msgpack.UnpackException):
        return None


def remember(hints: CacheDir, location: str, kdf: KdfInputs) -> None:
    """Record `kdf` for `location` unless it is what is recorded already."""
    if remembered(hints, location) != kdf:
        salt, params = kdf
        hints.write(_name(location), msgpack.packb({"salt": salt, **params}))


def forget(hints: CacheDir, location: str) -> None:
    """Drop `location`'s hint (its repository is gone), and the folder with
    the last one."""
    hints.remove(_name(location))
    if hints.folder:
        with contextlib.suppress(OSError):
            os.rmdir(hints.folder)
