"""Temporary files that interrupted writes left in the store: a backup
killed during an upload leaves its half-written pack (`packs/XX/.tmp-*` in
a local folder), and nothing else would ever remove it. `check` reports
them; `compact` removes those that nobody has written to for LEFTOVER_AGE.

Why that age is safe: a put writes its temporary file from start to end
without pause and renames it at once, so a file untouched for an hour has
no writer left. Writers that hold a lock cannot run next to compact anyway
(it takes the exclusive lock); the age protects those that take none (a
lock being taken, a key import) and a writer that lost its lock while
suspended -- which would fail cleanly rather than lose data if its file
went away, as its put could not complete.
"""

from ..store.base import Leftover, Store

LEFTOVER_AGE = 3600.0  # seconds since the last write


def describe(leftovers: list[Leftover]) -> str:
    total = sum(x.size for x in leftovers)
    oldest = max(x.age for x in leftovers)
    return (
        f"{len(leftovers)} temporary file(s) of interrupted writes ({total / 1e6:.1f} MB, "
        f"the oldest {oldest / 3600:.1f} h old), e.g. {min(x.name for x in leftovers)}"
    )


def stale(store: Store) -> list[Leftover]:
    """The leftovers that compact would remove now."""
    return [x for x in store.leftovers() if x.age >= LEFTOVER_AGE]


def remove_stale(store: Store) -> list[Leftover]:
    """Remove the leftovers older than LEFTOVER_AGE; return those removed."""
    return [x for x in store.leftovers(remove_older_than=LEFTOVER_AGE) if x.removed]
