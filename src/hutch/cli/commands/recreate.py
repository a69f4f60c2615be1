"""`hutch recreate`: rewrite archives without excluded paths, or with their
chunks compressed anew."""

import json

from ...archive.recreate import (
    TEMPORARY_SUFFIX,
    RecreateOptions,
    RecreatePlan,
    execute_recreate,
    plan_recreate,
)
from ...compress import parse_spec
from ...errors import UsageError
from ...repo.access import require_delete_permission
from ...repo.archives import ArchiveList
from ...repo.selection import archive_matcher
from ..args import add_command, add_location, add_patterns, path_matcher, resolve
from ..context import Context
from ..output import (
    TextReporter,
    finish_progress_line,
    format_size,
    logger,
    printable,
    repository_json,
    show_percent,
)

HELP = """Rewrite REPO::ARCHIVE (or every archive of REPO, or those -a selects)
without the paths that patterns exclude, and with their chunks compressed
anew (-C).

PATHs (archive paths) keep only those paths and what is below them;
--exclude, --pattern and the other pattern options drop what they exclude,
as extract and list select. --comment sets a new comment.

-C SPEC with --recompress (the default once -C is given: if-different)
stores every chunk of the selected archives that is compressed with another
algorithm anew with SPEC; --recompress always does so for every chunk. A
chunk is shared by every archive that holds the same data, so the new copy
serves them all; the old copies are removed at once.

A rewritten archive keeps its name, comment, times and its place in time
(prune goes by when an archive arrived in the repository; a recreated
archive keeps the original's arrival). The original version is
soft-deleted: 'hutch undelete' brings it back until 'hutch compact'. With
--target NAME the new version is a new archive NAME and the original
stays.

-n/--dry-run shows the plan and changes nothing; --list names each path
that is dropped. Recreate needs the repository to itself (it waits for
running backups) and permissions to delete."""


def register(sub, common) -> None:
    p = add_command(sub, common, "recreate", HELP)
    add_location(p, "optional")
    p.add_argument(
        "paths", metavar="PATH", nargs="*", help="keep only these paths"
    ).complete_as = "file"  # type: ignore[attr-defined]
    p.add_argument("-n", "--dry-run", action="store_true", help="only show what would be done")
    p.add_argument("--list", action="store_true", help="name each path that is dropped")
    p.add_argument("--json", action="store_true", help="print the plan (and result) as JSON")
    p.add_argument(
        "-a",
        "--match-archives",
        metavar="PATTERN",
        action="append",
        help="only archives matching PATTERN: sh:GLOB, re:REGEX or an exact name",
    )
    p.add_argument(
        "-C", "--compression", metavar="COMPRESSION", help="compression for what is written anew"
    )
    p.add_argument(
        "--recompress",
        metavar="MODE",
        nargs="?",
        const="if-different",
        choices=["if-different", "always", "never"],
        help="store chunks anew with -C: if-different (default with -C), always, never",
    )
    p.add_argument("--comment", help="a new comment for the archives")
    p.add_argument(
        "--target", metavar="NAME", help="write the new version as archive NAME; keep the original"
    )
    add_patterns(p)
    p.set_defaults(func=run)


def options_from_args(args) -> RecreateOptions:
    recompress = args.recompress or ("if-different" if args.compression else "never")
    if recompress != "never" and not args.compression:
        raise UsageError("--recompress needs -C/--compression: what to compress with")
    options = RecreateOptions(
        matcher=path_matcher(args),
        compressor=parse_spec(args.compression) if args.compression else None,
        recompress=recompress,
        comment=args.comment,
        target=args.target,
    )
    if options.matcher.empty and recompress == "never" and args.comment is None:
        if args.target is None:
            raise UsageError(
                "recreate needs something to do: PATHs or patterns (--exclude, ...), "
                "-C with --recompress, --comment or --target"
            )
    return options


def describe(plan: RecreatePlan, spec: str | None) -> list[str]:
    lines = []
    for change in plan.changed:
        what = []
        if change.dropped:
            what.append(
                f"drop {len(change.dropped)} path(s), {change.dropped_files} file(s) "
                f"({format_size(change.dropped_size)})"
            )
        if plan.options.comment is not None and plan.options.comment != change.entry.comment:
            what.append("set its comment")
        target = f" as {printable(plan.options.target)}" if plan.options.target else ""
        lines.append(
            f"rewrite archive {printable(change.entry.name)}{target}: "
            + ("; ".join(what) or "copy it")
        )
    chunks = plan.chunks()
    if chunks and plan.options.recompress == "always":
        lines.append(f"store all {len(chunks)} chunk(s) of these archives anew with {spec}")
    elif chunks:
        lines.append(
            f"look at {len(chunks)} chunk(s) of these archives and store those compressed "
            f"with another algorithm anew with {spec}"
        )
    return lines


def plan_json(plan: RecreatePlan) -> list[dict]:
    return [
        {
            "name": c.entry.name,
            "id": c.entry.id.hex(),
            "rewrite": c.rewrites(plan.options),
            "dropped": [p.decode("utf-8", "surrogateescape") for p in c.dropped],
            "dropped_files": c.dropped_files,
            "dropped_size": c.dropped_size,
            "kept_items": c.kept,
        }
        for c in plan.archives
    ]


def run(args) -> int:
    location, name = resolve(args)
    options = options_from_args(args)
    if args.target and name is None:
        raise UsageError("--target names one new archive: give REPO::ARCHIVE")
    select = archive_matcher(args.match_archives)
    reporter = TextReporter(list_files=args.list, progress=args.progress)
    with Context(args).repository(location, lock="exclusive") as repo:
        if not args.dry_run:
            require_delete_permission(repo.store, "recreate")
        archives = ArchiveList(repo, logger.warning)
        if name is not None:
            entries = [archives.get(name)]
        else:
            entries = [
                e for e in archives.list() if select(e.name) and TEMPORARY_SUFFIX not in e.name
            ]
        plan = plan_recreate(repo, entries, options)
        doc = {**repository_json(repo), "dry_run": args.dry_run, "archives": plan_json(plan)}
        if args.dry_run:
            if args.json:
                print(json.dumps(doc, indent=2))
                return 0
            for change in plan.changed:
                for path in change.dropped:
                    reporter.file_status("x", path)
            lines = describe(plan, args.compression)
            for line in lines:
                logger.warning(f"Would {line}")
            if not lines:
                logger.warning("Nothing to do")
            return 0

        def step(done: int, total: int, what: str) -> None:
            if args.progress:
                show_percent(done, total, what)

        result = execute_recreate(repo, plan, reporter, on_step=step)
        finish_progress_line()
    recompressed = result.recompress
    warnings = recompressed.compact.warnings if recompressed is not None else []
    for warning in warnings:
        logger.warning(warning)
    rc = 1 if warnings else 0
    if args.json:
        doc["rewritten"] = result.rewritten
        if recompressed is not None:
            doc["recompressed"] = {
                "chunks_checked": recompressed.checked,
                "chunks_recompressed": recompressed.recompressed,
                "bytes_before": recompressed.bytes_before,
                "bytes_after": recompressed.bytes_after,
            }
        print(json.dumps(doc, indent=2))
        return rc
    logger.info(f"rewrote {len(result.rewritten)} archive(s)")
    if recompressed is not None:
        logger.info(
            f"stored {recompressed.recompressed} of {recompressed.checked} chunk(s) anew: "
            f"{format_size(recompressed.bytes_before)} -> {format_size(recompressed.bytes_after)}"
        )
    return rc
