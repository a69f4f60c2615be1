"""Archive entries: one sealed object per archive in `archives/`, written
last by a backup (the commit point). Deleting moves the entry to `deleted/`
so that space is only freed by compact (and undelete stays possible)."""

import datetime
import os
import unicodedata
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
from .repository import Repository


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
    # What check --repair lost of it (date, lost_parts, damaged_files); only
    # stored when there is something to say.
    repaired: dict = field(default_factory=dict)
    id: bytes = b""  # the store name's id; not part of the stored dict

    def to_dict(self) -> dict:
        d = dict(self.__dict__)
        del d["id"]
        if not d["repaired"]:
            del d["repaired"]
        return d


def _time_order(entry: ArchiveEntry):
    """Sort key: the moment of the archive (offsets taken into account), then its name."""
    try:
        moment = datetime.datetime.fromisoformat(entry.time).timestamp()
    except (TypeError, ValueError):
        moment = 0.0
    return moment, entry.time, entry.name


class ArchiveList:
    def __init__(self, repo: Repository):
        self.repo = repo
        # Store names of entries that failed authentication in the last list().
        self.damaged: list[str] = []

    def _read(self, name: str) -> ArchiveEntry:
        try:
            obj_id = bytes.fromhex(name.split("/", 1)[1])
            plain = self.repo.cipher.open(ObjectKind.ARCHIVE, obj_id, self.repo.store.get(name))
            d = msgpack.unpackb(plain)
            entry = ArchiveEntry(**d)
        except (IntegrityError, ValueError, TypeError, msgpack.UnpackException):
            raise IntegrityError(f"archive entry {name} is damaged") from None
        entry.id = obj_id
        return entry

    def list(self) -> list[ArchiveEntry]:
        """All readable archives, oldest first. A damaged entry is left out
        and named in `damaged`: it must not keep the others from being used."""
        entries = []
        self.damaged = []
        for info in self.repo.store.list("archives"):
            try:
                entries.append(self._read(info.name))
            except ObjectNotFound:
                continue  # deleted while we listed
            except IntegrityError:
                self.damaged.append(info.name)
        return sorted(entries, key=_time_order)

    def get(self, name: str) -> ArchiveEntry:
        for entry in self.list():
            if entry.name == name:
                return entry
        if self.damaged:
            raise IntegrityError(
                f"archive {name!r} was not found, but {len(self.damaged)} archive entries are "
                f"damaged and could not be read ({', '.join(sorted(self.damaged))}); "
                "it may be one of them"
            )
        raise ArchiveNotFound(f"archive {name!r} does not exist; 'hutch list' shows the archives")

    def exists(self, name: str) -> bool:
        """Whether an archive of that name exists; False where this client
        may not read archives (write-only permissions)."""
        try:
            return any(e.name == name for e in self.list())
        except PermissionDenied:
            return False

    def add(self, entry: ArchiveEntry) -> None:
        """Write the entry: from now on the archive exists."""
        if self.exists(entry.name):
            raise ArchiveExists(f"archive {entry.name!r} already exists; choose another name")
        if self.repo.lock is not None:
            self.repo.lock.check()
        entry.id = os.urandom(32)
        blob = self.repo.cipher.seal(ObjectKind.ARCHIVE, entry.id, msgpack.packb(entry.to_dict()))
        self.repo.store.put(f"archives/{entry.id.hex()}", blob)

    def delete(self, entry: ArchiveEntry) -> None:
        name = f"archives/{entry.id.hex()}"
        blob = self.repo.store.get(name)
        self.repo.store.put(f"deleted/{entry.id.hex()}", blob, overwrite=True)
        self.repo.store.delete(name)

    def rename(self, entry: ArchiveEntry, new_name: str) -> None:
        check_archive_name(new_name)
        if self.exists(new_name):
            raise ArchiveExists(f"archive {new_name!r} already exists; choose another name")
        # Soft-delete first: a client that may not delete is refused before
        # anything changed, and a crash in between leaves the entry in deleted/.
        self.delete(entry)
        entry.name = new_name
        self.add(entry)

    def list_deleted(self) -> "list[ArchiveEntry]":
        """Soft-deleted archives that compact has not removed yet, oldest
        first. Damaged entries are named in `damaged`; an entry that is in
        archives/ as well (an undelete cut short) is not listed."""
        live = {info.name.split("/", 1)[1] for info in self.repo.store.list("archives")}
        entries = []
        self.damaged = []
        for info in self.repo.store.list("deleted"):
            if info.name.split("/", 1)[1] in live:
                continue
            try:
                entries.append(self._read(info.name))
            except ObjectNotFound:
                continue
            except IntegrityError:
                self.damaged.append(info.name)
        return sorted(entries, key=_time_order)

    def undelete(self, entry: ArchiveEntry) -> None:
        """Bring a soft-deleted archive back (before compact removed it)."""
        if self.exists(entry.name):
            raise ArchiveExists(
                f"archive {entry.name!r} cannot be brought back: an archive of that name "
                "exists; rename that one first"
            )
        name = f"deleted/{entry.id.hex()}"
        self.repo.store.put(f"archives/{entry.id.hex()}", self.repo.store.get(name))
        self.repo.store.delete(name)

    def delete_damaged(self, name: str) -> None:
        """Move an entry that cannot be read (`archives/<id>`) to deleted/:
        out of the listings, and gone for good with the next compact."""
        key = name.split("/", 1)[1]
        self.repo.store.put(f"deleted/{key}", self.repo.store.get(name), overwrite=True)
        self.repo.store.delete(name)
