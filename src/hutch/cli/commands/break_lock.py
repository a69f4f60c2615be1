"""`hutch break-lock`: remove every lock, for when a holder is gone for good."""

from ...repo.lock import break_locks
from ...repo.repository import read_config
from ..args import add_command, add_location, resolve
from ..context import Context
from ..output import logger

HELP = """Remove all locks of REPO. Only use it when no hutch process uses the
repository: a lock of a running process is removed as well."""


def register(sub, common):
    p = add_command(sub, common, "break-lock", HELP)
    add_location(p, "none")
    p.set_defaults(func=run)


def run(args) -> int:
    location, _ = resolve(args)
    with Context(args).store(location) as store:
        read_config(store)  # a clear error if this is no repository
        count = break_locks(store)
    logger.info(f"removed {count} lock(s)")
    return 0
