"""`hutch export-tar`: write an archive, or part of it, as a tar file."""

import sys

from ...archive.tar_export import FORMATS, TarExporter, TarExportOptions, open_output
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

HELP = """Write the archive REPO::ARCHIVE as a tar file FILE ('-': stdout).

FILE's suffix picks the compression: .tar.gz or .tgz (gzip), .tar.bz2
(bzip2), .tar.xz (xz), .tar.zst (zstd), anything else none. --tar-filter
pipes the tar through a shell command instead, e.g. --tar-filter="gzip -9".

The PAX format (default) keeps nanosecond times, any file name, xattrs and
ACLs; GNU tar restores them with `tar -xpf FILE --xattrs --xattrs-include='*'
--acls`, bsdtar with `bsdtar -xpf FILE`. The GNU format keeps neither
xattrs, ACLs nor sub-second times.

PATHs (archive paths, without a leading slash) restrict the export to
those paths and what is below them; patterns narrow it further."""


def register(sub, common):
    p = add_command(sub, common, "export-tar", HELP)
    add_location(p, "required")
    p.add_argument("file", metavar="FILE", help="the tar file to write; - writes to stdout")
    p.add_argument("paths", metavar="PATH", nargs="*", help="paths to export")
    p.add_argument(
        "--tar-filter",
        metavar="CMD",
        help="shell command the tar stream is piped through (its stdout goes to FILE)",
    )
    p.add_argument(
        "--tar-format",
        default="PAX",
        type=str.upper,
        choices=sorted(FORMATS),
        help="PAX (default) or GNU",
    )
    p.add_argument(
        "--strip-components",
        type=int,
        default=0,
        metavar="N",
        help="remove N leading path elements",
    )
    p.add_argument("--list", action="store_true", help="list each exported path")
    add_patterns(p)
    p.set_defaults(func=run)


def run(args) -> int:
    location, name = resolve_archive(args)
    reporter = TextReporter(list_files=args.list, progress=args.progress)
    options = TarExportOptions(tar_format=args.tar_format, strip_components=args.strip_components)
    keep_freed()
    ctx = Context(args)
    with ctx.repository(location, lock="shared", reads_only=True) as repo:
        entry = ArchiveList(repo, logger.warning).get(name)
        matcher = path_matcher(args)
        report_repaired([entry], reporter.warning)
        exporter = TarExporter(repo, options, reporter)
        # Opened only now: a missing archive must not leave an empty FILE behind.
        with open_output(args.file, args.tar_filter, sys.stdout.buffer) as out:
            exporter.run(entry, matcher, out)
    return exit_code(reporter)
