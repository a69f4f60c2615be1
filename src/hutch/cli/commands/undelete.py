"""`hutch undelete`: bring back soft-deleted archives (deleted or pruned)
that compact has not removed yet."""

from ...errors import EXIT_OK, EXIT_WARNING, ArchiveExists, ArchiveNotFound
from ...repo.access import require_delete_permission
from ...repo.archives import ArchiveList
from ...repo.selection import archive_matcher
from ..args import add_command, add_location, resolve
from ..context import Context
from ..output import logger
from .prune import format_archive

HELP = """Bring back archives that 'hutch delete' or 'hutch prune' removed.

REPO::ARCHIVE [ARCHIVE...] names them; -a PATTERN chooses them by pattern;
REPO alone brings back every deleted archive. Only possible until 'hutch
compact' runs: compact removes deleted archives for good. With --dry-run
(and --list) this lists the deleted archives."""


def register(sub, common):
    p = add_command(sub, common, "undelete", HELP)
    add_location(p, "optional")
    p.add_argument("more", metavar="ARCHIVE", nargs="*", help="further archives to bring back")
    p.add_argument("-n", "--dry-run", action="store_true", help="only show what would come back")
    p.add_argument("--list", action="store_true", help="list each archive brought back")
    p.add_argument(
        "-a",
        "--match-archives",
        metavar="PATTERN",
        action="append",
        help="only archives matching PATTERN: sh:GLOB, re:REGEX or an exact name",
    )
    p.set_defaults(func=run)


def run(args) -> int:
    location, name = resolve(args)
    names = [name, *args.more] if name else list(args.more)
    select = archive_matcher(args.match_archives)
    rc = EXIT_OK
    with Context(args).repository(location, lock="shared") as repo:
        if not args.dry_run:
            require_delete_permission(repo.store, "undelete")
        archives = ArchiveList(repo, logger.warning)
        deleted = [e for e in archives.list_deleted() if select(e.name)]
        for damaged in archives.damaged:
            logger.warning(f"deleted archive entry {damaged} is damaged and cannot come back")
            rc = EXIT_WARNING
        if names:
            known = {e.name for e in deleted}
            for missing in [n for n in names if n not in known]:
                raise ArchiveNotFound(
                    f"no deleted archive {missing!r} (compact may have removed it already)"
                )
            deleted = [e for e in deleted if e.name in names]
        # Newest first: of several deleted archives of one name, the newest comes back.
        plan = list(reversed(deleted))
        for entry in plan:
            if args.dry_run:
                logger.warning(f"{'Would undelete:':<40} {format_archive(entry)}")
                continue
            try:
                archives.undelete(entry)
            except ArchiveExists as e:
                logger.warning(str(e))
                rc = EXIT_WARNING
                continue
            if args.list:
                logger.warning(f"{'Undeleted archive:':<40} {format_archive(entry)}")
    return rc
