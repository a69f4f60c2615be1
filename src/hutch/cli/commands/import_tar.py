"""`hutch import-tar`: make an archive from a tar file, as if its tree had
been backed up with `hutch create`."""

import json
import sys

from ...archive.create import ArchiveCreator, CreateOptions
from ...archive.tar_import import TarImporter, open_input, scan_link_targets
from ...chunker import parse_params
from ...compress import parse_spec
from ..args import add_command, add_location, exit_code, resolve_archive
from ..context import Context
from ..output import TextReporter
from . import create as create_command

HELP = """Make the archive REPO::ARCHIVE from the tar file TARFILE ('-': stdin).

Compression (gzip, bzip2, xz, zstd) is detected from the content;
--tar-filter names a shell command that turns the input into a plain tar
instead, e.g. --tar-filter="gzip -d".

Member names become relative paths (a leading slash or ./ is removed);
members with '..' in their path are skipped with a warning. Modes, owners,
times (with PAX nanoseconds), symlinks, hardlinks, fifos, devices, xattrs
(SCHILY.xattr.*) and ACLs (SCHILY.acl.*) are kept.

A tar file is read twice (the first pass finds hardlink targets); stdin is
read once, which keeps a small record per file in memory."""


def register(sub, common):
    p = add_command(sub, common, "import-tar", HELP)
    add_location(p, "required")
    p.add_argument("tarfile", metavar="TARFILE", help="the tar file to read; - reads stdin")
    p.add_argument(
        "--tar-filter",
        metavar="CMD",
        help="shell command that reads the input on stdin and writes a plain tar",
    )
    create_command.add_archive_options(p)
    p.set_defaults(func=run)


def create_options(args) -> CreateOptions:
    """The CreateOptions of `create` for what import-tar offers. The files
    cache stays off: tar members have no inode or ctime to key it on."""
    location = args.location or ""
    return CreateOptions(
        compression=parse_spec(args.compression),
        chunker_params=parse_params(args.chunker_params),
        files_cache="disabled",
        comment=args.comment,
        timestamp=create_command.parse_timestamp(args.timestamp),
        series=args.series or (location.split("::", 1)[1] if "::" in location else location),
        command_line=sys.argv[:],
    )


def run(args) -> int:
    location, name = resolve_archive(args, expand=True)
    options = create_options(args)
    link_targets = None
    if args.tarfile != "-":
        # Before the repository is opened: a bad tar costs no passphrase prompt.
        with open_input(args.tarfile, args.tar_filter, None) as stream:
            link_targets = scan_link_targets(stream, args.tarfile)
    source = "stdin" if args.tarfile == "-" else args.tarfile
    reporter = TextReporter(list_files=args.list, progress=args.progress)
    ctx = Context(args)
    with (
        ctx.repository(location, lock="shared") as repo,
        open_input(args.tarfile, args.tar_filter, sys.stdin.buffer) as stream,
    ):
        creator = ArchiveCreator(repo, options, reporter)
        entry = TarImporter(creator, link_targets).run(name, stream, source)
        if args.json:
            print(json.dumps(create_command.archive_json(repo, entry), indent=2))
        elif args.stats:
            create_command.print_stats(repo, entry)
    return exit_code(reporter)
