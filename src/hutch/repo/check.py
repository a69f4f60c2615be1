"""Checking the repository layer -- packs and index -- and repairing it.

What is checked (check --repository-only):
- every index segment reads and authenticates; no segment lists a pack
  that is gone, and what a segment lists for a pack is what the pack's
  header says;
- every pack is read whole: its bytes hash to its name (any flipped or
  missing byte shows, without decrypting anything), its header parses and
  authenticates, every entry lies within the pack; with verify_data, every
  object in it authenticates (this also catches a server that replaced a
  pack together with its name);
- temporary files that interrupted writes left behind are reported (a
  warning once they are old enough for compact to remove).
A pack found damaged has each of its objects authenticated, so that check
knows exactly which chunks are lost. A chunk stored in several packs has
every copy read and checked against its id (even without verify_data): a
client holding the key can plant garbage under a real id, and the copy
that fails is reported (and removed by repair).

With a deadline (--max-duration), the pack scan stops when time is up and
the next check continues after the last pack checked; the position is kept
in the cache folder.

Repair rebuilds the index from the packs: the intact objects of damaged
packs are copied into new packs, new segments list every good pack, and
then the old segments and the damaged packs are deleted -- in that order,
so that a crash in between leaves a repository that reads.

The core never prints: findings go to a reporter (anything with error,
warning and info methods) and are kept in `Findings` for the exit code.
"""

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

import blake3

from ..errors import EXIT_ERROR, EXIT_OK, EXIT_WARNING, IntegrityError, ObjectNotFound, StoreError
from .cache import CacheDir
from .index import ChunkIndex
from .keyless import removed_by_compact
from .leftovers import LEFTOVER_AGE, describe
from .pack import parse_tail
from .packcopy import PackCopier
from .packtable import PackTable, scan_pack_table, write_segments
from .repository import Repository
from .verify import object_is_intact

READ_AHEAD = 3  # packs read and verified in parallel
POSITION = "check-position"  # in the cache: where a partial pack scan continues


class FindingsReporter(Protocol):
    """Where findings go as they are found (a `step` method, where there
    is one, hears of the progress too)."""

    def error(self, message: str) -> None: ...

    def warning(self, message: str) -> None: ...

    def info(self, message: str) -> None: ...


@dataclass
class Findings:
    """What a check found and what its repair did."""

    reporter: FindingsReporter | None = None
    damage: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)
    unrepaired: list[str] = field(default_factory=list)

    def found(self, message: str) -> None:
        self.damage.append(message)
        if self.reporter is not None:
            self.reporter.error(message)

    def warn(self, message: str) -> None:
        self.warnings.append(message)
        if self.reporter is not None:
            self.reporter.warning(message)

    def fixed(self, message: str) -> None:
        self.repaired.append(message)
        if self.reporter is not None:
            self.reporter.warning(message)

    def cannot_fix(self, message: str) -> None:
        self.unrepaired.append(message)
        if self.reporter is not None:
            self.reporter.error(message)

    def note(self, message: str) -> None:
        if self.reporter is not None:
            self.reporter.info(message)

    def step(self, current: int, total: int, what: str) -> None:
        if self.reporter is not None and hasattr(self.reporter, "step"):
            self.reporter.step(current, total, what)

    def exit_code(self, repair: bool) -> int:
        """0 healthy; 1 repaired or warnings; 2 damage found (and not repaired)."""
        if self.unrepaired or (self.damage and not repair):
            return EXIT_ERROR
        if self.damage or self.repaired or self.warnings:
            return EXIT_WARNING
        return EXIT_OK


@dataclass
class PackState:
    size: int
    entries: list | None  # what it holds: from its header, else from a segment
    header_ok: bool = True
    intact: bool = True  # its bytes hash to its name
    bad: set = field(default_factory=set)  # ids of objects that fail authentication

    @property
    def damaged(self) -> bool:
        return not (self.intact and self.header_ok and not self.bad)


@dataclass
class RepositoryScan:
    table: PackTable
    packs: dict[str, PackState] = field(default_factory=dict)  # the packs read this run
    wrong_segments: set[str] = field(default_factory=set)
    complete: bool = True

    def needs_repair(self) -> bool:
        return bool(
            self.table.bad_segments
            or self.wrong_segments
            or any(s.damaged for s in self.packs.values())
        )

    def index(self) -> ChunkIndex:
        """An index of the intact objects only: what a check of the archives trusts."""
        index = ChunkIndex()
        for pack in sorted(self.packs):
            state = self.packs[pack]
            if state.entries:
                index.add_pack(pack, [e for e in state.entries if e[0] not in state.bad])
        return index


