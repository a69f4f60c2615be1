"""`hutch with-lock`: run a command while holding the repository's
exclusive lock (no backup, compact or other hutch command runs meanwhile)."""

import argparse
import subprocess

from ...errors import UsageError
from ...repo.lock import Lock
from ...repo.repository import read_config
from ..args import add_command
from ..context import Context

HELP = """Run COMMAND [ARGS...] holding the exclusive lock of REPO.

Other hutch commands on REPO wait (up to their --lock-wait) until COMMAND
ends; hutch commands run by COMMAND on REPO itself wait too. The exit code
is COMMAND's. Example: hutch with-lock /backup/repo rsync -a /backup/repo/ copy/"""


def register(sub, common):
    p = add_command(sub, common, "with-lock", HELP)
    p.add_argument("-r", "--repo", metavar="REPO", help="repository (else the first word)")
    p.add_argument(
        "words", metavar="REPO COMMAND ARGS", nargs=argparse.REMAINDER, help="what to run"
    )
    p.set_defaults(func=run)


def run(args) -> int:
    words = list(args.words)
    location = args.repo or (words.pop(0) if words else None)
    if not location or not words:
        raise UsageError("usage: hutch with-lock REPO COMMAND [ARGS...]")
    ctx = Context(args)
    with ctx.store(location) as store:
        read_config(store)  # a clear error if this is no repository
        with Lock(store, exclusive=True, wait=args.lock_wait):
            try:
                rc = subprocess.call(words)
            except OSError as e:
                raise UsageError(f"cannot run {words[0]}: {e.strerror}") from None
    return 128 - rc if rc < 0 else rc  # killed by signal N: 128+N, as a shell says
