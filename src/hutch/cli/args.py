"""Argument helpers shared by the commands."""

import argparse

from ..archive.check import repair_note
from ..archive.patterns import PatternMatcher
from ..archive.report import Reporter
from ..errors import EXIT_ERROR, EXIT_OK, EXIT_WARNING, UsageError
from . import location
from .output import logger


def add_command(sub, common, name: str, help: str, aliases=()) -> argparse.ArgumentParser:
    return sub.add_parser(
        name,
        parents=[common],
        help=_summary(help),
        description=help,
        aliases=list(aliases),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def _summary(text: str) -> str:
    """The first sentence of a command's help, for the list of commands."""
    first = text.split("\n\n")[0].replace("\n", " ")
    return first.split(". ")[0].rstrip(".") + "."


def add_location(parser: argparse.ArgumentParser, archive: str) -> None:
    """archive: "required", "optional" or "none"."""
    parser.set_defaults(archive_mode=archive)
    parser.add_argument("-r", "--repo", metavar="REPO", help="repository (or set HUTCH_REPO)")
    metavar = {"required": "REPO::ARCHIVE", "optional": "REPO[::ARCHIVE]", "none": "REPO"}[archive]
    parser.add_argument(
        "location",
        metavar=metavar,
        nargs="?",
        help="repository and archive; with --repo, just the archive name",
    )


def resolve(args, expand: bool = False) -> tuple[str, str | None]:
    repo, name = location.resolve(args.location, args.repo, args.archive_mode)
    if name is not None and expand:
        name = location.expand_placeholders(name)
    return repo, name


def add_patterns(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("include and exclude patterns (see borg help patterns)")
    g.add_argument(
        "-e",
        "--exclude",
        metavar="PATTERN",
        dest="patterns",
        action="append",
        type=lambda s: ("exclude", s),
        help="exclude paths matching PATTERN",
    )
    g.add_argument(
        "--exclude-from",
        metavar="FILE",
        dest="patterns",
        action="append",
        type=lambda s: ("exclude_from", s),
        help="read exclude patterns from FILE",
    )
    g.add_argument(
        "--pattern",
        metavar="PATTERN",
        dest="patterns",
        action="append",
        type=lambda s: ("pattern", s),
        help="include/exclude paths matching PATTERN (+, -, ! or R line)",
    )
    g.add_argument(
        "--patterns-from",
        metavar="FILE",
        dest="patterns",
        action="append",
        type=lambda s: ("patterns_from", s),
        help="read include/exclude patterns from FILE",
    )


def build_matcher(args, fallback: bool = True, includes=()) -> PatternMatcher:
    matcher = PatternMatcher(fallback=fallback)
    for kind, value in getattr(args, "patterns", None) or []:
        if kind == "exclude":
            matcher.add_exclude(value)
        elif kind == "pattern":
            matcher.add_pattern_line(value)
        else:
            try:
                with open(value, encoding="utf-8", errors="surrogateescape") as f:
                    lines = f.read().splitlines()
            except OSError as e:
                raise UsageError(f"cannot read pattern file {value}: {e.strerror}") from None
            if kind == "exclude_from":
                matcher.load_exclude_file(lines)
            else:
                matcher.load_patterns_file(lines)
    for path in includes:
        matcher.add_include(path)
    return matcher


def report_damaged_archives(archives) -> int:
    """Name the archive entries the last listing could not read; the exit code."""
    for name in archives.damaged:
        logger.error(f"archive entry {name} is damaged and cannot be read; it was left out")
    return EXIT_ERROR if archives.damaged else EXIT_OK


def report_repaired(entries, warn=None) -> int:
    """Say what an earlier repair lost of these archives (through `warn`,
    default the log); the exit code: a warning if anything was lost."""
    rc = EXIT_OK
    for entry in entries:
        if note := repair_note(entry):
            (warn or logger.warning)(note)
            rc = EXIT_WARNING
    return rc


def format_line(fmt: str, fields: dict) -> str:
    """One --format line; UsageError naming the keys if the format is wrong."""
    try:
        return fmt.format(**fields)
    except (KeyError, ValueError, IndexError, AttributeError) as e:
        known = " ".join("{" + k + "}" for k in fields)
        raise UsageError(f"invalid --format {fmt!r} ({e}); known keys: {known}") from None


def path_matcher(args) -> PatternMatcher:
    """For commands that read an archive: PATH arguments (archive paths, a
    leading slash allowed) select those paths and what is below them, and
    patterns narrow the selection further; no PATH selects everything."""
    includes = [p.strip("/") for p in args.paths]
    return build_matcher(args, fallback=not includes, includes=includes)


def exit_code(reporter: Reporter) -> int:
    if reporter.errors:
        return EXIT_ERROR
    return EXIT_WARNING if reporter.warnings else EXIT_OK
