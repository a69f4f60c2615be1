"""`hutch repo-prune`: retention on the server's clock, without the key."""

import datetime
import time

from ...errors import UsageError
from ...repo.access import require_delete_permission
from ...repo.keyless import published_archives, soft_delete
from ...repo.prune import arrival_moment, plan_prune
from ..args import add_command, add_location, resolve
from ..context import Context
from ..output import logger
from .prune import add_rule_options, carry_out, decision_line, policy_from_args

HELP = """Delete the archives of REPO that the --keep-* rules do not keep, without the key.

Run by the operator of the backup server (no passphrase is asked for or
read). The rules are prune's, in the same order with the same meaning,
applied to each series on its own: the archives of one source (create's
archive name as typed, or --series), and where the server stamps client
names (serve --client), of one client. Archives are placed in time by
when they arrived, on the clock of the process that stored them, in this
machine's local time zone; nothing a client claims counts, so a client
can only ever push out archives of its own series.

Needs permissions 'all'. Pruning is a soft delete: 'hutch undelete' (with
the key) brings archives back until 'hutch compact' frees their space."""


def register(sub, common):
    p = add_command(sub, common, "repo-prune", HELP)
    add_location(p, "none")
    add_rule_options(p)
    p.set_defaults(func=run)


def series_label(archive) -> str:
    client = archive.client or "-"
    return f"{client}/{archive.series.hex()[:8]}"


class _Deleter:
    """What execute_prune needs: delete(archive), here without the key."""

    def __init__(self, store):
        self.store = store

    def delete(self, archive) -> None:
        soft_delete(self.store, archive.id)


def run(args) -> int:
    location, _ = resolve(args)
    policy = policy_from_args(args)
    if policy.is_empty():
        raise UsageError(
            "repo-prune needs at least one rule: --keep-within, --keep-last or a --keep-PERIOD"
        )
    with Context(args).keyless(location, lock="exclusive") as store:
        if not args.dry_run:
            require_delete_permission(store, "repo-prune")
        archives, damaged = published_archives(store)
        for name in damaged:
            logger.error(f"archive entry {name} does not parse; it was left alone")
        groups: dict[tuple, list] = {}
        for archive in archives:
            groups.setdefault((archive.client or "", archive.series), []).append(archive)
        now = datetime.datetime.fromtimestamp(time.time()).astimezone()
        show = args.list or args.dry_run
        for key in sorted(groups):
            plan = plan_prune(groups[key], policy, now, moment=arrival_moment)

            def tell(decision, number, total):
                if not show:
                    return
                archive = decision.archive
                when = (
                    decision.moment.strftime("%a, %Y-%m-%d %H:%M:%S")
                    if decision.moment
                    else "arrival unknown"
                )
                line = decision_line(decision, number, total, args.dry_run)
                logger.warning(f"{line} {series_label(archive):<30} {when} [{archive.name}]")

            carry_out(plan, _Deleter(store), tell, args.dry_run)
    return 2 if damaged else 0
