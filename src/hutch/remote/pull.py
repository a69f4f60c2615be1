"""Pull mode, the server's side: start hutch on a client over one ssh
connection and serve it the repository over that same connection.

The client process (`hutch create -r stdio: ...` or `hutch extract ...`)
speaks the protocol on its stdin/stdout; its stderr (progress, file list,
log) comes through ssh and is handed, line by line, to the caller (which
shows it made printable and attributed to the client). The client may be
compromised: the outcome is decided from what this side observed (which
archive entries arrived in this session), and the client's exit code is
only its word.
"""

import os
import shlex
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..errors import ConnectionClosed
from . import protocol
from .server import ServeOptions, Session

UPLOAD_PATH = "$HOME/.cache/hutch-pull/hutch"
MAX_LINE = 4096  # a longer line from the client is shown in pieces


@dataclass
class PullOutcome:
    """What this side saw of one pull."""

    client_rc: int  # what the client's process (through ssh) exited with
    archives: list[str] = field(default_factory=list)  # entries committed in this session
    objects: int = 0  # objects received
    bytes: int = 0  # bytes received
    seconds: float = 0.0
    timed_out: bool = False  # ended by --max-duration


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


def _relay(stream, on_line: Callable[[str, bool], None]) -> None:
    """Split what the client writes into lines (`\\n`) and progress updates
    (`\\r`), and hand each to on_line(text, is_progress)."""
    pending = b""
    while chunk := stream.read1(65536) if hasattr(stream, "read1") else stream.read(65536):
        pending += chunk
        while True:
            cut = min((i for i in (pending.find(b"\n"), pending.find(b"\r")) if i >= 0), default=-1)
            if cut < 0:
                break
            text, ending, pending = pending[:cut], pending[cut : cut + 1], pending[cut + 1 :]
            if text.strip():
                on_line(text.decode(errors="surrogateescape"), ending == b"\r")
        while len(pending) > MAX_LINE:
            on_line(pending[:MAX_LINE].decode(errors="surrogateescape"), False)
            pending = pending[MAX_LINE:]
    if pending.strip():
        on_line(pending.decode(errors="surrogateescape"), False)


def run_pull(
    rsh_argv: list[str],
    command: str,
    options: ServeOptions,
    on_line: Callable[[str, bool], None],
    upload: bytes = b"",
    max_duration: float | None = None,
) -> PullOutcome:
    """Run `command` on the client through `rsh_argv` (first sending
    `upload`, see client_command); serve until it ends, or until
    `max_duration` seconds are over (then it is stopped); return what was seen."""
    started = time.monotonic()
    try:
        proc = subprocess.Popen(
            [*rsh_argv, command],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            bufsize=0,
            # Its own process group: stopping the pull stops whatever ssh started.
            start_new_session=True,
        )
    except OSError as e:
        raise ConnectionClosed(f"cannot start {rsh_argv[0]!r}: {e.strerror}") from None
    relay = threading.Thread(target=_relay, args=(proc.stderr, on_line), daemon=True)
    relay.start()
    timed_out = threading.Event()

    def stop() -> None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def give_up() -> None:
        timed_out.set()
        stop()

    timer = threading.Timer(max_duration, give_up) if max_duration else None
    if timer is not None:
        timer.daemon = True
        timer.start()
    stdin, stdout = proc.stdin, proc.stdout
    assert stdin is not None and stdout is not None  # both are pipes
    write = protocol.FdWriter(stdin.fileno(), options.idle_timeout)
    reader = protocol.StreamReader(protocol.fd_readinto(stdout.fileno()), stdout.fileno())
    session = Session(options, reader, write)
    try:
        if upload:
            write(upload)
        session.run()
    except OSError:
        pass  # the client went away while we sent it hutch: its exit code says more
    finally:
        for pipe in (stdin, stdout):
            try:
                pipe.close()
            except OSError:
                pass
    try:
        rc = proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        stop()  # the session ended (idle, garbage): the client does not get to linger
        rc = proc.wait()
    if timer is not None:
        timer.cancel()
    relay.join(timeout=5)
    witness = session.witness
    return PullOutcome(
        client_rc=rc,
        archives=session.committed_archives(),
        objects=len(witness.arrived) if witness else 0,
        bytes=witness.bytes_arrived if witness else 0,
        seconds=time.monotonic() - started,
        timed_out=timed_out.is_set(),
    )