def check_repository(
    repo: Repository,
    findings: Findings,
    verify_data: bool = False,
    deadline: float | None = None,
) -> RepositoryScan:
    """Check segments and packs; `deadline` (time.monotonic) ends the pack
    scan early, to continue after that pack next time (the position is kept
    in the repository's cache folder)."""
    table = scan_pack_table(repo.store, repo.cipher, headers="none")
    scan = RepositoryScan(table)
    for segment, why in table.bad_segments.items():
        findings.found(f"index segment {segment}: {why}")
    for pack, segments in sorted(table.missing.items()):
        removed = removed_by_compact(repo.store, f"packs/{pack}")
        for segment in segments:
            scan.wrong_segments.add(segment)
            if removed is None:
                findings.found(f"index segment {segment} lists pack {pack}, which is missing")
            else:
                findings.note(
                    f"index segment {segment} lists pack {pack[:16]}, which compact removed "
                    "(nothing used it); 'hutch compact --rewrite' tidies the index"
                )
    names = sorted(table.sizes)
    start = _read_position(repo.cache) if deadline is not None else None
    todo = [n for n in names if start is None or n > start]
    if start is not None:
        findings.note(f"continuing the pack check after pack {start[:16]}")
    last = None
    done = 0
    queue = iter(todo)
    exhausted = stopped = False
    with ThreadPoolExecutor(max_workers=READ_AHEAD) as pool:
        pending: list = []
        while True:
            while not (stopped or exhausted) and len(pending) < READ_AHEAD:
                upcoming = next(queue, None)
                if upcoming is None:
                    exhausted = True
                    break
                pending.append(
                    (upcoming, pool.submit(_examine, repo, upcoming, table, verify_data))
                )
            if not pending:
                break
            pack, future = pending.pop(0)
            state, messages, wrong = future.result()
            if state is not None:
                scan.packs[pack] = state
            for message in messages:
                findings.found(message)
            scan.wrong_segments |= wrong
            last = pack
            done += 1
            findings.step(done, len(todo), "checking packs")
            stopped = stopped or (deadline is not None and time.monotonic() > deadline)
    scan.complete = exhausted or next(queue, None) is None
    if scan.complete:
        _check_copies(repo, scan, findings, verify_data)
        repo.cache.remove(POSITION)
    else:
        repo.cache.write(POSITION, f"{last}\n".encode())
        findings.note(
            f"checked {len(scan.packs)} of {len(names)} packs before --max-duration ran out; "
            "the next check continues from there"
        )
    for pack in table.unlisted():
        if pack in scan.packs:
            findings.note(f"pack {pack[:16]} is in no index segment (an interrupted writer's)")
    _report_leftovers(repo, findings)
    return scan


def _report_leftovers(repo: Repository, findings: Findings) -> None:
    found = repo.store.leftovers()
    old = [x for x in found if x.age >= LEFTOVER_AGE]
    if old:
        findings.warn(f"{describe(old)}: 'hutch compact' removes them")
    if len(found) > len(old):
        findings.note(f"{describe([x for x in found if x not in old])}: writes under way?")


def _check_copies(repo: Repository, scan: RepositoryScan, findings: Findings, verified: bool):
    """Check every copy of chunks stored in more than one pack (verified:
    every object was checked already; only report)."""
    copies: dict[bytes, list] = {}
    for pack, state in scan.packs.items():
        for chunk_id, offset, length in state.entries or ():
            copies.setdefault(chunk_id, []).append((pack, offset, length))
    for chunk_id, locs in sorted(copies.items()):
        if len({loc[0] for loc in locs}) < 2:
            continue
        bad = []
        for pack, offset, length in locs:
            state = scan.packs[pack]
            if not verified and chunk_id not in state.bad:
                try:
                    blob = repo.store.get(f"packs/{pack}", offset, length)
                except StoreError:
                    continue
                if len(blob) != length or not object_is_intact(repo, chunk_id, blob):
                    state.bad.add(chunk_id)
            if chunk_id in state.bad:
                bad.append(pack)
        good = sorted({loc[0] for loc in locs} - set(bad))
        for pack in bad:
            findings.found(
                f"pack {pack}: its copy of chunk {chunk_id.hex()[:16]} does not match the "
                "chunk's id (planted by a client holding the key, or damaged); "
                + (f"pack {good[0]} holds an intact copy" if good else "no intact copy exists")
            )


