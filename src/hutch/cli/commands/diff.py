"""`hutch diff`: what changed between two archives of one repository."""

import json
import os
import sys
import time
from collections.abc import Iterable

from ...archive.diff import DiffOptions, ItemDiff, diff_archives, walk_key
from ...repo.archives import ArchiveList
from ...repo.reader import ChunkReader
from ..args import (
    add_command,
    add_location,
    add_patterns,
    path_matcher,
    report_repaired,
    resolve_archive,
)
from ..context import Context
from ..output import logger, printable

HELP = """Show what changed between REPO::ARCHIVE1 and ARCHIVE2 (both in REPO).

Contents are compared by their chunk ids, without reading data (unless the
two archives were made with other chunker parameters). For each path, one
line lists its changes: `added SIZE`, `removed SIZE`, `modified +ADDED
-REMOVED`, `added directory`, `changed link`, `[OLD_MODE -> NEW_MODE]`,
`[OLD_USER:OLD_GROUP -> NEW_USER:NEW_GROUP]`, `[mtime: OLD -> NEW]`,
`[xattrs: NAMES]`. PATHs (archive paths) and patterns restrict the comparison."""


def register(sub, common):
    p = add_command(sub, common, "diff", HELP)
    add_location(p, "required")
    p.add_argument("archive2", metavar="ARCHIVE2", help="the archive to compare with")
    p.add_argument("paths", metavar="PATH", nargs="*", help="only compare these paths")
    p.add_argument(
        "--content-only",
        action="store_true",
        help="only content changes (ignore mode, owner, mtime and xattrs)",
    )
    p.add_argument(
        "--numeric-ids", action="store_true", help="compare numeric user and group ids, not names"
    )
    p.add_argument("--sort", action="store_true", help="sort the output by path")
    p.add_argument("--json-lines", action="store_true", help="one JSON object per changed path")
    add_patterns(p)
    p.set_defaults(func=run)


def run(args) -> int:
    location, name1 = resolve_archive(args)
    options = DiffOptions(content_only=args.content_only, numeric_ids=args.numeric_ids)
    out = sys.stdout
    ctx = Context(args)
    with ctx.repository(location, lock="shared", reads_only=True) as repo:
        archives = ArchiveList(repo, logger.warning)
        old = archives.get(name1)
        new = archives.get(args.archive2)
        matcher = path_matcher(args)
        reader = ChunkReader(repo)
        try:
            diffs: Iterable[ItemDiff] = diff_archives(reader, old, new, matcher, options)
            if args.sort:
                diffs = sorted(diffs, key=lambda d: walk_key(d.path))
            for diff in diffs:
                out.write(json_line(diff) if args.json_lines else text_line(diff))
        finally:
            reader.close()
    return report_repaired([old, new])


def json_line(diff: ItemDiff) -> str:
    changes = []
    for change in diff.changes:
        change = dict(change)
        for key in ("old_mtime", "new_mtime"):
            if key in change:
                change[key] = _iso(change[key])
        changes.append(change)
    return json.dumps({"path": os.fsdecode(diff.path), "changes": changes}) + "\n"


def text_line(diff: ItemDiff) -> str:
    parts = [_text(change) for change in diff.changes]
    return f"{' '.join(parts):<19} {printable(diff.path)}\n"


def _text(change: dict) -> str:
    kind = change["type"]
    if kind == "added":
        return f"added {format_size(change['size']):>13}"
    if kind == "removed":
        return f"removed {format_size(change['size']):>11}"
    if kind == "modified":
        added = format_size(change["added"], precision=1, sign=True)
        removed = format_size(-change["removed"], precision=1, sign=True)
        return f"modified {added:>9} {removed:>9}"
    if kind == "mode":
        return f"[{change['old_mode']} -> {change['new_mode']}]"
    if kind == "owner":
        old = f"{change['old_user']}:{change['old_group']}"
        return f"[{old} -> {change['new_user']}:{change['new_group']}]"
    if kind == "mtime":
        return f"[mtime: {_local(change['old_mtime'])} -> {_local(change['new_mtime'])}]"
    if kind == "xattrs":
        return f"[xattrs: {', '.join(change['names'])}]"
    return kind  # added directory, changed link, ...


def format_size(n: int, precision: int = 2, sign: bool = False) -> str:
    """Decimal units as borg shows them: 0 B, 300 B, 1.23 kB, +1.2 MB, -300 B."""
    prefix = "+" if sign and n > 0 else ""
    value = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if abs(value) < 1000 or unit == "PB":
            break
        value /= 1000
    if unit == "B":
        return f"{prefix}{n} B"
    return f"{prefix}{value:.{precision}f} {unit}"


def _local(ns: int) -> str:
    return time.strftime("%a, %Y-%m-%d %H:%M:%S", time.localtime(ns / 1e9))


def _iso(ns: int) -> str:
    seconds, rest = divmod(ns, 10**9)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(seconds))
    return f"{stamp}.{rest // 1000:06d}"
