"""`hutch extract`: restore an archive, or part of it, into the current folder."""

import sys

from ...archive.extract import ExtractOptions, Extractor
from ...repo.archives import ArchiveList
from ..allocator import keep_freed
from ..args import (
    add_command,
    add_location,
    add_patterns,
    exit_code,
    path_matcher,
    report_repaired,
    resolve_archive,
)
from ..context import Context
from ..output import TextReporter, logger

HELP = """Restore the archive REPO::ARCHIVE into the current folder.

PATHs (archive paths, without a leading slash) restrict the restore to those
paths and what is below them; patterns narrow it further. Without
--numeric-ids, stored user and group names are mapped to this system's ids
(falling back to the stored numbers)."""


def register(sub, common):
    p = add_command(sub, common, "extract", HELP)
    add_location(p, "required")
    p.add_argument("paths", metavar="PATH", nargs="*", help="paths to restore")
    p.add_argument(
        "-n", "--dry-run", action="store_true", help="read and verify everything, write nothing"
    )
    p.add_argument("--list", action="store_true", help="list each restored path")
    p.add_argument(
        "--numeric-ids", action="store_true", help="restore the stored numeric ids, not names"
    )
    p.add_argument("--sparse", action="store_true", help="restore runs of zeros as holes")
    p.add_argument(
        "--strip-components",
        type=int,
        default=0,
        metavar="N",
        help="remove N leading path elements",
    )
    p.add_argument("--stdout", action="store_true", help="write file contents to stdout")
    add_patterns(p)
    p.set_defaults(func=run)


def run(args) -> int:
    location, name = resolve_archive(args)
    reporter = TextReporter(list_files=args.list, progress=args.progress)
    options = ExtractOptions(
        numeric_ids=args.numeric_ids,
        sparse=args.sparse,
        strip_components=args.strip_components,
        dry_run=args.dry_run,
        stdout=sys.stdout.buffer if args.stdout else None,
    )
    keep_freed()
    ctx = Context(args)
    with ctx.repository(location, lock="shared", reads_only=True) as repo:
        entry = ArchiveList(repo, logger.warning).get(name)
        matcher = path_matcher(args)
        report_repaired([entry], reporter.warning)
        Extractor(repo, options, reporter).run(entry, matcher)
        if options.stdout is not None:
            options.stdout.flush()
    return exit_code(reporter)
