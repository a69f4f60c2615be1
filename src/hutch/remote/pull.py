"""Pull mode, the server's side: start hutch on a client over one ssh
connection and serve it the repository over that same connection.

The client process (`hutch create -r stdio: ...` or `hutch extract ...`)
speaks the protocol on its stdin/stdout; its stderr (progress, file list,
log) comes through ssh to our stderr; its exit code is ssh's.
"""

import shlex
import subprocess

from ..errors import ConnectionClosed
from . import protocol
from .server import ServeOptions, Session

UPLOAD_PATH = "$HOME/.cache/hutch-pull/hutch"


def client_command(
    remote_path: str, hutch_args: list[str], cwd: str | None = None, upload_size: int = 0
) -> str:
    """The command line the client's login shell runs (ssh joins words
    with spaces, so every word is quoted for that shell).

    With upload_size, the first that many bytes on the connection are a
    hutch executable: the client stores it and runs it on the same
    connection, which then carries the protocol."""
    args = " ".join(shlex.quote(w) for w in hutch_args)
    if upload_size:
        command = (
            f'f="{UPLOAD_PATH}"; mkdir -p "${{f%/*}}" && head -c {upload_size} > "$f.tmp" '
            f'&& chmod 700 "$f.tmp" && mv "$f.tmp" "$f" && exec "$f" {args}'
        )
    else:
        command = " ".join(shlex.quote(w) for w in shlex.split(remote_path)) + " " + args
    return f"cd {shlex.quote(cwd)} && {command}" if cwd else command


def run_pull(rsh_argv: list[str], command: str, options: ServeOptions, upload: bytes = b"") -> int:
    """Run `command` on the client through `rsh_argv` (first sending
    `upload`, see client_command); serve until it ends; return its exit code."""
    try:
        proc = subprocess.Popen(
            [*rsh_argv, command], stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0
        )
    except OSError as e:
        raise ConnectionClosed(f"cannot start {rsh_argv[0]!r}: {e.strerror}") from None

    def write(data: bytes) -> None:
        proc.stdin.write(data)

    session = Session(options, protocol.StreamReader(proc.stdout.read), write)
    try:
        if upload:
            write(upload)
        session.run()
    finally:
        try:
            proc.stdin.close()
        except OSError:
            pass
    return proc.wait()
