"""Checking archives and repairing them (check --archives-only, --repair).

Every archive entry must read and authenticate, every piece of its item
stream must read, and every chunk an item references must be present (in
the index, in a pack that exists; after a pack scan, also intact). Each
file that lost data is reported as `archive NAME: PATH: damaged`.

An archive is never changed in place. Repair writes a new archive of the
same name: its items are those that could be read, and a file that lost
chunks gets zero-filled chunks of the same sizes in their place (as borg
does), its original chunk list kept as `chunks_healthy` so that it heals
when the lost chunks come back (a later backup of the same data uploads
them again; the next repair notices). The comment of the new archive notes
the repair and the damaged files. The old entry is soft-deleted, so it
stays available to undelete until the next compact.
"""

import datetime
import os
from collections.abc import Callable
from dataclasses import dataclass

from ..compress import parse_spec
from ..crypto.objects import ObjectKind
from ..repo.archives import ArchiveEntry, ArchiveList
from ..repo.check import Findings, check_repository, repair_repository
from ..repo.reader import ChunkReader
from ..repo.repository import Repository
from ..repo.writer import RepoWriter
from .itemscan import ItemScan
from .itemwriter import ItemStreamWriter

NOTE_NAMES = 10  # damaged files named in an archive's comment


@dataclass
class CheckOptions:
    repository: bool = True  # check packs and index
    archives: bool = True  # check archives
    verify_data: bool = False
    repair: bool = False
    select: Callable[[str], bool] = lambda name: True
    deadline: float | None = None  # time.monotonic() at which the pack scan stops


def run_check(repo: Repository, findings: Findings, options: CheckOptions) -> int:
    """The whole check (and repair) as `hutch check` runs it; returns how
    many archives were checked. A pack scan (repository check, or
    verify_data) replaces the index with the intact objects it found."""
    if options.repository or options.verify_data:
        scan = check_repository(repo, findings, options.verify_data, options.deadline)
        if scan.complete:
            index = repair_repository(repo, scan, findings) if options.repair else scan.index()
            repo.replace_index(index)
    if not options.archives:
        return 0
    return check_archives(repo, findings, options.select, repair=options.repair)


@dataclass
class ArchiveState:
    damaged: list[str]  # paths of files that lost data (newly, or patched with zeros before)
    healable: int  # files patched earlier whose lost chunks are back
    lost_parts: int  # pieces of the item stream that could not be read
    newly_damaged: int = 0  # files that lost data since the last repair

    @property
    def needs_repair(self) -> bool:
        return bool(self.healable or self.lost_parts or self.newly_damaged)


def chunk_presence(repo: Repository) -> Callable[[bytes], bool]:
    """Whether a chunk can be read: in the index, in a pack that exists."""
    packs = {info.name.split("/", 1)[1] for info in repo.store.list("packs")}
    index = repo.index

    def present(chunk_id: bytes) -> bool:
        try:
            return index.lookup(chunk_id)[0] in packs
        except KeyError:
            return False

    return present


def _item_state(item: dict, present) -> tuple[str, int]:
    """("ok" | "damaged" | "patched" | "healable", chunks lost)."""
    healthy = item.get("chunks_healthy")
    chunks = item.get("chunks") or []
    if healthy is not None:
        lost = sum(1 for c, _ in healthy if not present(bytes(c)))
        if not lost:
            return "healable", 0
        if any(not present(bytes(c)) for c, _ in chunks):
            return "damaged", lost
        return "patched", lost
    lost = sum(1 for c, _ in chunks if not present(bytes(c)))
    return ("damaged", lost) if lost else ("ok", 0)


def check_archives(
    repo: Repository,
    findings: Findings,
    select: Callable[[str], bool],
    repair: bool = False,
    present: Callable[[bytes], bool] | None = None,
) -> int:
    """Check (and with repair, fix) the archives whose names `select`
    accepts; returns how many were checked."""
    archives = ArchiveList(repo)
    entries = archives.list()
    for name, group in sorted(archives.duplicates(entries).items()):
        ids = ", ".join(e.id.hex() for e in group[1:])
        findings.warn(
            f"archive name {name!r} is carried by {len(group)} entries: {group[0].id.hex()} "
            f"arrived first and is the one the name means; {ids} arrived later (another "
            "client wrote them, or two backups ran at once); name one with 'aid:ID'"
        )
    for name in sorted(archives.damaged):
        findings.found(f"archive entry {name} is damaged and cannot be read; that archive is lost")
        if repair:
            archives.delete_damaged(name)
            findings.fixed(
                f"archive entry {name} moved to deleted/ "
                "(compact removes it, and what only it used)"
            )
    present = present or chunk_presence(repo)
    reader = ChunkReader(repo)
    checked = 0
    selected = [e for e in entries if select(e.name)]
    try:
        for entry in selected:
            findings.step(checked, len(selected), "checking archives")
            checked += 1
            findings.note(f"checking archive {entry.name}")
            state = _check_archive(reader, entry, present, findings)
            if repair and state.needs_repair:
                _repair_archive(repo, reader, archives, entry, present, findings)
    finally:
        reader.close()
    findings.step(checked, len(selected), "checking archives")
    return checked


