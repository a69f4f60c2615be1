"""`hutch repo-list`: what arrived in a repository, without the key."""

import datetime
import json
import sys

from ...repo.keyless import published_archives
from ..args import add_command, add_location, resolve
from ..context import Context
from ..output import format_size, logger
from .repo_prune import series_label

HELP = """List what arrived in REPO, without the key: for each archive, when it arrived
(on the clock of the process that stored it), the client that sent it (where
the server stamps names: serve --client), its series (an opaque id), and how
much its backup added. Oldest arrival first.

Names, paths and contents stay sealed; with the key, 'hutch list' shows
archive names."""


def register(sub, common):
    p = add_command(sub, common, "repo-list", HELP)
    add_location(p, "none")
    p.add_argument("--json", action="store_true", help="as one JSON document")
    p.set_defaults(func=run)


def _when(arrived: int | None) -> str | None:
    if arrived is None:
        return None
    return datetime.datetime.fromtimestamp(arrived / 1e9).astimezone().isoformat()


def run(args) -> int:
    location, _ = resolve(args)
    with Context(args).keyless(location, lock="shared") as store:
        archives, damaged = published_archives(store)
    archives.sort(key=lambda a: (a.arrived is None, a.arrived or 0, a.id))
    for name in damaged:
        logger.error(f"archive entry {name} does not parse")
    if args.json:
        rows = [
            {
                "id": a.id.hex(),
                "arrived": _when(a.arrived),
                "client": a.client,
                "series": a.series.hex(),
                "added": a.arrival.added if a.arrival else None,
                "references": len(a.refs),
            }
            for a in archives
        ]
        sys.stdout.write(json.dumps({"archives": rows}, indent=2) + "\n")
        return 2 if damaged else 0
    for a in archives:
        when = (_when(a.arrived) or "arrival unknown")[:19].replace("T", " ")
        added = format_size(a.arrival.added) if a.arrival else "?"
        sys.stdout.write(f"{a.id.hex()[:16]}  {when:<19}  {series_label(a):<30}  {added:>10}\n")
    return 2 if damaged else 0
