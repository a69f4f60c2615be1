"""`hutch compact`: free the space of data that no archive uses any more."""

from ...archive.references import plan_compaction
from ...errors import UsageError
from ...repo.access import require_delete_permission
from ...repo.compact import DEFAULT_THRESHOLD, CompactPlan, execute_compact
from ...repo.keyless import execute_keyless_compact, plan_keyless_compact
from ...repo.leftovers import LEFTOVER_AGE, remove_stale, stale
from ...repo.leftovers import describe as describe_leftovers
from ..args import add_command, add_location, resolve
from ..context import Context
from ..output import format_size, logger

HELP = """Free the space of deleted and pruned archives in REPO.

Without the key (no passphrase is asked for or read): from what the
archives publish (the chunk ids they reference) and the id list of each
pack, deletes the packs that hold nothing in use, the reference lists no
archive uses, and the archives deleted before (no undelete after compact).
Run it on the backup server, e.g. after 'hutch repo-prune'.

With --rewrite (needs the key): marks every chunk the archives use by
reading them, deletes packs that hold nothing in use and rewrites packs
whose unused share is above --threshold, keeping of a chunk stored twice
the copy that checks out against its id; the index is rewritten too.

Temporary files that interrupted writes left behind (a backup killed during
an upload) are removed once nobody has written to them for {age}.

Compact waits for running backups (it needs the repository to itself) and
is safe to interrupt at any moment: the next compact finishes the job."""


def register(sub, common):
    p = add_command(sub, common, "compact", HELP.format(age=f"{LEFTOVER_AGE / 3600:g} hour(s)"))
    add_location(p, "none")
    p.add_argument(
        "--rewrite",
        action="store_true",
        help="with the key: also rewrite packs that are partly unused, and the index",
    )
    p.add_argument(
        "--threshold",
        metavar="PERCENT",
        type=float,
        help="with --rewrite (implied): rewrite packs with more than PERCENT unused "
        f"(default: {DEFAULT_THRESHOLD:g})",
    )
    p.add_argument("-n", "--dry-run", action="store_true", help="only show what would be done")
    p.set_defaults(func=run)


def run_keyless(args, location: str) -> int:
    with Context(args).keyless(location, lock="exclusive", reads_only=args.dry_run) as store:
        if not args.dry_run:
            require_delete_permission(store, "compact")
        plan = plan_keyless_compact(store, on_step=logger.info)
        lines = []
        if plan.deleted_archives:
            lines.append(f"remove {len(plan.deleted_archives)} deleted archive(s) for good")
        if plan.drop:
            lines.append(
                f"delete {len(plan.drop)} pack(s) that hold nothing in use "
                f"({format_size(plan.drop_bytes)})"
            )
        if plan.refs:
            lines.append(f"delete {len(plan.refs)} reference list(s) no archive uses")
        for pack, why in sorted(plan.unreadable.items()):
            lines.append(f"leave pack {pack[:16]} alone: its id list cannot be read ({why})")
        if args.dry_run:
            if leftovers := stale(store):
                lines.append(f"remove {describe_leftovers(leftovers)}")
            for line in lines or ["do nothing"]:
                logger.warning(f"Would {line}")
        else:
            execute_keyless_compact(store, plan)
            if removed := remove_stale(store):
                logger.warning(f"Removed {describe_leftovers(removed)}")
            logger.warning(
                f"Compaction freed {format_size(plan.drop_bytes)}: deleted {len(plan.drop)} "
                f"pack(s), removed {len(plan.deleted_archives)} deleted archive(s)"
            )
        if plan.partial:
            logger.warning(
                f"{len(plan.partial)} pack(s) ({format_size(sum(plan.partial.values()))}) are "
                "partly unused; 'hutch compact --rewrite' (with the key) rewrites them"
            )
    return 0


def describe(plan: CompactPlan) -> list[str]:
    lines = []
    if plan.deleted_archives:
        lines.append(f"remove {len(plan.deleted_archives)} deleted archive(s) for good")
    if plan.refs:
        lines.append(f"delete {len(plan.refs)} reference list(s) no archive uses")
    if plan.drop:
        lines.append(
            f"delete {len(plan.drop)} pack(s) that hold nothing in use "
            f"({format_size(plan.drop_bytes)})"
        )
    for rewrite in plan.rewrite:
        lines.append(
            f"rewrite pack {rewrite.pack[:16]} ({format_size(rewrite.size)}, "
            f"{rewrite.unused_share:.0%} unused)"
        )
    if plan.rewrite_index:
        lines.append(f"replace {len(plan.old_segments)} index segment(s) with a merged index")
    for pack, why in sorted(plan.untouched.items()):
        lines.append(f"leave pack {pack[:16]} alone: it cannot be read ({why})")
    return lines


def run(args) -> int:
    location, _ = resolve(args)
    if args.threshold is None and not args.rewrite:
        return run_keyless(args, location)
    threshold = DEFAULT_THRESHOLD if args.threshold is None else args.threshold
    if not 0 <= threshold <= 100:
        raise UsageError("--threshold is a percentage between 0 and 100")
    with Context(args).repository(location, lock="exclusive", reads_only=args.dry_run) as repo:
        if not args.dry_run:
            require_delete_permission(repo.store, "compact")
        plan = plan_compaction(repo, threshold)
        if plan.missing_chunks:
            logger.warning(
                f"{plan.missing_chunks} chunk(s) that archives use are missing from every pack; "
                "'hutch check' tells which files they damage"
            )
        if args.dry_run:
            lines = describe(plan)
            if leftovers := stale(repo.store):
                lines.append(f"remove {describe_leftovers(leftovers)}")
            for line in lines:
                logger.warning(f"Would {line}")
            if not lines:
                logger.warning("Nothing to do")
            logger.warning(f"Would free about {format_size(plan.freed_estimate)}")
            return 0
        result = execute_compact(repo, plan, on_step=logger.info)
        removed = remove_stale(repo.store)
    if removed:
        logger.warning(f"Removed {describe_leftovers(removed)}")
    for warning in result.warnings:
        logger.warning(warning)
    logger.warning(
        f"Compaction freed {format_size(max(result.bytes_freed, 0))}: "
        f"deleted {result.packs_deleted} pack(s) ({result.packs_rewritten} of them rewritten "
        f"into {result.packs_written}), removed {result.archives_removed} deleted archive(s)"
    )
    return 1 if result.warnings or plan.missing_chunks else 0
