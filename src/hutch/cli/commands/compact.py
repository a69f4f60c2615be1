"""`hutch compact`: free the space of data that no archive uses any more."""

import dataclasses
import json

from ...archive.references import plan_compaction
from ...errors import UsageError
from ...repo.access import require_delete_permission
from ...repo.compact import DEFAULT_THRESHOLD, CompactPlan, execute_compact
from ..args import add_command, add_location, resolve
from ..context import Context
from ..output import finish_progress_line, format_size, logger, repository_json, show_step

HELP = """Free the space of deleted and pruned archives in REPO.

Marks every chunk that an archive uses and sweeps the packs: packs that
hold nothing in use are deleted, packs whose unused share is above
--threshold are rewritten. Archives deleted before are removed for good
(no undelete after compact).

Compact waits for running backups (it needs the repository to itself) and
is safe to interrupt at any moment: the next compact finishes the job."""


def register(sub, common):
    p = add_command(sub, common, "compact", HELP)
    add_location(p, "none")
    p.add_argument(
        "--threshold",
        metavar="PERCENT",
        type=float,
        default=DEFAULT_THRESHOLD,
        help=f"rewrite packs with more than PERCENT unused (default: {DEFAULT_THRESHOLD:g})",
    )
    p.add_argument("-n", "--dry-run", action="store_true", help="only show what would be done")
    p.add_argument("--json", action="store_true", help="print the plan and the result as JSON")
    p.set_defaults(func=run)


def describe(plan: CompactPlan) -> list[str]:
    lines = []
    if plan.deleted_archives:
        lines.append(f"remove {len(plan.deleted_archives)} deleted archive(s) for good")
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


def plan_json(plan: CompactPlan) -> dict:
    return {
        "deleted_archives": len(plan.deleted_archives),
        "drop_packs": len(plan.drop),
        "drop_bytes": plan.drop_bytes,
        "rewrite_packs": [
            {"pack": r.pack, "size": r.size, "unused_share": r.unused_share} for r in plan.rewrite
        ],
        "rewrite_index": plan.rewrite_index,
        "untouched_packs": plan.untouched,
        "live_chunks": plan.live_chunks,
        "missing_chunks": plan.missing_chunks,
        "freed_estimate": plan.freed_estimate,
    }


def run(args) -> int:
    location, _ = resolve(args)
    if not 0 <= args.threshold <= 100:
        raise UsageError("--threshold is a percentage between 0 and 100")

    def step(text: str) -> None:
        if args.progress:
            show_step(text)
        else:
            logger.info(text)

    with Context(args).repository(location, lock="exclusive") as repo:
        if not args.dry_run:
            require_delete_permission(repo.store, "compact")
        plan = plan_compaction(
            repo, args.threshold, on_archive=lambda e: step(f"reading archive {e.name}")
        )
        finish_progress_line()
        if plan.missing_chunks:
            logger.warning(
                f"{plan.missing_chunks} chunk(s) that archives use are missing from every pack; "
                "'hutch check' tells which files they damage"
            )
        doc = {**repository_json(repo), "compact": {"dry_run": args.dry_run}}
        doc["compact"]["plan"] = plan_json(plan)
        if args.dry_run:
            if args.json:
                print(json.dumps(doc, indent=2))
                return 0
            lines = describe(plan)
            for line in lines:
                logger.warning(f"Would {line}")
            if not lines:
                logger.warning("Nothing to do")
            logger.warning(f"Would free about {format_size(plan.freed_estimate)}")
            return 0
        result = execute_compact(repo, plan, on_step=step)
        finish_progress_line()
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
