"""`hutch rename`: give an archive a new name."""

from ...repo.archives import ArchiveList
from ..args import add_command, add_location, resolve_archive
from ..context import Context
from ..location import expand_placeholders
from ..output import logger

HELP = "Rename the archive REPO::ARCHIVE to NEWNAME."


def register(sub, common):
    p = add_command(sub, common, "rename", HELP)
    add_location(p, "required")
    p.add_argument("newname", metavar="NEWNAME", help="the new archive name")
    p.set_defaults(func=run)


def run(args) -> int:
    location, name = resolve_archive(args)
    with Context(args).repository(location, lock="exclusive") as repo:
        archives = ArchiveList(repo, logger.warning)
        archives.rename(archives.get(name), expand_placeholders(args.newname))
    return 0
