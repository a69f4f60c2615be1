"""`hutch delete`: remove archives from the repository's listings.

The space comes back with `hutch compact`, which removes chunks no archive
references any more."""

from ...repo.archives import ArchiveList
from ..args import add_command, add_location, resolve_archive
from ..context import Context
from ..output import logger

HELP = """Delete the archive REPO::ARCHIVE (or several: REPO::A B C).

The archive disappears from listings at once; its space is freed by
'hutch compact'."""


def register(sub, common):
    p = add_command(sub, common, "delete", HELP)
    add_location(p, "required")
    p.add_argument("more", metavar="ARCHIVE", nargs="*", help="further archives to delete")
    p.add_argument("-n", "--dry-run", action="store_true", help="only say what would be deleted")
    p.add_argument("--list", action="store_true", help="list each deleted archive")
    p.set_defaults(func=run)


def run(args) -> int:
    location, name = resolve_archive(args)
    with Context(args).repository(location, lock="shared", reads_only=args.dry_run) as repo:
        archives = ArchiveList(repo, logger.warning)
        plan = [archives.get(n) for n in [name, *args.more]]
        for entry in plan:
            if args.list or args.dry_run:
                logger.warning(
                    f"{'Would delete' if args.dry_run else 'Deleting'} archive: {entry.name}"
                )
            if not args.dry_run:
                archives.delete(entry)
    return 0
