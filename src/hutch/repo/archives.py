"""Archive entries: one sealed object per archive in `archives/`, written
last by a backup (the commit point). Deleting moves the entry to `deleted/`
so that space is only freed by compact (and undelete stays possible).

Each entry is matched with the server's record of when it arrived
(store/arrivals.py). A client holding the key can seal an entry with any
name and any claimed time, so where two entries carry one name, the one
that arrived first is the archive that name means (with a warning naming
both ids); `aid:ID` names an archive by (a prefix of) its id instead."""

import builtins
import datetime
import os
import unicodedata
from collections.abc import Callable, Set
from dataclasses import dataclass, field

import msgpack

from ..crypto.objects import ObjectKind
from ..errors import (
    ArchiveExists,
    ArchiveNotFound,
    IntegrityError,
    ObjectNotFound,
    PermissionDenied,
    UsageError,
)
from ..store.arrivals import Arrival
from ..store.base import Store
from ..store.published import pack_archive_object, split_archive_object
from ..store.schema import arrival_name, object_id
from .repository import Repository

ID_PREFIX = "aid:"


def check_archive_name(name: str) -> str:
    """Refuse names that REPO::ARCHIVE, paths or one-per-line listings could
    not tell apart (UsageError); return the name."""
    what = None
    if not name:
        what = "is empty"
    elif "/" in name:
        what = "contains '/'"
    elif "::" in name:
        what = "contains '::'"
    elif name.startswith(ID_PREFIX):
        what = f"starts with {ID_PREFIX!r}, which names an archive by its id"
    elif any(unicodedata.category(c) in ("Cc", "Cs") for c in name):
        what = "contains a control character or bytes that are not UTF-8"
    if what:
        raise UsageError(f"invalid archive name {name!r}: it {what}; choose another name")
    return name


@dataclass
class ArchiveEntry:
    name: str
    items: list[bytes]  # ids of the ITEMS chunks holding the item stream
    time: str  # ISO 8601 local time with offset: start of the backup
    end: str = ""
    hostname: str = ""
    username: str = ""
    comment: str = ""
    command_line: list[str] = field(default_factory=list)
    chunker_params: str = ""
    stats: dict = field(default_factory=dict)
    series: bytes = b""
    refs: list[str] = field(default_factory=list)  # names of its reference lists (refs/)
    # What check --repair lost of it (date, lost_parts, damaged_files); only
    # stored when there is something to say.
    repaired: dict = field(default_factory=dict)
    # Not part of the sealed entry: the id in its store name, and the
    # server's record of its arrival (None where there is none).
    id: bytes = b""
    arrival: Arrival | None = None

    def to_dict(self) -> dict:
        d = dict(self.__dict__)
        del d["id"], d["arrival"]
        if not d["repaired"]:
            del d["repaired"]
        return d

    def published(self) -> dict:
        """What the archive object shows the server in clear (store/published.py)."""
        return {"series": self.series, "items": list(self.items), "refs": list(self.refs)}

    @property
    def arrived(self) -> int | None:
        """When the entry reached the repository (ns, the server's clock)."""
        return self.arrival.time_ns if self.arrival is not None else None


def _time_order(entry: ArchiveEntry):
    """Sort key: the moment of the archive (offsets taken into account), then its name."""
    try:
        moment = datetime.datetime.fromisoformat(entry.time).timestamp()
    except (TypeError, ValueError):
        moment = 0.0
    return moment, entry.time, entry.name


def arrival_order(entry: ArchiveEntry):
    """Sort key: first arrived first; entries without a record last."""
    arrived = entry.arrived
    return (arrived is None, arrived or 0, entry.id)


def get_each(store: Store, names: list[str]) -> list[bytes | bytearray | None]:
    """The objects `names`, None for each that is missing; one round trip
    where nothing is missing."""
    try:
        return list(store.get_many([(n, 0, None) for n in names]))
    except ObjectNotFound:
        pass
    result: list[bytes | bytearray | None] = []
    for name in names:
        try:
            result.append(store.get(name))
        except ObjectNotFound:
            result.append(None)
    return result


