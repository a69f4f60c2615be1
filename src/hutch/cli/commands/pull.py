"""`hutch pull`: the backup server starts a backup (or a restore) on a client
over one ssh connection and serves the repository to it over that same
connection, with permissions the server chooses."""

import argparse
import logging
import os
import re
import shlex
import sys

from ...errors import EXIT_ERROR, EXIT_OK, EXIT_WARNING, UsageError
from ...remote.open import check_store_root, open_store
from ...remote.pull import PullOutcome, client_command, run_pull
from ...remote.server import ServeOptions
from ...remote.transport import login_command
from ...repo.repository import Repository, load_envelope
from ...store.local import LocalStore
from ...store.permissions import MODES
from ...terminal import printable
from ..args import add_command, add_idle_timeout, add_storage_quota
from ..context import Context
from ..location import expand_placeholders, resolve_archive
from ..output import (
    finish_progress_line,
    format_size,
    logger,
    relay_remote_line,
    show_progress_line,
)
from ..passphrase import PassphraseSource

HELP = """Back up PATHs of a client into REPO::ARCHIVE on this machine, started here.

hutch pull [options] [user@]client[:port] REPO::ARCHIVE PATH... [create options]

REPO is a folder here, or s3://BUCKET[/PREFIX] that this machine holds the
credentials for. One ssh connection to the client runs 'hutch create' there; this process
serves the repository to it over that connection. The client needs hutch
(--remote-path) and read access to what it backs up; it gets no credentials
for this machine, and by default may not delete or overwrite anything
(--permissions). The passphrase travels over the connection, never on a
command line or in an environment (--no-send-passphrase to let the client
use its own). A keyfile repository's key travels the same way, still sealed
by the passphrase (--no-send-key: the client uses its own key file).

With --extract, restores REPO::ARCHIVE [PATH...] onto the client instead
(into --target, default the login directory), read-only.

The client may be compromised, so this side decides the outcome: a backup
succeeded (exit 0) only if an archive entry arrived and was committed in
this session, whatever the client says; the summary (archive id, objects
and bytes received, duration) is this side's count. Everything the client
writes is shown made printable, each line prefixed with the client's name.
--max-duration stops a pull that takes too long; a client that sends
nothing for --idle-timeout seconds is cut off. --storage-quota caps the
repository's size for this client."""

_CLIENT = re.compile(
    r"^(?:(?P<user>[^@:/\s-][^@:/\s]*)@)?(?P<host>[^:/@\s-][^:/@\s]*)(?::(?P<port>\d+))?$"
)


def register(sub, common):
    p = add_command(sub, common, "pull", HELP)
    p.add_argument("client", metavar="[USER@]CLIENT[:PORT]", help="the machine to back up")
    p.add_argument("location", metavar="REPO::ARCHIVE", help="repository here, archive name")
    p.add_argument(
        "rest",
        nargs=argparse.REMAINDER,
        metavar="PATH|OPTION",
        help="paths on the client and options for its create (or extract)",
    )
    p.add_argument(
        "--permissions",
        choices=MODES,
        default=None,
        metavar="MODE",
        help="what the client may do (default: no-delete; read-only with --extract)",
    )
    p.add_argument(
        "--no-send-passphrase",
        dest="send_passphrase",
        action="store_false",
        help="do not hand the passphrase to the client",
    )
    p.add_argument(
        "--no-send-key",
        dest="send_key",
        action="store_false",
        help="with a keyfile repository: do not hand the (sealed) key to the client; "
        "it uses its own key file (implied by --no-send-passphrase)",
    )
    p.add_argument(
        "--max-duration",
        metavar="SECONDS",
        type=float,
        help="stop the pull (exit 2) if it has not ended after SECONDS",
    )
    add_idle_timeout(p)
    add_storage_quota(p)
    p.add_argument("--extract", action="store_true", help="restore onto the client instead")
    p.add_argument("--target", metavar="DIR", help="with --extract: folder on the client")
    p.add_argument(
        "--upload-hutch",
        metavar="FILE",
        nargs="?",
        const="",
        help="copy a standalone hutch (make standalone; default: this one, if it "
        "is standalone) to the client's ~/.cache/hutch-pull and run that",
    )
    p.set_defaults(func=run, repo=None, archive_mode="required")


