"""`hutch check`: verify a repository and its archives, and repair them."""

import json
import time

from ...archive.check import CheckOptions, run_check
from ...errors import ArchiveNotFound, UsageError
from ...repo.access import require_delete_permission
from ...repo.check import Findings
from ...repo.selection import archive_matcher
from ..args import add_command, add_location, resolve
from ..context import Context
from ..output import TextReporter, logger, repository_json

HELP = """Check REPO (or only REPO::ARCHIVE's archive) for damage.

The repository check reads every pack whole: its bytes must hash to its
name, its header must authenticate; index segments must read and agree
with the packs. The archives check reads every archive and its file list
and makes sure every chunk a file needs is there. --verify-data also
decrypts and authenticates every chunk, and names each damaged file as
"archive NAME: PATH: damaged".

--repair rebuilds the index from the packs (keeping what is intact of
damaged packs), and rewrites archives that lost data: a damaged file gets
zeros in place of its lost chunks, and heals if a later backup brings them
back; the archive's comment names the damaged files. The original archive
stays in deleted/ until the next compact.

--max-duration SECONDS (with --repository-only) checks packs for that long
and continues where it stopped the next time.

Exit codes: 0 no problems, 1 repaired or warnings, 2 damage found."""


def register(sub, common):
    p = add_command(sub, common, "check", HELP)
    add_location(p, "optional")
    p.add_argument(
        "--repository-only", action="store_true", help="only check the packs and the index"
    )
    p.add_argument("--archives-only", action="store_true", help="only check the archives")
    p.add_argument(
        "--verify-data", action="store_true", help="decrypt and authenticate every chunk"
    )
    p.add_argument("--repair", action="store_true", help="repair what can be repaired")
    p.add_argument(
        "--max-duration",
        metavar="SECONDS",
        type=float,
        default=0,
        help="partial check: stop after SECONDS, continue there next time",
    )
    p.add_argument(
        "-a",
        "--match-archives",
        metavar="PATTERN",
        action="append",
        help="only check archives matching PATTERN: sh:GLOB, re:REGEX or an exact name",
    )
    p.add_argument("--json", action="store_true", help="print what was found and repaired as JSON")
    p.set_defaults(func=run)


def _validate(args, name) -> None:
    if args.repository_only and args.archives_only:
        raise UsageError("--repository-only and --archives-only exclude each other")
    if args.max_duration < 0:
        raise UsageError("--max-duration must not be negative")
    if args.max_duration:
        if not args.repository_only:
            raise UsageError("--max-duration works with --repository-only only")
        if args.repair or args.verify_data:
            raise UsageError("--max-duration cannot be combined with --repair or --verify-data")
    if args.repository_only and (name or args.match_archives):
        raise UsageError("--repository-only checks no archives; do not name any")


def run(args) -> int:
    location, name = resolve(args)
    _validate(args, name)
    patterns = list(args.match_archives or []) + ([name] if name else [])
    reporter = TextReporter(progress=args.progress)
    findings = Findings(reporter)
    with Context(args).repository(location, lock="exclusive", reads_only=not args.repair) as repo:
        if args.repair:
            require_delete_permission(repo.store, "check --repair")
        deadline = time.monotonic() + args.max_duration if args.max_duration else None
        options = CheckOptions(
            repository=not args.archives_only,
            archives=not args.repository_only,
            verify_data=args.verify_data,
            repair=args.repair,
            select=archive_matcher(patterns),
            deadline=deadline,
        )
        checked = run_check(repo, findings, options)
        reporter.finish_progress()
        if name and not checked and not findings.damage:
            raise ArchiveNotFound(f"archive {name!r} does not exist")
        rc = findings.exit_code(args.repair)
        if args.json:
            doc = {
                **repository_json(repo),
                "check": {
                    "archives_checked": checked,
                    "damage": findings.damage,
                    "warnings": findings.warnings,
                    "repaired": findings.repaired,
                    "unrepaired": findings.unrepaired,
                    "exit_code": rc,
                },
            }
            print(json.dumps(doc, indent=2))
    if rc == 0:
        logger.info("check complete, no problems found")
    else:
        summary = f"check complete: {len(findings.damage)} problem(s) found"
        if findings.repaired:
            summary += f", {len(findings.repaired)} repair(s) made"
        if findings.unrepaired:
            summary += f", {len(findings.unrepaired)} could not be repaired"
        if findings.warnings:
            summary += f", {len(findings.warnings)} warning(s)"
        logger.warning(summary)
    return rc