def _examine(repo: Repository, pack: str, table: PackTable, verify_data: bool):
    """Read one pack whole and judge it: (state or None if gone, messages,
    segments found wrong)."""
    messages: list[str] = []
    wrong: set[str] = set()
    try:
        data = repo.store.get(f"packs/{pack}")
    except ObjectNotFound:
        return None, messages, wrong
    except StoreError as e:
        return None, [f"pack {pack}: cannot be read: {e}"], wrong
    state = PackState(len(data), None)
    state.intact = blake3.blake3(data).hexdigest() == pack
    header = None
    try:
        header = parse_tail(data, len(data), repo.cipher)
    except IntegrityError as e:
        state.header_ok = False
        why = f"its header cannot be read ({e})"
    for segment in table.listed_by.get(pack, []):
        listed = table.segments[segment][pack]
        if header is not None and sorted(listed) != sorted(header):
            messages.append(f"index segment {segment} disagrees with the header of pack {pack}")
            wrong.add(segment)
        elif any(o + n > len(data) for _, o, n in listed):
            messages.append(f"index segment {segment} points outside of pack {pack}")
            wrong.add(segment)
    state.entries = header if header is not None else table.entries.get(pack)
    if not state.intact:
        messages.append(f"pack {pack}: its content does not match its name (damaged or truncated)")
    if not state.header_ok:
        if state.entries is None:
            messages.append(
                f"pack {pack}: {why}; no index segment lists what it holds, so its chunks are lost"
            )
        else:
            messages.append(f"pack {pack}: {why}")
    if state.entries and (verify_data or state.damaged):
        for obj_id, offset, length in state.entries:
            blob = data[offset : offset + length]
            if len(blob) != length or not object_is_intact(repo, obj_id, blob):
                state.bad.add(obj_id)
        if state.bad:
            messages.append(
                f"pack {pack}: {len(state.bad)} of {len(state.entries)} objects are damaged"
            )
    return state, messages, wrong


def repair_repository(repo: Repository, scan: RepositoryScan, findings: Findings) -> ChunkIndex:
    """Rebuild the index from the packs (salvaging damaged packs); return
    the new index (intact objects only)."""
    if not scan.complete:
        raise IntegrityError("repair needs a complete check of all packs")
    if not scan.needs_repair():
        return scan.index()
    store = repo.store
    states = scan.packs
    if states and not any(s.header_ok for s in states.values()):
        findings.cannot_fix(
            "no pack header authenticates with this key: is this the right key? "
            "nothing was repaired"
        )
        return scan.index()
    damaged = sorted(p for p, s in states.items() if s.damaged)
    copier = PackCopier(repo)
    for pack in damaged:
        _salvage(repo, pack, states[pack], copier, findings)
    copier.finish()
    listing = {p: s.entries for p, s in states.items() if not s.damaged and s.entries}
    listing.update(copier.written)
    old_segments = scan.table.all_segments
    new_segments = write_segments(store, repo.cipher, listing)
    for segment in old_segments:
        _delete(store, segment)
    for pack in damaged:
        _delete(store, f"packs/{pack}")
    findings.fixed(
        f"index rebuilt from the pack headers: {len(old_segments)} index segment(s) "
        f"replaced by {len(new_segments)}"
    )
    index = ChunkIndex()
    for pack in sorted(listing):
        index.add_pack(pack, listing[pack])
    return index


def _salvage(
    repo: Repository, pack: str, state: PackState, copier: PackCopier, findings: Findings
) -> None:
    if not state.entries:
        findings.fixed(f"pack {pack}: removed; nothing in it can be read")
        return
    try:
        data = repo.store.get(f"packs/{pack}")
    except ObjectNotFound:
        return
    kept = 0
    for obj_id, offset, length in state.entries:
        if obj_id in state.bad:
            continue
        blob = data[offset : offset + length]
        if len(blob) == length and object_is_intact(repo, obj_id, blob):
            copier.add(obj_id, blob)
            kept += 1
    lost = len(state.entries) - kept
    findings.fixed(
        f"pack {pack}: {kept} intact object(s) moved to a new pack, {lost} lost; "
        "the damaged pack was removed"
    )


def _delete(store, name: str) -> None:
    try:
        store.delete(name)
    except ObjectNotFound:
        pass


def _read_position(cache: CacheDir) -> str | None:
    data = cache.read(POSITION)
    return data.decode(errors="replace").strip() or None if data else None
