"""`hutch compact`: free the space of data that no archive uses any more."""

import dataclasses
import json

from ...archive.references import plan_compaction
from ...errors import UsageError
from ...repo.access import require_delete_permission
from ...repo.compact import DEFAULT_THRESHOLD, CompactPlan, execute_compact
from ...repo.keyless import KeylessPlan, execute_keyless_compact, plan_keyless_compact
from ...repo.leftovers import LEFTOVER_AGE, remove_stale, stale
from ...repo.leftovers import describe as describe_leftovers
from ..args import add_command, add_location, resolve
from ..context import Context
from ..output import finish_progress_line, format_size, logger, repository_json, show_step

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
    p.add_argument("--json", action="store_true", help="print the plan and the result as JSON")
    p.set_defaults(func=run)


def _stepper(args):
    """Where compact's steps go: the progress line with --progress, else the log."""

    def step(text: str) -> None:
        if args.progress:
            show_step(text)
        else:
            logger.info(text)

    return step


def run_keyless(args, location: str) -> int:
    with Context(args).keyless(location, lock="exclusive", reads_only=args.dry_run) as store:
        if not args.dry_run:
            require_delete_permission(store, "compact")
        plan = plan_keyless_compact(store, on_step=_stepper(args))
        finish_progress_line()
        doc = {
            "repository": {"location": store.location},
            "compact": {"dry_run": args.dry_run, "keyless": True, "plan": keyless_json(plan)},
        }
        lines = removals(plan)
        for pack, why in sorted(plan.unreadable.items()):
            lines.append(f"leave pack {pack[:16]} alone: its id list cannot be read ({why})")
        if args.dry_run and (leftovers := stale(store)):
            lines.append(f"remove {describe_leftovers(leftovers)}")
        if args.dry_run and not args.json:
            for line in lines or ["do nothing"]:
                logger.warning(f"Would {line}")
        elif not args.dry_run:
            execute_keyless_compact(store, plan)
            removed = remove_stale(store)
            if removed and not args.json:
                logger.warning(f"Removed {describe_leftovers(removed)}")
            doc["compact"]["result"] = {
                "packs_deleted": len(plan.drop),
                "bytes_freed": plan.drop_bytes,
                "archives_removed": len(plan.deleted_archives),
                "reference_lists_removed": len(plan.refs),
                "leftovers_removed": len(removed),
            }
            if not args.json:
                logger.warning(
                    f"Compaction freed {format_size(plan.drop_bytes)}: deleted {len(plan.drop)} "
                    f"pack(s), removed {len(plan.deleted_archives)} deleted archive(s)"
                )
        if args.json:
            print(json.dumps(doc, indent=2))
        if plan.partial:
            logger.warning(
                f"{len(plan.partial)} pack(s) ({format_size(sum(plan.partial.values()))}) are "
                "partly unused; 'hutch compact --rewrite' (with the key) rewrites them"
            )
    return 0


def removals_json(plan: CompactPlan | KeylessPlan) -> dict:
    """What both plans remove whole: deleted archives, unused packs and reference lists."""
    return {
        "deleted_archives": len(plan.deleted_archives),
        "drop_packs": len(plan.drop),
        "drop_bytes": plan.drop_bytes,
        "unused_reference_lists": len(plan.refs),
    }


def keyless_json(plan: KeylessPlan) -> dict:
    return {
        **removals_json(plan),
        "partly_unused_packs": len(plan.partial),
        "unreadable_packs": plan.unreadable,
        "live_chunks": plan.live_chunks,
    }


def plan_json(plan: CompactPlan) -> dict:
    return {
        **removals_json(plan),
        "rewrite_packs": [
            {"pack": r.pack, "size": r.size, "unused_share": r.unused_share} for r in plan.rewrite
        ],
        "rewrite_index": plan.rewrite_index,
        "untouched_packs": plan.untouched,
        "live_chunks": plan.live_chunks,
        "missing_chunks": plan.missing_chunks,
        "freed_estimate": plan.freed_estimate,
    }


def removals(plan: CompactPlan | KeylessPlan) -> list[str]:
    """The plan's whole removals, as lines of the dry run."""
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
    return lines


def describe(plan: CompactPlan) -> list[str]:
    lines = removals(plan)
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
    step = _stepper(args)
    with Context(args).repository(location, lock="exclusive", reads_only=args.dry_run) as repo:
        if not args.dry_run:
            require_delete_permission(repo.store, "compact")
        plan = plan_compaction(
            repo, threshold, on_archive=lambda e: step(f"reading archive {e.name}")
        )
        finish_progress_line()
        if plan.missing_chunks:
            logger.warning(
                f"{plan.missing_chunks} chunk(s) that archives use are missing from every pack; "
                "'hutch check' tells which files they damage"
            )
        doc = {**repository_json(repo), "compact": {"dry_run": args.dry_run, "keyless": False}}
        doc["compact"]["plan"] = plan_json(plan)
        if args.dry_run:
            if args.json:
                print(json.dumps(doc, indent=2))
                return 0
            lines = describe(plan)
            if leftovers := stale(repo.store):
                lines.append(f"remove {describe_leftovers(leftovers)}")
            for line in lines:
                logger.warning(f"Would {line}")
            if not lines:
                logger.warning("Nothing to do")
            logger.warning(f"Would free about {format_size(plan.freed_estimate)}")
            return 0
        result = execute_compact(repo, plan, on_step=step)
        finish_progress_line()
        removed = remove_stale(repo.store)
    if removed and not args.json:
        logger.warning(f"Removed {describe_leftovers(removed)}")
    for warning in result.warnings:
        logger.warning(warning)
    if args.json:
        doc["compact"]["result"] = {
            **dataclasses.asdict(result),
            "bytes_freed": max(result.bytes_freed, 0),
        }
        print(json.dumps(doc, indent=2))
    else:
        logger.warning(
            f"Compaction freed {format_size(max(result.bytes_freed, 0))}: deleted "
            f"{result.packs_deleted} pack(s) ({result.packs_rewritten} of them rewritten "
            f"into {result.packs_written}), removed {result.archives_removed} deleted archive(s)"
        )
    return 1 if result.warnings or plan.missing_chunks else 0
