"""`hutch repo-delete`: delete a whole repository, after confirmation."""

import os
import shutil
import sys

from ...errors import Cancelled
from ...repo import kdfhints
from ...repo.access import require_delete_permission
from ...repo.destroy import delete_all_objects
from ...repo.lock import Lock
from ...repo.repository import read_config
from ..args import add_command, add_location, resolve
from ..context import Context
from ..output import format_size, logger

HELP = """Delete the repository REPO with all its archives and data.

Asks to type YES unless HUTCH_DELETE_I_KNOW_WHAT_I_AM_DOING=YES is set or
--force is given. Needs permission to delete (a server with permissions
other than 'all' refuses). The local cache of the repository goes too; a
key file stays where it is."""

CONFIRM_VAR = "HUTCH_DELETE_I_KNOW_WHAT_I_AM_DOING"


def register(sub, common):
    p = add_command(sub, common, "repo-delete", HELP)
    add_location(p, "none")
    p.add_argument("--force", action="store_true", help="do not ask for confirmation")
    p.add_argument("-n", "--dry-run", action="store_true", help="only say what would be deleted")
    p.set_defaults(func=run)


def _confirm(location: str, archives: int, size: int) -> None:
    sys.stderr.write(
        f"You requested to DELETE the repository {location} completely, with its "
        f"{archives} archive(s) and {format_size(size)} of packs.\n"
        "Type 'YES' if you understand this and want to continue: "
    )
    sys.stderr.flush()
    answer = sys.stdin.readline().strip() if sys.stdin else ""
    if answer != "YES":
        raise Cancelled("Aborted: the repository was not deleted")


def run(args) -> int:
    location, _ = resolve(args)
    ctx = Context(args)
    with ctx.store(location) as store:
        config = read_config(store)
        require_delete_permission(store, "repo-delete")
        archives = len(store.list("archives"))
        size = sum(info.size for info in store.list("packs"))
        if args.dry_run:
            logger.warning(f"Would delete the repository {location} with {archives} archive(s)")
            return 0
        if not args.force and os.environ.get(CONFIRM_VAR) != "YES":
            _confirm(location, archives, size)
        with Lock(store, exclusive=True, wait=args.lock_wait) as lock:
            delete_all_objects(store, keep=(lock.name,))
        store.destroy()
    for folder in (ctx.dirs.cache, ctx.dirs.security):
        shutil.rmtree(os.path.join(folder, config.repo_id.hex()), ignore_errors=True)
    hints, where = ctx.key_salt_hints(location)
    if where:
        kdfhints.forget(hints, where)
    logger.info(f"repository {location} deleted")
    return 0
