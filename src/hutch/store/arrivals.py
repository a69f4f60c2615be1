"""The serving process as the witness of order and time.

A client that holds the key can seal anything: garbage under a real chunk
id, an archive entry with any name and any claimed time. What it cannot
forge is when its objects reached the repository. `ArrivalStore` wraps the
store that the serving process (`hutch serve`, or the local process for a
local repository) writes to, and records, for every pack, index segment
and archive entry that arrives, the time on the serving process's own
clock, the object's size, the client's name (`serve --client`) and, for
an archive, the series it publishes, as `arrivals/<namespace>.<key>`.
Restricted clients cannot write that namespace (see permissions.py);
where copies or entries conflict, what arrived first wins.

The record is written before the object and is itself written once: a
crash in between leaves a record without an object (harmless, compact
sweeps it), never an object without a record, and a second upload of the
same content keeps the first arrival. An archive id whose record exists
was used before (a soft-deleted archive keeps its record): only a client
trusted to rewrite history (undelete, rename) may use it again, so that no
entry can inherit another's place in time.
"""

import time
from dataclasses import dataclass

import msgpack

from ..errors import ObjectExists, ObjectNotFound
from .base import split_name
from .published import Malformed, split_archive_object
from .schema import WITNESSED, arrival_name
from .wrapper import StoreWrapper

MAX_CLIENT_NAME = 128


@dataclass(frozen=True)
class Arrival:
    time_ns: int
    size: int
    client: str | None = None
    series: bytes | None = None  # what an archive publishes as its series
    # For an archive: bytes its connection stored since the previous archive
    # (what its backup added, as the server counted it).
    added: int = 0
    # When compact without the key removed the object (ns): index segments,
    # sealed, may still list the pack until a compact with the key.
    removed: int | None = None

    def to_bytes(self) -> bytes:
        d = {"t": self.time_ns, "size": self.size, "client": self.client, "series": self.series}
        return msgpack.packb({**d, "added": self.added, "removed": self.removed})

    @classmethod
    def from_bytes(cls, data: bytes | bytearray) -> "Arrival | None":
        """The record, or None if it is not one (never trust a damaged record)."""
        try:
            d = msgpack.unpackb(data)
            removed = d.get("removed")
            arrival = cls(
                int(d["t"]),
                int(d["size"]),
                d.get("client"),
                d.get("series"),
                int(d["added"]),
                None if removed is None else int(removed),
            )
        except (ValueError, TypeError, KeyError, AttributeError, msgpack.UnpackException):
            return None
        if arrival.client is not None and not isinstance(arrival.client, str):
            return None
        if arrival.series is not None and not isinstance(arrival.series, bytes):
            return None
        return arrival


class ArrivalStore(StoreWrapper):
    """client: the name `serve --client` stamps on what arrives;
    may_reuse_ids: whether a put may bring back an archive id seen before."""

    def __init__(self, inner, client: str | None = None, may_reuse_ids: bool = True, clock=None):
        super().__init__(inner)
        self.client = client
        self.may_reuse_ids = may_reuse_ids
        self._clock = clock or time.time_ns
        # What this connection added, for the session's own account (pull).
        self.arrived: list[str] = []
        self.bytes_arrived = 0
        self._at_last_archive = 0

    def put(self, name: str, data: bytes | bytearray, overwrite: bool = False) -> None:
        namespace, _ = split_name(name)
        if namespace in WITNESSED:
            added = self.bytes_arrived - self._at_last_archive if namespace == "archives" else 0
            series = _series(namespace, data)
            record = Arrival(self._clock(), len(data), self.client, series, added)
            try:
                self.inner.put(arrival_name(name), record.to_bytes())
            except ObjectExists:
                if namespace == "archives" and not self.may_reuse_ids and not overwrite:
                    raise ObjectExists(
                        f"archive id {name.split('/', 1)[1]} was used before; choose another"
                    ) from None
        self.inner.put(name, data, overwrite)
        if namespace in (*WITNESSED, "refs"):
            self.arrived.append(name)
            self.bytes_arrived += len(data)
            if namespace == "archives":
                self._at_last_archive = self.bytes_arrived


def _series(namespace: str, data: bytes | bytearray) -> bytes | None:
    """The series an archive object publishes (None for other objects, or
    one that does not parse: the server's checks refuse those)."""
    if namespace != "archives":
        return None
    try:
        return split_archive_object(data)[0]["series"]
    except Malformed:
        return None


def read_arrival(store, name: str) -> Arrival | None:
    """When object `name` arrived; None where no (readable) record exists."""
    try:
        return Arrival.from_bytes(store.get(arrival_name(name)))
    except ObjectNotFound:
        return None
