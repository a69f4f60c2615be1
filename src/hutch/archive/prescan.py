"""A helper process for the walk: the per-file work of small files, on a
second core.

A backup of many small files is the interpreter's work per file in one
thread (lstat, open, read, close, the keyed hashes, compressing and
sealing, the files cache and the chunk index, the item's packing), since
the GIL keeps threads from sharing it. The helper is forked once the files
cache is loaded, so it holds the same cache, index, key and patterns
without copying them (pages are shared until written). The walk sends it
the tail of a folder's listing while it works through the head itself, and
takes back, a run of files at a time, the packed items of the files found
unchanged and of the small ones it read, with their chunks sealed; the
walk stores the chunks in its packs (a name the helper leaves is the
walk's, as without a helper). What the helper reads and seals is bounded
per batch (PRESCAN_CONTENT), and it seals under a session of its own
(crypto/objects.py: the cipher starts one in a forked child). If it fails,
the walk does every name itself (archive/forked.py).
"""

from collections import deque
from collections.abc import Callable, Iterator
from itertools import repeat

from .forked import ForkedHelper

# The helper gets a share of every window of a long listing: the walk works
# through the window's head meanwhile, then takes the helper's answers for
# the rest, at a fraction of the cost of doing them: 2.5 against 30 us for
# an unchanged file, 15 against 89 us for a new small one (read, sealed).
# For new files 35 and 40 percent took the same time, 50 took 1.15x.
PRESCAN_FROM = 64  # names left in a folder for a batch to be worth its round trip
PRESCAN_WINDOW = 256
PRESCAN_OWN = 35  # percent of a window the walk does itself
PRESCAN_DEPTH = 2  # batches out at once
PRESCAN_BYTES = 16384  # of names in a batch: what is out stays within a pipe's buffer
# Of the files the helper reads in a batch: their content, sealed, waits in
# the answer until the walk takes it.
PRESCAN_CONTENT = 2 * 1024 * 1024
# A batch takes milliseconds; one that takes this long means the helper is
# stuck (a lock some thread of the parent held when it was forked, a file
# system that hangs): the walk gives up on it and does the names itself.
ANSWER_TIMEOUT = 60.0


Recognise = Callable[[bytes, bytes, int], "tuple | None"]


class PrescanHelper(ForkedHelper):
    """The walk's helper: answers batches of names, in the order submitted,
    with what `recognise(fs_path, path, room)` says of each
    (`ArchiveCreator.recognise`): None, or what the walk would store of
    the file."""

    def __init__(self, recognise: Recognise):
        super().__init__(lambda request: _answer(recognise, *request))

    def submit(self, fs_prefix: bytes, prefix: bytes, names: list[bytes]) -> None:  # type: ignore[override]
        super().submit([fs_prefix, prefix, names])

    def collect(self) -> list | None:  # type: ignore[override]
        return super().collect(ANSWER_TIMEOUT)


def _answer(recognise: Recognise, fs_prefix: bytes, prefix: bytes, names: list[bytes]) -> list:
    """The answer to a batch, in name order: None for a name the walk does
    itself; for a run of files the helper did, one entry [a status letter
    each, their packed items one after the other, bytes, chunk ids, files
    cache entries kept, entries to remember, new chunks]. Files are read
    only while the batch's content stays within PRESCAN_CONTENT."""
    answer: list = []
    run: list | None = None
    room = PRESCAN_CONTENT
    for name in names:
        try:
            found = recognise(fs_prefix + name, prefix + name, room)
        except OSError:  # the walk meets it again and reports it
            found = None
        if found is None:
            answer.append(None)
            run = None
            continue
        status, packed, size, ids, entry, blobs = found
        if run is None:
            run = ["", [], 0, [], [], [], []]
            answer.append(run)
        run[0] += status
        run[1].append(packed)
        run[2] += size
        run[3] += ids
        if status == "U":
            run[4].append(entry)
        else:
            run[5].append(entry)
            run[6] += blobs
            room -= size
    for entry in answer:
        if entry is not None:
            entry[1] = b"".join(entry[1])
    return answer


def prescanned(
    helper: PrescanHelper,
    fs_prefix: bytes,
    prefix: bytes,
    names: list[bytes],
    folders: set[bytes],
) -> Iterator[tuple[bytes, tuple | None]]:
    """The names of a folder in order, each with None (the walk does it)
    or, for the first of a run of unchanged files the helper recognised,
    what `ArchiveCreator.add_recognised` takes for the whole run (the
    others are left out).

    Batches are runs of names that are no folders: the walk descends into
    a folder only while no batch of this one is out, so that the folders
    below can have the helper too. Two batches are out where the run goes
    on, so that the helper does not wait for the walk."""
    count = len(names)
    out: deque[tuple[int, int]] = deque()  # names[start:end] at the helper, in order
    planned = 0  # names before are the walk's or out
    scanned_to = 0  # a run too short to hand over ends here

    def hand_over(at: int) -> None:
        nonlocal planned, scanned_to
        base = max(planned, at)
        while len(out) < PRESCAN_DEPTH and not helper.broken:
            end, size = base, 0
            limit = min(count, base + PRESCAN_WINDOW)
            while end < limit and size < PRESCAN_BYTES and names[end] not in folders:
                size += len(names[end])
                end += 1
            if end - base < PRESCAN_FROM:
                scanned_to = end
                return
            start = base + (end - base) * PRESCAN_OWN // 100
            helper.submit(fs_prefix, prefix, names[start:end])
            out.append((start, end))
            planned = base = end

    i = 0
    try:
        while i < count:
            if i >= scanned_to and len(out) < PRESCAN_DEPTH:
                hand_over(i)
            if out and i == out[0][0]:
                start, end = out.popleft()
                batch = names[start:end]
                answered = _answered(prefix, batch, helper.collect())
                if answered is None:
                    helper.broken = True  # not asked again: the walk does it all
                    answered = list(zip(batch, repeat(None)))
                hand_over(end)  # the helper works on while the walk takes these
                yield from answered
                i = end
                continue
            yield names[i], None
            i += 1
    finally:
        while out:  # the walk left the folder early (an error)
            out.popleft()
            helper.collect()


def _answered(
    prefix: bytes, names: list[bytes], answer: list | None
) -> list[tuple[bytes, tuple | None]] | None:
    """`names` with what the helper's `answer` says of them: None (the walk
    does the name), or for the first name of a run the helper did, what
    `add_recognised` takes for all of the run (the others are left out).
    None if the answer does not fit the names."""
    if answer is None:
        return None
    done: list[tuple[bytes, tuple | None]] = []
    at = 0
    try:
        for entry in answer:
            if entry is None:
                done.append((names[at], None))
                at += 1
                continue
            statuses, packed, size, ids, kept, remembered, blobs = entry
            if not isinstance(statuses, str) or statuses.strip("UAM"):
                return None
            count = len(statuses)
            run = names[at : at + count]
            unchanged = statuses.count("U")
            if count < 1 or len(run) != count or len(kept) != unchanged:
                return None
            if len(remembered) != count - unchanged:
                return None
            paths = [prefix + n for n in run]
            done.append((run[0], (paths, statuses, packed, size, ids, kept, remembered, blobs)))
            at += count
    except (TypeError, ValueError, IndexError, AttributeError):
        return None
    return done if at == len(names) else None