class ArchiveList:
    """on_warning(text): told about ambiguous names (default: ignored;
    the warnings are kept in `warnings` too)."""

    def __init__(self, repo: Repository, on_warning: Callable[[str], None] | None = None):
        self.repo = repo
        self.on_warning = on_warning
        self.warnings: list[str] = []
        # Store names of entries that failed authentication in the last list().
        self.damaged: list[str] = []
        # (sealed entry, arrival record) as read, by store name: a command lists
        # more than once (create: at its start and at its commit), and only
        # names it has not seen are fetched again. Another client's rename
        # (the one change an entry takes under its name) in between is not
        # seen; it could as well land just after the last listing.
        self._fetched: dict[str, tuple[bytes | bytearray, bytes | bytearray | None]] = {}

    def _warn(self, text: str) -> None:
        self.warnings.append(text)
        if self.on_warning is not None:
            self.on_warning(text)

    def _seal(self, entry: ArchiveEntry) -> bytes:
        sealed = self.repo.cipher.seal(ObjectKind.ARCHIVE, entry.id, msgpack.packb(entry.to_dict()))
        return pack_archive_object(entry.published(), sealed)

    def _open(
        self, name: str, blob: bytes | bytearray, record: bytes | bytearray | None
    ) -> ArchiveEntry:
        try:
            obj_id = object_id(name)
            published, sealed = split_archive_object(blob)
            plain = self.repo.cipher.open(ObjectKind.ARCHIVE, obj_id, sealed)
            d = msgpack.unpackb(plain)
            entry = ArchiveEntry(**d)
            if not isinstance(entry.name, str) or not isinstance(entry.time, str):
                raise TypeError("malformed entry")
            entry.items = [bytes(i) for i in entry.items]
            # The server could alter the clear part: it must say what the sealed one says.
            if published != entry.published():
                raise ValueError("published part differs from the sealed entry")
        except (IntegrityError, ValueError, TypeError, msgpack.UnpackException):
            raise IntegrityError(f"archive entry {name} is damaged") from None
        entry.id = obj_id
        entry.arrival = Arrival.from_bytes(record) if record is not None else None
        return entry

    def _read_all(
        self, namespace: str, skip: Set[str] = frozenset()
    ) -> builtins.list[ArchiveEntry]:
        names = [
            i.name for i in self.repo.store.list(namespace) if i.name.split("/", 1)[1] not in skip
        ]
        self._fetch([n for n in names if n not in self._fetched])
        entries = []
        self.damaged = []
        for name in names:
            if name not in self._fetched:
                continue  # deleted while we listed
            blob, record = self._fetched[name]
            try:
                entries.append(self._open(name, blob, record))
            except IntegrityError:
                self.damaged.append(name)
        return sorted(entries, key=_time_order)

    def _fetch(self, names: builtins.list[str]) -> None:
        """Read the entries `names` and their arrival records, in one round
        trip where all are there and readable."""
        if not names:
            return
        store = self.repo.store
        arrivals = [arrival_name(n) for n in names]
        blobs: builtins.list[bytes | bytearray | None]
        records: builtins.list[bytes | bytearray | None]
        try:
            both: builtins.list[bytes | bytearray | None] = list(
                store.get_many([(n, 0, None) for n in names + arrivals])
            )
            blobs, records = both[: len(names)], both[len(names) :]
        except (ObjectNotFound, PermissionDenied):
            blobs = get_each(store, names)
            try:
                records = get_each(store, arrivals)
            except PermissionDenied:
                records = [None] * len(names)  # not readable here: order by claimed time only
        for name, blob, record in zip(names, blobs, records, strict=True):
            if blob is not None:
                self._fetched[name] = (blob, record)

    def _forget(self, key: str) -> None:
        """Read this entry anew next time: this client changed it."""
        self._fetched.pop(f"archives/{key}", None)
        self._fetched.pop(f"deleted/{key}", None)

    def list(self) -> list[ArchiveEntry]:
        """All readable archives, oldest first by the time they claim. A
        damaged entry is left out and named in `damaged`: it must not keep
        the others from being used."""
        return self._read_all("archives")

    def get(self, name: str) -> ArchiveEntry:
        """The archive `name` means: `aid:PREFIX` by id; of several entries
        with one name, the first arrived (with a warning)."""
        entries = self.list()
        if name.startswith(ID_PREFIX):
            return self._by_id(entries, name[len(ID_PREFIX) :])
        named = sorted((e for e in entries if e.name == name), key=arrival_order)
        if len(named) > 1:
            others = ", ".join(e.id.hex() for e in named[1:])
            self._warn(
                f"archive name {name!r} is used by {len(named)} entries: {named[0].id.hex()} "
                f"(arrived first, used here) and {others}; 'aid:ID' names one of them, "
                "'hutch check' reports them"
            )
        if named:
            return named[0]
        if self.damaged:
            raise IntegrityError(
                f"archive {name!r} was not found, but {len(self.damaged)} archive entries are "
                f"damaged and could not be read ({', '.join(sorted(self.damaged))}); "
                "it may be one of them"
            )
        raise ArchiveNotFound(f"archive {name!r} does not exist; 'hutch list' shows the archives")

    def _by_id(self, entries: builtins.list[ArchiveEntry], prefix: str) -> ArchiveEntry:
        prefix = prefix.lower()
        found = [e for e in entries if e.id.hex().startswith(prefix)]
        if not prefix or len(found) > 1:
            raise UsageError(f"archive id {ID_PREFIX}{prefix} is ambiguous; give more digits")
        if not found:
            raise ArchiveNotFound(f"no archive has an id starting with {prefix}")
        return found[0]

    def duplicates(
        self, entries: builtins.list[ArchiveEntry]
    ) -> dict[str, builtins.list[ArchiveEntry]]:
        """Names that more than one entry carries -> those entries, first arrived first."""
        by_name: dict[str, list[ArchiveEntry]] = {}
        for entry in entries:
            by_name.setdefault(entry.name, []).append(entry)
        return {
            name: sorted(group, key=arrival_order)
            for name, group in by_name.items()
            if len(group) > 1
        }

    def exists(self, name: str) -> bool:
        """Whether an archive of that name exists; False where this client
        may not read archives (write-only permissions)."""
        try:
            return any(e.name == name for e in self.list())
        except PermissionDenied:
            return False

    def add(self, entry: ArchiveEntry, arrival: Arrival | None = None) -> None:
        """Write the entry: from now on the archive exists. `arrival`: the
        place in time the entry keeps instead of now (a repaired archive
        keeps the original's; needs permissions `all`)."""
        if self.exists(entry.name):
            raise ArchiveExists(f"archive {entry.name!r} already exists; choose another name")
        if self.repo.lock is not None:
            self.repo.lock.check()
        entry.id = os.urandom(32)
        name = f"archives/{entry.id.hex()}"
        self.repo.store.put(name, self._seal(entry))
        if arrival is not None:
            self.repo.store.put(arrival_name(name), arrival.to_bytes(), overwrite=True)
            entry.arrival = arrival

    def delete(self, entry: ArchiveEntry) -> None:
        # Imported here: it brings compaction's code, which no backup needs.
        from .keyless import soft_delete

        soft_delete(self.repo.store, entry.id)
        self._forget(entry.id.hex())

    def rename(self, entry: ArchiveEntry, new_name: str) -> None:
        """Seal the entry anew under its own id, replacing it in one atomic
        write: it keeps its id and its place in time (its arrival record)."""
        check_archive_name(new_name)
        if self.exists(new_name):
            raise ArchiveExists(f"archive {new_name!r} already exists; choose another name")
        if self.repo.lock is not None:
            self.repo.lock.check()
        entry.name = new_name
        self._forget(entry.id.hex())
        self.repo.store.put(f"archives/{entry.id.hex()}", self._seal(entry), overwrite=True)

    def list_deleted(self) -> builtins.list[ArchiveEntry]:
        """Soft-deleted archives that compact has not removed yet, oldest
        first. Damaged entries are named in `damaged`; an entry that is in
        archives/ as well (an undelete cut short) is not listed."""
        live = {info.name.split("/", 1)[1] for info in self.repo.store.list("archives")}
        return self._read_all("deleted", skip=live)

    def undelete(self, entry: ArchiveEntry) -> None:
        """Bring a soft-deleted archive back (before compact removed it)."""
        if self.exists(entry.name):
            raise ArchiveExists(
                f"archive {entry.name!r} cannot be brought back: an archive of that name "
                "exists; rename that one first"
            )
        name = f"deleted/{entry.id.hex()}"
        self._forget(entry.id.hex())
        self.repo.store.put(f"archives/{entry.id.hex()}", self.repo.store.get(name))
        self.repo.store.delete(name)

    def delete_damaged(self, name: str) -> None:
        """Move an entry that cannot be read (`archives/<id>`) to deleted/:
        out of the listings, and gone for good with the next compact."""
        key = name.split("/", 1)[1]
        self._forget(key)
        self.repo.store.put(f"deleted/{key}", self.repo.store.get(name), overwrite=True)
        self.repo.store.delete(name)
