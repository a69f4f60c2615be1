"""`hutch list`: the archives of a repository, or the files of an archive."""

import json
import os
import stat
import sys
import time

from ...archive.item import item_type
from ...archive.itemstream import iter_items
from ...repo.archives import ArchiveList
from ...repo.reader import ChunkReader
from ..args import (
    add_command,
    add_location,
    add_patterns,
    format_line,
    path_matcher,
    report_damaged_archives,
    report_repaired,
    resolve,
)
from ..context import Context
from ..output import logger, repository_json

HELP = """List the archives of REPO, or the files of REPO::ARCHIVE.

--format keys for archives: {archive} {name} {time} {start} {end} {id}
{hostname} {username} {comment} {NL}; for files: {mode} {type} {user} {group}
{uid} {gid} {size} {mtime} {path} {linktarget} {source} {extra} {NL}."""

ARCHIVE_FORMAT = "{archive:<36} {time} [{id}]{NL}"
FILE_FORMAT = "{mode} {user:6} {group:6} {size:8} {mtime} {path}{extra}{NL}"


def register(sub, common):
    p = add_command(sub, common, "list", HELP)
    add_location(p, "optional")
    p.add_argument("paths", metavar="PATH", nargs="*", help="only list these paths")
    p.add_argument("--short", action="store_true", help="only names / paths")
    p.add_argument("--format", metavar="FORMAT", help="format of each line (see above)")
    p.add_argument("--json", action="store_true", help="archives as one JSON document")
    p.add_argument("--json-lines", action="store_true", help="files as JSON lines")
    add_patterns(p)
    p.set_defaults(func=run)


def _time(ts: str) -> str:
    return ts.replace("T", " ")[:19]


def run(args) -> int:
    location, name = resolve(args)
    ctx = Context(args)
    out = sys.stdout
    with ctx.repository(location, lock="shared", reads_only=True) as repo:
        archives = ArchiveList(repo, logger.warning)
        if name is None:
            entries = archives.list()
            for shared, group in archives.duplicates(entries).items():
                ids = ", ".join(e.id.hex()[:16] for e in group)
                logger.warning(
                    f"archive name {shared!r} is carried by {len(group)} entries ({ids}; "
                    "the first arrived first and is the one the name means); "
                    "'aid:ID' names each"
                )
            if args.json:
                doc = {
                    **repository_json(repo),
                    "archives": [
                        {
                            "name": e.name,
                            "archive": e.name,
                            "id": e.id.hex(),
                            "start": e.time,
                            "time": e.time,
                            "end": e.end,
                            "hostname": e.hostname,
                            "username": e.username,
                            "comment": e.comment,
                        }
                        for e in entries
                    ],
                }
                out.write(json.dumps(doc, indent=2) + "\n")
                return report_damaged_archives(archives)
            fmt = "{archive}{NL}" if args.short else (args.format or ARCHIVE_FORMAT)
            for e in entries:
                fields = {
                    "archive": e.name,
                    "name": e.name,
                    "time": _time(e.time),
                    "start": _time(e.time),
                    "end": _time(e.end),
                    "id": e.id.hex(),
                    "hostname": e.hostname,
                    "username": e.username,
                    "comment": e.comment,
                    "NL": "\n",
                }
                out.write(format_line(fmt, fields))
            return report_damaged_archives(archives)
        entry = archives.get(name)
        matcher = path_matcher(args)
        reader = ChunkReader(repo)
        fmt = "{path}{NL}" if args.short else (args.format or FILE_FORMAT)
        try:
            for item in iter_items(reader, entry):
                if not matcher.empty and not matcher.match(item["path"]):
                    continue
                fields = file_fields(item)
                if args.json_lines:
                    fields.pop("NL")
                    out.write(json.dumps(fields) + "\n")
                else:
                    out.write(format_line(fmt, fields))
        finally:
            reader.close()
    return report_repaired([entry])


def file_fields(item: dict) -> dict:
    mode = item["mode"]
    target = os.fsdecode(item.get("target", b""))
    extra = f" -> {target}" if target else ""
    return {
        "type": item_type(item),
        "mode": stat.filemode(mode),
        "user": item.get("user") or str(item.get("uid", "")),
        "group": item.get("group") or str(item.get("gid", "")),
        "uid": item.get("uid"),
        "gid": item.get("gid"),
        "size": item.get("size", 0),
        "mtime": time.strftime("%a, %Y-%m-%d %H:%M:%S", time.localtime(item["mtime"] / 1e9)),
        "path": os.fsdecode(item["path"]),
        "linktarget": target,
        "source": target,
        "extra": extra,
        "NL": "\n",
    }