def run(args) -> int:
    m = _CLIENT.match(args.client)
    if not m:
        raise UsageError(
            f"invalid client {args.client!r}; write [user@]host[:port] "
            "(a host or user cannot start with '-')"
        )
    repo_path, name = resolve_archive(args.location, None)
    store_root = None
    if repo_path.startswith("s3://"):
        # Object storage that this machine holds the credentials for: the
        # repository is the root itself.
        store_root, repo_path = check_store_root(repo_path).text, "/"
        store = open_store(store_root)
    elif "://" in repo_path and not repo_path.startswith("file://"):
        raise UsageError(
            "hutch pull serves a repository this machine reaches itself; give its local path "
            "or an s3:// URL"
        )
    else:
        repo_path = os.path.abspath(repo_path.removeprefix("file://"))
        store = LocalStore(repo_path)
    ctx = Context(args)
    passphrase = None
    # Open the repository here first: a wrong passphrase or a missing
    # repository fails on this side, before the client is involved.
    source = PassphraseSource()
    repo = Repository.open(
        store, source, ctx.dirs.keys, security_dir=ctx.dirs.security, key_file=ctx.key_file
    )
    if args.send_passphrase and repo.key.mode != "none":
        passphrase = source()
    if args.extract:
        hutch_args = ["extract", "-r", "stdio:", name, *args.rest]
        permissions = args.permissions or "read-only"
    else:
        hutch_args = ["create", "-r", "stdio:", expand_placeholders(name), *args.rest]
        permissions = args.permissions or "no-delete"
    if args.log_level in ("info", "debug"):
        hutch_args.insert(0, f"--{args.log_level}")
    if args.progress:
        hutch_args.insert(0, "--progress")
    rsh = login_command(
        shlex.split(args.rsh or os.environ.get("HUTCH_RSH") or "ssh"),
        m.group("host"),
        m.group("user"),
        int(m.group("port")) if m.group("port") else None,
    )
    remote_path = args.remote_path or os.environ.get("HUTCH_REMOTE_PATH") or "hutch"
    key = None
    # Without the passphrase, the sealed key would only let a client guess it offline.
    if args.send_key and args.send_passphrase and repo.key.storage == "file":
        key = load_envelope(store, repo.config, ctx.dirs.keys, ctx.key_file)
    store.close()
    options = ServeOptions(
        permissions=permissions,
        repository=repo_path,
        passphrase=passphrase,
        key=key,
        idle_timeout=args.idle_timeout or None,
        storage_quota=args.storage_quota,
        store_root=store_root,
    )
    upload = _executable(args.upload_hutch) if args.upload_hutch is not None else b""
    command = client_command(
        remote_path, hutch_args, cwd=args.target if args.extract else None, upload_size=len(upload)
    )
    label = m.group("host")

    def show(line: str, progress: bool) -> None:
        if progress:
            show_progress_line(f"{label}: {printable(line, backslash=False)}")
        else:
            relay_remote_line(label, line)

    outcome = run_pull(rsh, command, options, show, upload, args.max_duration)
    finish_progress_line()
    return judge(outcome, label, args.extract, verbose="--stats" in args.rest)


def judge(outcome: PullOutcome, label: str, extract: bool, verbose: bool) -> int:
    """The pull's exit code, from what this side saw; says why."""
    rc = outcome.client_rc
    if outcome.timed_out:
        logger.error(f"{label}: stopped after --max-duration ({outcome.seconds:.0f} s)")
        return EXIT_ERROR
    if extract:
        return rc if rc in (EXIT_OK, EXIT_WARNING, EXIT_ERROR) else EXIT_ERROR
    summary = (
        f"{label}: received {outcome.objects} objects, {format_size(outcome.bytes)} "
        f"in {outcome.seconds:.1f} s"
    )
    if not outcome.archives:
        said = "success" if rc == EXIT_OK else f"exit code {rc}"
        logger.error(f"{label}: the client reported {said} but committed no archive ({summary})")
        return EXIT_ERROR
    ids = ", ".join(name.split("/", 1)[1] for name in outcome.archives)
    logger.log(logging.WARNING if verbose else logging.INFO, f"{summary}; committed archive {ids}")
    if rc not in (EXIT_OK, EXIT_WARNING):
        logger.error(f"{label}: the client ended with exit code {rc} after committing {ids}")
        return EXIT_ERROR
    return rc


def _executable(path: str) -> bytes:
    if not path:
        if not getattr(sys, "frozen", False):
            raise UsageError(
                "this hutch is not a standalone executable; build one with 'make standalone' "
                "and give its path: --upload-hutch dist/hutch"
            )
        path = sys.executable
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise UsageError(f"cannot read {path}: {e.strerror}") from None
    if not data.startswith(b"\x7fELF"):
        raise UsageError(f"{path} is not an executable; give the file 'make standalone' built")
    return data
