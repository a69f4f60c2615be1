"""`hutch mount`: an archive, or every archive of a repository, as a
read-only file system (FUSE); in the background unless told otherwise."""

import os
import sys

from ...errors import EXIT_ERROR, HutchError, UsageError
from ...repo.archives import ArchiveList
from ..args import (
    add_command,
    add_location,
    add_patterns,
    path_matcher,
    report_damaged_archives,
    report_repaired,
    resolve,
)
from ..context import Context
from ..output import logger

HELP = """Mount REPO::ARCHIVE (or every archive of REPO, a folder each) at
MOUNTPOINT, read-only, with the files' metadata. Reading a file fetches only
the chunks it needs, also from a remote repository. The repository stays
locked (shared) while mounted. Unmount with 'hutch umount MOUNTPOINT'.

PATHs (archive paths) and patterns restrict what is shown. -o passes FUSE
options (e.g. allow_other); ro and default_permissions are always set.

-o versions (a repository mount only) merges the archives into one tree in
which every file is a folder of its versions, numbered by first
appearance, oldest archive first: home/notes.txt/notes.00001.txt,
notes.00002.txt, ... A version is a distinct content; a file that did not
change between archives has one. All archives are read at mount time."""


def register(sub, common):
    p = add_command(sub, common, "mount", HELP)
    add_location(p, "optional")
    p.add_argument("mountpoint", metavar="MOUNTPOINT", help="an existing, empty folder")
    p.add_argument("paths", metavar="PATH", nargs="*", help="only show these paths")
    p.add_argument(
        "-f", "--foreground", action="store_true", help="stay in the foreground until unmounted"
    )
    p.add_argument(
        "-o",
        dest="options",
        metavar="OPTIONS",
        action="append",
        default=[],
        help="FUSE options, and versions (see above)",
    )
    p.add_argument(
        "--numeric-ids", action="store_true", help="show the stored numeric ids, not mapped names"
    )
    add_patterns(p)
    p.set_defaults(func=run)


def fuse_options(values: list[str]) -> dict:
    options: dict = {}
    for value in values:
        for part in filter(None, value.split(",")):
            key, sep, arg = part.partition("=")
            options[key] = arg if sep else True
    return options


def run(args) -> int:
    # Imported here: mfusepy loads libfuse, which no other command needs.
    from ...archive import fusefs

    location, name = resolve(args)
    lacking = fusefs.missing()
    if lacking:
        raise HutchError(
            f"mount needs FUSE, and {lacking}; install your system's FUSE 3 package (Debian: fuse3)"
        )
    if not os.path.isdir(args.mountpoint):
        raise UsageError(f"mount point {args.mountpoint} is not an existing folder")
    options = fuse_options(args.options)
    versions = bool(options.pop("versions", False))
    if versions and name is not None:
        raise UsageError(
            "-o versions shows the versions across archives: mount REPO, not an archive"
        )
    if args.foreground:
        return _serve(args, location, name, options, versions, on_mounted=lambda: None)
    return _daemonize(
        lambda on_mounted: _serve(args, location, name, options, versions, on_mounted)
    )


def _daemonize(serve) -> int:
    """Serve in a child process. The parent waits until the file system is
    mounted (exit 0) or the child failed (its exit code): so errors, and the
    passphrase prompt, still reach the terminal. The child forks before it
    opens the repository, so its threads (lock heartbeat, connection) are
    its own."""
    sys.stdout.flush()
    sys.stderr.flush()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid:
        os.close(write_end)
        with os.fdopen(read_end, "rb") as f:
            if f.read() == b"ok":
                return 0
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status) or EXIT_ERROR
    os.close(read_end)

    def mounted() -> None:
        # Leave the terminal's session and let go of its output, so that whoever
        # reads our output (a shell pipe, a test) sees it end.
        os.setsid()
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        os.close(devnull)
        os.write(write_end, b"ok")
        os.close(write_end)

    return serve(mounted)


def _serve(args, location: str, name: str | None, options: dict, versions: bool, on_mounted) -> int:
    from ...archive import fusefs

    ctx = Context(args)
    rc = 0
    with ctx.repository(location, lock="shared", reads_only=True) as repo:
        archives = ArchiveList(repo, logger.warning)
        if name is not None:
            entries = [archives.get(name)]
        else:
            entries = archives.list()
            rc = report_damaged_archives(archives)
        rc = max(rc, report_repaired(entries))
        matcher = path_matcher(args)
        fs = fusefs.HutchFS(
            repo,
            entries,
            single=name is not None,
            matcher=matcher,
            numeric_ids=args.numeric_ids,
            versions=versions,
            on_error=logger.error,
            on_mounted=on_mounted,
        )
        try:
            fusefs.mount(fs, args.mountpoint, options)
        except RuntimeError as e:
            raise HutchError(
                f"cannot mount at {args.mountpoint} (FUSE error {e}; see above); is it "
                "an empty folder, not mounted already, and may you use FUSE (/dev/fuse)?"
            ) from None
        finally:
            fs.close()
    return rc
