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


def client_command(remote_path: str, hutch_args: list[str], cwd: str | None = None) -> str:
    """The command line the client's login shell runs (ssh joins words
    with spaces, so every word is quoted for that shell)."""
    words = shlex.split(remote_path) + hutch_args
    command = " ".join(shlex.quote(w) for w in words)
    return f"cd {shlex.quote(cwd)} && {command}" if cwd else command


def run_pull(rsh_argv: list[str], command: str, options: ServeOptions) -> int:
    """Run `command` on the client through `rsh_argv`; serve until it ends;
    return its exit code."""
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
        session.run()
    finally:
        try:
            proc.stdin.close()
        except OSError:
            pass
    return proc.wait()
