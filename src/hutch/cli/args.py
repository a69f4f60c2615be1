"""Argument helpers shared by the commands."""

import argparse

from ..archive.patterns import PatternMatcher
from ..archive.report import Reporter
from ..errors import EXIT_ERROR, EXIT_OK, EXIT_WARNING, UsageError
from ..store.arrivals import MAX_CLIENT_NAME
from . import location
from .output import logger, printable


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
    ).complete_as = "directory"  # type: ignore[attr-defined]


def resolve(args, expand: bool = False) -> tuple[str, str | None]:
    repo, name = location.resolve(args.location, args.repo, args.archive_mode)
    if name is not None and expand:
        name = location.expand_placeholders(name)
    return repo, name


def resolve_archive(args, expand: bool = False) -> tuple[str, str]:
    """`resolve` for the commands whose archive is required."""
    repo, name = location.resolve_archive(args.location, args.repo)
    return repo, location.expand_placeholders(name) if expand else name


def add_patterns(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("include and exclude patterns (see: hutch help patterns)")
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
    from ..archive.check import repair_note  # only the commands that list archives

    rc = EXIT_OK
    for entry in entries:
        if note := repair_note(entry):
            (warn or logger.warning)(note)
            rc = EXIT_WARNING
    return rc


def format_line(fmt: str, fields: dict) -> str:
    """One --format line, its fields made printable (the format's own text,
    {NL} included, is the user's); UsageError naming the keys if the format
    is wrong."""
    shown = {k: printable(v) if isinstance(v, str) and k != "NL" else v for k, v in fields.items()}
    try:
        return fmt.format(**shown)
    except (KeyError, ValueError, IndexError, AttributeError) as e:
        known = " ".join("{" + k + "}" for k in fields)
        raise UsageError(f"invalid --format {fmt!r} ({e}); known keys: {known}") from None


def path_matcher(args) -> PatternMatcher:
    """For commands that read an archive: PATH arguments (archive paths, a
    leading slash allowed) select those paths and what is below them, and
    patterns narrow the selection further; no PATH selects everything."""
    includes = [p.strip("/") for p in args.paths]
    return build_matcher(args, fallback=not includes, includes=includes)


def client_name(text: str) -> str:
    """A client's name as the server stamps it on archives and prefixes
    its messages with: printable, no spaces, not an option."""
    if (
        not text
        or len(text) > MAX_CLIENT_NAME
        or text.startswith("-")
        or not all(c.isprintable() and not c.isspace() for c in text)
    ):
        raise argparse.ArgumentTypeError(
            f"invalid client name {text!r}: up to {MAX_CLIENT_NAME} printable characters, "
            "no spaces, not starting with '-'"
        )
    return text


def add_idle_timeout(parser: argparse.ArgumentParser) -> None:
    from ..remote.server import DEFAULT_IDLE_TIMEOUT  # only the servers' parsers

    parser.add_argument(
        "--idle-timeout",
        metavar="SECONDS",
        type=float,
        default=DEFAULT_IDLE_TIMEOUT,
        help="disconnect a client that sends nothing for SECONDS, releasing its locks "
        f"(default: {DEFAULT_IDLE_TIMEOUT:g}; 0: never)",
    )


_SIZE_UNITS = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15}


def parse_size(text: str) -> int:
    """A size as borg takes it: a number with an optional K, M, G, T or P
    (powers of 1000), e.g. 500M, 1.5T."""
    number, unit = text.strip().upper().rstrip("B"), ""
    if number and number[-1] in _SIZE_UNITS:
        number, unit = number[:-1], number[-1]
    try:
        value = float(number) * _SIZE_UNITS[unit]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid size {text!r}: a number with an optional unit K, M, G, T or P (e.g. 500G)"
        ) from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"invalid size {text!r}: it must be more than zero")
    return int(value)


def add_storage_quota(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--storage-quota",
        metavar="QUOTA",
        type=parse_size,
        help="refuse writes that would make the repository larger than QUOTA (e.g. 500G)",
    )


def exit_code(reporter: Reporter) -> int:
    if reporter.errors:
        return EXIT_ERROR
    return EXIT_WARNING if reporter.warnings else EXIT_OK
