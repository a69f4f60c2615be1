"""`hutch create`: back up paths (or stdin) into a new archive."""

import datetime
import json
import os
import sys

from ...archive.create import ArchiveCreator, CreateOptions, local_timestamp
from ...archive.filescache import check_mode as check_files_cache_mode
from ...chunker import parse_params
from ...compress import parse_spec
from ...errors import UsageError
from ..args import (
    add_command,
    add_location,
    add_patterns,
    build_matcher,
    exit_code,
    resolve_archive,
)
from ..context import Context
from ..output import TextReporter, format_size, printable, repository_json

HELP = """Back up PATHs into the archive REPO::ARCHIVE.

Stored paths are relative: a leading slash is removed. PATH '-' reads the
content of one file from stdin (named by --stdin-name).

--list shows a status letter per file: A added, M modified, U unchanged,
C changed while read, E error, d directory, s symlink, h hardlink, f fifo,
c/b devices, x excluded, - dry run."""


def register(sub, common):
    p = add_command(sub, common, "create", HELP)
    add_location(p, "required")
    p.add_argument("paths", metavar="PATH", nargs="*", help="paths to back up").complete_as = "file"  # type: ignore[attr-defined]
    p.add_argument("-n", "--dry-run", action="store_true", help="do not change the repository")
    add_archive_options(p)
    p.add_argument(
        "--files-cache",
        default="ctime,size,inode",
        metavar="MODE",
        help="what tells a file is unchanged: ctime,size,inode (default), "
        "mtime,size,inode, ctime,size, mtime,size, or disabled",
    )
    p.add_argument(
        "-x", "--one-file-system", action="store_true", help="stay in the file system of each PATH"
    )
    p.add_argument(
        "--numeric-ids", action="store_true", help="store only numeric user and group ids"
    )
    p.add_argument(
        "--exclude-caches", action="store_true", help="exclude folders that hold a CACHEDIR.TAG"
    )
    p.add_argument(
        "--exclude-if-present",
        metavar="NAME",
        action="append",
        default=[],
        help="exclude folders that hold a file NAME",
    )
    p.add_argument(
        "--exclude-nodump",
        action="store_true",
        help="exclude files and folders flagged no-dump (chattr +d)",
    )
    p.add_argument(
        "--read-special",
        action="store_true",
        help="back up the content of devices and fifos, not the nodes",
    )
    p.add_argument(
        "--stdin-name",
        default="stdin",
        metavar="NAME",
        help="path of the file read from stdin (default: stdin)",
    )
    add_patterns(p)
    p.set_defaults(func=run)


def add_archive_options(p) -> None:
    """Options of every command that makes an archive (create, import-tar)."""
    p.add_argument("-s", "--stats", action="store_true", help="print statistics at the end")
    p.add_argument("--list", action="store_true", help="list each file with its status")
    p.add_argument("--json", action="store_true", help="print statistics as JSON")
    p.add_argument("--comment", default="", help="a comment stored with the archive")
    p.add_argument(
        "--series",
        metavar="NAME",
        help="the series the archive belongs to, for retention "
        "(default: the archive name as typed, before {placeholders} expand)",
    )
    p.add_argument(
        "--timestamp",
        metavar="TIMESTAMP",
        help="archive time: yyyy-mm-ddThh:mm:ss[+HH:MM], or a file to take its mtime",
    )
    p.add_argument(
        "-C",
        "--compression",
        default="lz4",
        metavar="COMPRESSION",
        help="lz4 (default), zstd[,L], zlib[,L], lzma[,L], none, auto,X",
    )
    p.add_argument(
        "--chunker-params",
        default="default",
        metavar="PARAMS",
        help="default, fastcdc,MIN_EXP,MAX_EXP,AVG_EXP or fixed,SIZE",
    )


def parse_timestamp(value: str | None) -> str | None:
    if value is None:
        return None
    if os.path.exists(value):
        return local_timestamp(os.stat(value).st_mtime)
    try:
        dt = datetime.datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(
            f"invalid --timestamp {value!r}; use yyyy-mm-ddThh:mm:ss[+HH:MM] or a file"
        ) from None
    if dt.tzinfo is None:
        dt = dt.astimezone()
    return dt.strftime("%Y-%m-%dT%H:%M:%S%z")


def run(args) -> int:
    location, name = resolve_archive(args, expand=True)
    options = CreateOptions(
        compression=parse_spec(args.compression),
        chunker_params=parse_params(args.chunker_params),
        files_cache=check_files_cache_mode(args.files_cache),
        one_file_system=args.one_file_system,
        numeric_ids=args.numeric_ids,
        exclude_caches=args.exclude_caches,
        exclude_if_present=[os.fsencode(n) for n in args.exclude_if_present],
        exclude_nodump=args.exclude_nodump,
        read_special=args.read_special,
        dry_run=args.dry_run,
        comment=args.comment,
        timestamp=parse_timestamp(args.timestamp),
        series=args.series
        or (
            args.location if "::" not in (args.location or "") else args.location.split("::", 1)[1]
        ),
        command_line=sys.argv[:],
        stdin_name=args.stdin_name,
    )
    matcher = build_matcher(args)
    paths = [os.fsencode(p) for p in args.paths] + [os.fsencode(r) for r in matcher.roots]
    if not paths:
        raise UsageError(
            "no PATH given: name what to back up, '-' for stdin, "
            "or 'R PATH' roots in --patterns-from"
        )
    reporter = TextReporter(list_files=args.list, progress=args.progress)
    ctx = Context(args)
    with ctx.repository(location, lock="shared") as repo:
        creator = ArchiveCreator(repo, options, reporter)
        if paths == [b"-"]:
            entry = creator.backup_stream(name, sys.stdin.buffer)
        else:
            entry = creator.backup_paths(name, paths, matcher)
        if args.json:
            print(json.dumps(archive_json(repo, entry), indent=2))
        elif args.stats:
            print_stats(repo, entry)
    return exit_code(reporter)


def archive_json(repo, entry) -> dict:
    return {
        **repository_json(repo),
        "archive": {
            "name": entry.name,
            "id": entry.id.hex(),
            "start": entry.time,
            "end": entry.end,
            "stats": entry.stats,
            "comment": entry.comment,
        },
    }


def print_stats(repo, entry) -> None:
    s = entry.stats
    print(f"Repository: {repo.store.location}")
    print(f"Archive name: {printable(entry.name)}")
    print(f"Archive fingerprint: {entry.id.hex()}")
    print(f"Time (start): {entry.time}")
    print(f"Time (end):   {entry.end}")
    print(f"Number of files: {s['nfiles']}")
    print(f"Original size:     {format_size(s['original_size']):>12}")
    print(f"Compressed size:   {format_size(s['compressed_size']):>12}  (new data)")
    print(
        f"Deduplicated size: {format_size(s['deduplicated_size']):>12}  (added to the repository)"
    )
