"""`hutch`: parse the command line, run one command, render errors, exit.

Exit codes: 0 ok, 1 warning, 2 error, 128+N when killed by signal N.
"""

import argparse
import io
import logging
import os
import signal
import sys
import traceback

from .. import __version__, workers
from ..errors import EXIT_ERROR, EXIT_OK, EXIT_WARNING, HutchError, UsageError
from .commands import Commands
from .output import logger, notices, setup_logging

_LEVELS = ("critical", "error", "warning", "info", "debug")


def _add_common(parser: argparse.ArgumentParser, top: bool) -> None:
    """Common options, accepted before and after the command name. The copy
    after the command defaults to SUPPRESS so it never resets the first."""

    def d(value):
        return value if top else argparse.SUPPRESS

    g = parser.add_argument_group("common options")
    for name in _LEVELS:
        flags = [f"--{name}"] + (["-v"] if name == "info" else [])
        g.add_argument(
            *flags,
            dest="log_level",
            action="store_const",
            const=name,
            default=d("warning"),
            help=f"log at level {name}" + (" (also --verbose)" if name == "info" else ""),
        )
    g.add_argument(
        "--verbose",
        dest="log_level",
        action="store_const",
        const="info",
        default=d("warning"),
        help=argparse.SUPPRESS,
    )
    g.add_argument(
        "-p",
        "--progress",
        action="store_true",
        default=d(False),
        help="show a progress line on stderr during long work",
    )
    g.add_argument(
        "--log-json", action="store_true", default=d(False), help="write log messages as JSON lines"
    )
    g.add_argument(
        "--lock-wait",
        metavar="SECONDS",
        type=float,
        default=d(10.0),
        help="wait at most SECONDS for the repository lock (default: 10)",
    )
    g.add_argument(
        "--bypass-lock",
        action="store_true",
        default=d(False),
        help="read without taking the repository lock (commands that only read; "
        "for read-only media, where hutch also does it by itself)",
    )
    g.add_argument(
        "--show-rc", action="store_true", default=d(False), help="log the exit code at the end"
    )
    g.add_argument(
        "--umask",
        metavar="M",
        type=lambda s: int(s, 8),
        default=d(0o077),
        help="umask for files hutch creates (default: 0077)",
    )
    g.add_argument(
        "--rsh",
        metavar="RSH",
        default=d(None),
        help="how to reach a remote server (default: HUTCH_RSH, then ssh)",
    )
    g.add_argument(
        "--remote-path",
        metavar="PATH",
        default=d(None),
        help="hutch on the remote server (default: HUTCH_REMOTE_PATH, then hutch)",
    )
    g.add_argument(
        "--socket",
        metavar="PATH",
        nargs="?",
        const="",
        default=d(None),
        help="unix socket of 'hutch serve --socket' (for socket:// repositories); "
        "with serve: listen there (default: $XDG_RUNTIME_DIR/hutch/hutch.sock)",
    )
    g.add_argument(
        "--threads",
        metavar="N",
        type=workers.parse,
        default=d(None),
        help="use at most N worker threads (default: HUTCH_THREADS, then one per core)",
    )
    g.add_argument(
        "--debug-topic", metavar="TOPIC", action="append", default=d([]), help=argparse.SUPPRESS
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hutch",
        description="Deduplicating, compressing, encrypted backups.",
        epilog="Exit codes: 0 success, 1 warning, 2 error, 128+N killed by signal N.",
    )
    parser.add_argument("-V", "--version", action="version", version=f"hutch {__version__}")
    _add_common(parser, top=True)
    common = argparse.ArgumentParser(add_help=False)
    _add_common(common, top=False)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", action=Commands)
    assert isinstance(commands, Commands)
    commands.common = common
    # For the commands that describe the parser itself (completion).
    parser.set_defaults(root_parser=parser)
    return parser


def run(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(args.log_level, args.log_json)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return EXIT_ERROR
    os.umask(args.umask)
    workers.choose(args.threads if args.threads is not None else workers.from_environment())
    rc = args.func(args) or EXIT_OK
    return EXIT_WARNING if rc == EXIT_OK and notices.count else rc


class _ClosedStream(io.TextIOBase):
    """Stands in for a standard stream that was closed when hutch started:
    using it is a clear error, not an AttributeError on None."""

    def __init__(self, what: str):
        super().__init__()
        self.what = what

    @property
    def buffer(self):
        return self

    def _closed(self, *args, **kwargs):
        raise UsageError(
            f"{self.what} is closed, but this command needs it; "
            f"give hutch a {self.what} (e.g. /dev/null)"
        )

    read = readline = write = fileno = _closed

    def flush(self) -> None:
        pass


def _guard_standard_streams() -> None:
    """Hold closed descriptors 0-2 open on /dev/null, so that no file hutch
    opens (a pack, a lock) becomes its stdout or stdin by accident; a
    command that reads or writes them gets a clear error instead."""
    for fd, name, what in ((0, "stdin", "standard input"), (1, "stdout", "standard output")):
        if not _is_open(fd) or getattr(sys, name) is None:
            if not _is_open(fd):
                os.open(os.devnull, os.O_RDWR)  # the lowest free descriptor: this one
            setattr(sys, name, _ClosedStream(what))
    if not _is_open(2) or sys.stderr is None:
        if not _is_open(2):
            os.open(os.devnull, os.O_RDWR)
        sys.stderr = open(os.devnull, "w")  # nobody to tell: messages go nowhere


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def _on_signal(signum, frame):
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    _guard_standard_streams()
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)
    show_rc = "--show-rc" in argv
    try:
        rc = run(argv)
    except HutchError as e:
        _ensure_logging()
        logger.error(str(e))
        rc = e.exit_code
    except KeyboardInterrupt:
        _ensure_logging()
        logger.error("interrupted")
        rc = 128 + signal.SIGINT
    except BrokenPipeError:
        # The reader of our output went away (e.g. `hutch list | head`).
        sys.stderr.close()
        rc = EXIT_ERROR
    except SystemExit as e:
        rc = e.code if isinstance(e.code, int) else EXIT_ERROR
    except Exception:
        _ensure_logging()
        logger.error("internal error, please report it:")
        for line in traceback.format_exc().splitlines():
            logger.error(line)
        rc = EXIT_ERROR
    if show_rc:
        _ensure_logging()
        level = (
            logging.INFO if rc == 0 else logging.WARNING if rc == EXIT_WARNING else logging.ERROR
        )
        logger.log(max(level, logging.WARNING), f"terminating with {_rc_name(rc)} status, rc {rc}")
    sys.exit(rc)


def _rc_name(rc: int) -> str:
    return {0: "success", 1: "warning", 2: "error"}.get(rc, "signal")


def _ensure_logging() -> None:
    if not logger.handlers:
        setup_logging("warning", False)