def _check_archive(reader: ChunkReader, entry: ArchiveEntry, present, findings) -> ArchiveState:
    state = ArchiveState([], 0, 0)
    if note := repair_note(entry):
        findings.warn(note)
    scan = ItemScan(reader, entry)
    for item in scan:
        status, lost = _item_state(item, present)
        path = os.fsdecode(item["path"])
        total = len(item.get("chunks_healthy") or item.get("chunks") or [])
        if status == "damaged":
            state.damaged.append(path)
            state.newly_damaged += 1
            findings.found(f"archive {entry.name}: {path}: damaged ({lost} of {total} chunks lost)")
        elif status == "patched":
            state.damaged.append(path)
            findings.warn(
                f"archive {entry.name}: {path}: damaged ({lost} of {total} chunks lost; "
                "an earlier repair put zeros in their place)"
            )
        elif status == "healable":
            state.healable += 1
            findings.warn(
                f"archive {entry.name}: {path}: its lost chunks are back; "
                "'hutch check --repair' heals the file"
            )
    state.lost_parts = scan.lost_parts
    if scan.lost_parts:
        findings.found(
            f"archive {entry.name}: {scan.lost_parts} of {scan.total_parts} pieces of its file "
            f"list are damaged or missing ({scan.first_error}); the files listed there are lost"
        )
    return state


class _ZeroChunks:
    """Zero-filled chunks of given sizes, stored once each."""

    def __init__(self, writer: RepoWriter):
        self.writer = writer
        self.compressor = parse_spec("lz4")
        self._ids: dict[int, bytes] = {}

    def chunk(self, size: int) -> bytes:
        chunk_id = self._ids.get(size)
        if chunk_id is None:
            data = bytes(size)
            chunk_id = self._ids[size] = self.writer.repo.key.chunk_id(data)
            if not self.writer.has(chunk_id):
                blob = self.writer.cipher.seal(
                    ObjectKind.CHUNK, chunk_id, self.compressor.compress(data)
                )
                self.writer.add(chunk_id, blob)
        return chunk_id


def _patch_item(item: dict, present, zeros: _ZeroChunks) -> str:
    """Make an item refer only to chunks that exist; returns its status."""
    status, _ = _item_state(item, present)
    if status == "ok":
        return status
    original = item.get("chunks_healthy") or item["chunks"]
    if status == "healable":
        item["chunks"] = original
        del item["chunks_healthy"]
        return status
    item["chunks_healthy"] = original
    item["chunks"] = [
        [bytes(c), size] if present(bytes(c)) else [zeros.chunk(size), size] for c, size in original
    ]
    return status


def _repair_archive(
    repo: Repository,
    reader: ChunkReader,
    archives: ArchiveList,
    entry: ArchiveEntry,
    present,
    findings: Findings,
) -> None:
    writer = RepoWriter(repo)
    try:
        stream = ItemStreamWriter(writer, parse_spec("lz4"))
        zeros = _ZeroChunks(writer)
        damaged, healed = [], 0
        scan = ItemScan(reader, entry)
        for item in scan:
            status = _patch_item(item, present, zeros)
            if status in ("damaged", "patched"):
                damaged.append(os.fsdecode(item["path"]))
            healed += status == "healable"
            stream.add(item)
        items = stream.finish()
        writer.flush()
    finally:
        writer.close()
    fields = entry.to_dict()
    fields.update(
        items=items,
        refs=stream.refs,
        comment=_note(entry.comment, damaged, scan.lost_parts),
        repaired=_repair_record(entry.repaired, len(damaged), scan.lost_parts),
    )
    repaired = ArchiveEntry(**fields)
    archives.delete(entry)  # soft: the original stays until compact
    archives.add(repaired, arrival=entry.arrival)  # it keeps its place in time
    parts = []
    if damaged:
        parts.append(f"{len(damaged)} damaged file(s) now hold zeros where data was lost")
    if healed:
        parts.append(f"{healed} file(s) healed")
    if scan.lost_parts:
        parts.append("the files of the lost part of its file list are gone")
    findings.fixed(
        f"archive {entry.name}: rewritten ({'; '.join(parts)}); the old version stays in "
        "deleted/ until the next compact"
    )


def _repair_record(before: dict, damaged: int, lost_parts: int) -> dict:
    """What the archive has lost so far: parts of its file list stay lost
    (their files are gone for good); damaged files may heal."""
    lost = _count(before, "lost_parts") + lost_parts
    if not lost and not damaged:
        return {}
    return {"date": datetime.date.today().isoformat(), "lost_parts": lost, "damaged_files": damaged}


def _count(record: dict, key: str) -> int:
    value = record.get(key, 0)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def repair_note(entry: ArchiveEntry) -> str | None:
    """What an earlier check --repair lost of this archive, for everything
    that reads it; None for an archive that was never damaged."""
    record = entry.repaired if isinstance(entry.repaired, dict) else {}
    lost, damaged = _count(record, "lost_parts"), _count(record, "damaged_files")
    if not lost and not damaged:
        return None
    parts = []
    if lost:
        parts.append(f"{lost} piece(s) of its file list were lost, with the files listed in them")
    if damaged:
        parts.append(f"{damaged} file(s) hold zeros where their data was lost")
    return (
        f"archive {entry.name} is incomplete: 'hutch check --repair' repaired it on "
        f"{record.get('date', 'an unknown day')}; {'; '.join(parts)}"
    )


def _note(comment: str, damaged: list[str], lost_parts: int) -> str:
    if not damaged and not lost_parts:
        return comment
    day = datetime.date.today().isoformat()
    text = f"[repaired by hutch check on {day}:"
    if damaged:
        names = ", ".join(damaged[:NOTE_NAMES]) + (", ..." if len(damaged) > NOTE_NAMES else "")
        text += f" {len(damaged)} damaged file(s) with zeros in place of lost data: {names}"
    if lost_parts:
        text += f"{';' if damaged else ''} {lost_parts} piece(s) of the file list lost"
    text += "]"
    return f"{comment}\n{text}" if comment else text
