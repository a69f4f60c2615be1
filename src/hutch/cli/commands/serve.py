"""`hutch serve`: the repository server, started by ssh (stdio) or as a
long-running server on a unix socket (--socket)."""

import os
import shlex
import sys

from ...remote.open import check_store_root
from ...remote.protocol import FdWriter, StreamReader, fd_readinto
from ...remote.server import ServeOptions, Session
from ...remote.socket_server import SocketServer
from ...remote.transport import default_socket_path, widen_pipe
from ...store.permissions import MODES, check_mode, strictest
from ..args import add_command, add_idle_timeout, add_storage_quota, client_name
from ..output import logger, setup_logging

HELP = """Serve repositories to hutch clients. Usually started by ssh, not by hand.

The client always names the repository; --repo and HUTCH_REPO are ignored.
--permissions (default: HUTCH_REPO_PERMISSIONS, then all):
  all         everything
  no-delete   read and add archives and chunks; never delete or overwrite
  write-only  add archives and chunks; read nothing that exists
  read-only   read; write nothing but the client's own lock
--append-only means no-delete; together with --permissions the stricter
one wins (read-only and write-only together allow nothing: an error).

--client NAME stamps NAME on every archive that arrives through this
server (use one forced command per client), so that keyless retention
(repo-prune) keeps each client's series apart. A client that sends nothing
for --idle-timeout seconds (default 300) is disconnected and its locks are
released.

With --store-root s3://BUCKET[/PREFIX], repository paths name objects below
that prefix in object storage instead of folders here (ssh://host/srv/alice
is s3://BUCKET/PREFIX/srv/alice); the restrictions apply to the paths as the
client writes them. This machine holds the cloud credentials (the standard
AWS configuration); clients hold none.

If SSH_ORIGINAL_COMMAND is set (a forced command in authorized_keys) and asks
for serve, only its log level, --debug-topic and --lock-wait options are
used; restrictions and permissions come only from the forced command."""

_LEVEL_FLAGS = {
    "--critical": "critical",
    "--error": "error",
    "--warning": "warning",
    "--info": "info",
    "-v": "info",
    "--verbose": "info",
    "--debug": "debug",
}


def register(sub, common):
    p = add_command(sub, common, "serve", HELP)
    p.add_argument(
        "--restrict-to-path",
        metavar="PATH",
        action="append",
        default=[],
        help="allow repositories at or below PATH only (repeatable)",
    )
    p.add_argument(
        "--restrict-to-repository",
        "--restrict-to-repo",
        metavar="PATH",
        dest="restrict_to_repository",
        action="append",
        default=[],
        help="allow exactly the repository at PATH (repeatable); it may be created there",
    )
    p.add_argument(
        "--permissions",
        choices=MODES,
        metavar="MODE",
        help="repository permissions: " + ", ".join(MODES),
    )
    p.add_argument("--append-only", action="store_true", help="same as --permissions no-delete")
    p.add_argument(
        "--client",
        metavar="NAME",
        type=client_name,
        help="stamp NAME on every archive that arrives through this server",
    )
    add_idle_timeout(p)
    add_storage_quota(p)
    p.add_argument(
        "--store-root",
        metavar="URL",
        help="keep repositories below this s3://BUCKET[/PREFIX] instead of this file system",
    )
    p.set_defaults(func=run)


def allowed_from_original_command(command: str) -> str | None:
    """The log level the client asked for in SSH_ORIGINAL_COMMAND, if it
    asks for serve at all; everything else in it is ignored."""
    try:
        words = shlex.split(command)
    except ValueError:
        return None
    while words and "=" in words[0] and not words[0].startswith("-"):
        words.pop(0)  # VAR=value words are never interpreted
    if "serve" not in words[1:]:
        return None
    level = None
    for word in words:
        if word in _LEVEL_FLAGS:
            level = _LEVEL_FLAGS[word]
    return level or "warning"


def run(args) -> int:
    original = os.environ.get("SSH_ORIGINAL_COMMAND")
    if original is not None:
        level = allowed_from_original_command(original)
        if level is not None:
            setup_logging(level, args.log_json)
    permissions = args.permissions or os.environ.get("HUTCH_REPO_PERMISSIONS") or "all"
    if args.append_only:
        permissions = strictest([check_mode(permissions), "no-delete"])
    options = ServeOptions(
        restrict_to_paths=args.restrict_to_path,
        restrict_to_repositories=args.restrict_to_repository,
        permissions=check_mode(permissions),
        client=args.client,
        idle_timeout=args.idle_timeout or None,
        storage_quota=args.storage_quota,
        store_root=check_store_root(args.store_root).text if args.store_root else None,
        on_retry=logger.warning,
    )
    if args.socket is not None:
        SocketServer(args.socket or default_socket_path(), options).serve_forever()
        return 0
    stdin_fd, stdout_fd = sys.stdin.fileno(), os.dup(sys.stdout.fileno())
    for fd in (stdin_fd, stdout_fd):
        widen_pipe(fd)
    # Nothing but protocol frames may reach the client's pipe.
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    reader = StreamReader(fd_readinto(stdin_fd), stdin_fd)
    Session(options, reader, FdWriter(stdout_fd, options.idle_timeout)).run()
    return 0
