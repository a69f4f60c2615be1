"""`hutch prune`: soft-delete the archives a retention policy does not keep."""

import datetime
import json
import time

from ...errors import UsageError
from ...repo.access import require_delete_permission
from ...repo.archives import ArchiveList
from ...repo.prune import (
    PERIODS,
    RetentionPolicy,
    arrival_moment,
    claimed_moment,
    execute_prune,
    parse_interval,
    plan_prune,
)
from ...repo.selection import archive_matcher
from ..args import add_command, add_location, report_damaged_archives, resolve
from ..context import Context
from ..output import logger, repository_json

HELP = """Delete the archives of REPO that the --keep-* rules do not keep.

The rules apply in this order: --keep-within, --keep-last, then
--keep-secondly, -minutely, -hourly, -daily, -weekly, -monthly, -yearly.
Archives are taken newest first. A period rule with N keeps the newest
archive of each of the N latest periods that have archives; an archive kept
by an earlier rule uses up its period without counting. If a rule finds
fewer than N periods, it keeps the oldest archive as well (rule[oldest]).
Periods are in this machine's local time; weeks are ISO weeks.

Archives are placed in time by when they arrived in the repository, on the
clock of the process that stored them (hutch serve, or the local hutch):
a client cannot push good archives out of the policy by claiming times.
--by-archive-time uses the times the archives claim instead (their
creators' clocks or --timestamp); use it only where every client that
writes to the repository is trusted.

N is a count; -1 means unlimited (every period, or every archive for
--keep-last).

INTERVAL for --keep-within: a number and a unit: S (seconds), M (minutes),
H (hours), d (days), w (weeks), m (months of 31 days), y (years of 365 days).

Pruning is a soft delete: 'hutch undelete' brings archives back until
'hutch compact' frees their space."""

_SHORT = {"hourly": "-H", "daily": "-d", "weekly": "-w", "monthly": "-m", "yearly": "-y"}


def register(sub, common):
    p = add_command(sub, common, "prune", HELP)
    add_location(p, "none")
    p.add_argument(
        "--json", action="store_true", help="with --list: each archive and its fate as JSON"
    )
    p.add_argument(
        "-a",
        "--match-archives",
        metavar="PATTERN",
        action="append",
        help="only consider archives matching PATTERN: sh:GLOB, re:REGEX or an exact name "
        "(repeat: all must match)",
    )
    p.add_argument(
        "--by-archive-time",
        action="store_true",
        help="place archives by the time they claim, not by when they arrived",
    )
    add_rule_options(p)
    p.set_defaults(func=run)


def add_rule_options(p) -> None:
    """The --keep-* rules (prune, repo-prune) and --dry-run, --list."""
    p.add_argument("-n", "--dry-run", action="store_true", help="only show what would be pruned")
    p.add_argument("--list", action="store_true", help="list each archive and what happens to it")
    p.add_argument(
        "--keep-within", metavar="INTERVAL", help="keep all archives younger than INTERVAL"
    )
    p.add_argument("--keep-last", metavar="N", type=int, default=0, help="keep the N newest")
    for rule, _ in PERIODS:
        flags = [f"--keep-{rule}"] + ([_SHORT[rule]] if rule in _SHORT else [])
        p.add_argument(
            *flags,
            dest=f"keep_{rule}",
            metavar="N",
            type=int,
            default=0,
            help=f"number of {rule} archives to keep",
        )


def policy_from_args(args) -> RetentionPolicy:
    counts = {rule: getattr(args, f"keep_{rule}") for rule, _ in PERIODS}
    counts["last"] = args.keep_last
    for rule, n in counts.items():
        if n < -1:
            raise UsageError(f"--keep-{rule} must be a count, or -1 for unlimited")
    within = parse_interval(args.keep_within) if args.keep_within else None
    return RetentionPolicy(within=within, **counts)


def format_archive(entry, moment: datetime.datetime | None = None) -> str:
    """As borg shows an archive: name, local time, id. `moment`: the time
    that counted (arrival), else the time the archive claims."""
    try:
        moment = moment or datetime.datetime.fromisoformat(entry.time)
        when = moment.astimezone().strftime("%a, %Y-%m-%d %H:%M:%S")
    except (TypeError, ValueError):
        when = entry.time
    return f"{entry.name:<36} {when} [{entry.id.hex()}]"


def decision_line(decision, number: int, total: int, dry_run: bool) -> str:
    """What prune --list says of an archive, before the archive itself."""
    if decision.keep:
        message = f"Keeping archive (rule: {decision.reason()}):"
    elif dry_run:
        message = "Would prune:"
    else:
        message = f"Pruning archive ({number}/{total}):"
    return f"{message:<40}"


def carry_out(plan, archives, tell, dry_run: bool) -> None:
    """Execute the plan (archives.delete each pruned one), or with dry_run
    only tell of each decision."""
    if dry_run:
        for decision in plan.decisions:
            tell(decision, 0, len(plan.prune))
    else:
        execute_prune(archives, plan, tell)


def run(args) -> int:
    location, _ = resolve(args)
    policy = policy_from_args(args)
    select = archive_matcher(args.match_archives)
    with Context(args).repository(location, lock="shared", reads_only=args.dry_run) as repo:
        # A client that may not delete learns that first, whatever it asked.
        if not args.dry_run:
            require_delete_permission(repo.store, "prune")
        if policy.is_empty():
            raise UsageError(
                "prune needs at least one rule: --keep-within, --keep-last or a --keep-PERIOD"
            )
        archives = ArchiveList(repo, logger.warning)
        entries = [e for e in archives.list() if select(e.name)]
        now = datetime.datetime.fromtimestamp(time.time()).astimezone()
        moment = claimed_moment if args.by_archive_time else arrival_moment
        plan = plan_prune(entries, policy, now, moment=moment)
        show = args.list or args.dry_run
        listed: list[dict] = []

        def tell(decision, number, total):
            if args.json:
                listed.append(decision_json(decision, args.dry_run))
            elif show:
                shown = format_archive(decision.archive, decision.moment)
                logger.warning(f"{decision_line(decision, number, total, args.dry_run)} {shown}")

        carry_out(plan, archives, tell, args.dry_run)
        if args.json:
            doc = {**repository_json(repo), "dry_run": args.dry_run, "archives": listed}
            print(json.dumps(doc, indent=2))
        return report_damaged_archives(archives)


def decision_json(decision, dry_run: bool) -> dict:
    entry = decision.archive
    kept = decision.keep
    return {
        "name": entry.name,
        "id": entry.id.hex(),
        "time": entry.time,
        "moment": decision.moment.isoformat() if decision.moment else None,
        "action": "keep" if kept else ("would prune" if dry_run else "prune"),
        "rule": decision.reason() if kept else None,
    }
