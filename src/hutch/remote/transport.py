"""Byte pipes to a server: a subprocess started through HUTCH_RSH (ssh by
default, or any wrapper such as `sh -c 'exec socat STDIO UNIX-CONNECT:...'`),
or a unix socket of a long-running `hutch serve --socket`."""

import collections
import fcntl
import os
import shlex
import socket
import subprocess
import sys
import threading

from ..errors import ConnectionClosed, UsageError
from . import protocol
from .ssh_ciphers import cipher_options
from .urls import Location

PIPE_SIZE = 1024 * 1024
MAX_LINE = 4096  # a longer line from the remote side arrives in pieces


class Connection:
    """A framed message pipe. `read_frame` is called from one thread only."""

    def __init__(self, read_fd: int, write, closer):
        self._write = write
        self._closer = closer
        self._stderr: collections.deque[str] = collections.deque(maxlen=5)
        self.stderr_reader: threading.Thread | None = None
        self._reader = protocol.StreamReader(protocol.fd_readinto(read_fd), read_fd)

    def send(self, data: bytes) -> None:
        self._write(data)

    def read_frame(self, timeout: float | None = None) -> dict | None:
        self._reader.timeout = timeout
        try:
            return protocol.read_frame(self._reader)
        finally:
            self._reader.timeout = None

    def note_stderr(self, line: str) -> None:
        self._stderr.append(line)

    def stderr_tail(self) -> list[str]:
        """The last lines the remote side wrote on stderr. When it has just
        gone away, its last words may still be in the pipe: wait briefly."""
        if self.stderr_reader is not None:
            self.stderr_reader.join(timeout=2)
        return list(self._stderr)

    def close(self) -> None:
        self._closer()


def default_socket_path() -> str:
    runtime = os.environ.get("XDG_RUNTIME_DIR") or "/run"
    return os.environ.get("HUTCH_SOCKET") or os.path.join(runtime, "hutch", "hutch.sock")


def rsh_command(location: Location, options) -> list[str]:
    rsh = options.rsh or os.environ.get("HUTCH_RSH") or "ssh"
    remote_path = options.remote_path or os.environ.get("HUTCH_REMOTE_PATH") or "hutch"
    try:
        argv = shlex.split(rsh)
        remote = shlex.split(remote_path)
    except ValueError as e:
        raise UsageError(f"cannot split HUTCH_RSH / --rsh or --remote-path: {e}") from None
    return login_command(argv, location.host, location.user, location.port) + [
        *remote,
        "serve",
        *options.serve_options,
    ]


def login_command(rsh: list[str], host: str, user: str | None, port: int | None) -> list[str]:
    """`rsh` with the port and the destination: for ssh itself, its options
    end with `--` before the destination, so that no host name can be read
    as an option, and may put AES-GCM first (ssh_ciphers); wrappers such as
    `sh -c` get the destination as it is."""
    argv = list(rsh)
    if port:
        argv += ["-p", str(port)]
    destination = f"{user}@{host}" if user else host
    if os.path.basename(argv[0]) != "ssh":
        return [*argv, destination]
    return [*argv, *cipher_options(argv, destination), "--", destination]


def _spawn(argv: list[str], on_line=None) -> Connection:
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            bufsize=0,
            start_new_session=True,  # a Ctrl-C reaches us, not ssh: we end it cleanly
        )
    except OSError as e:
        raise ConnectionClosed(f"cannot start {argv[0]!r}: {e.strerror}") from None
    stdin, stdout = proc.stdin, proc.stdout
    assert stdin is not None and stdout is not None  # both are pipes

    def write(data: bytes) -> None:
        stdin.write(data)

    def close() -> None:
        try:
            stdin.close()
        except OSError:
            pass
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    for pipe in (stdin, stdout):
        widen_pipe(pipe.fileno())
    conn = Connection(stdout.fileno(), write, close)
    conn.stderr_reader = threading.Thread(
        target=_relay_stderr, args=(proc.stderr, conn, on_line), daemon=True
    )
    conn.stderr_reader.start()
    return conn


def widen_pipe(fd: int) -> None:
    """A 1 MiB pipe instead of 64 KiB: far fewer wake-ups per megabyte
    (either end of a pipe may set its size; anything else is left alone)."""
    try:
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
    except OSError:
        pass  # above the system's limit: the default works, only slower


def _relay_stderr(stream, conn: Connection, on_line) -> None:
    """Hand what the remote side says to `on_line` (the command shows it,
    made printable), and keep the last lines for error messages."""
    for raw in iter(lambda: stream.readline(MAX_LINE), b""):
        line = raw.decode(errors="surrogateescape").rstrip("\n")
        conn.note_stderr(line)
        if on_line is not None:
            on_line(line)


def _socket(path: str) -> Connection:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError as e:
        sock.close()
        raise ConnectionClosed(
            f"cannot connect to hutch serve at socket {path}: {e.strerror}. "
            "Is 'hutch serve --socket' running there?"
        ) from None

    def close() -> None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()

    return Connection(sock.fileno(), sock.sendall, close)


def _stdio() -> Connection:
    """The protocol on our own stdin/stdout; stdout is then given to stderr
    so that nothing else (stats, listings) can reach the channel."""
    read_fd, write_fd = os.dup(0), os.dup(1)
    for fd in (read_fd, write_fd):
        widen_pipe(fd)
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    def write(data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(write_fd, view) :]

    def close() -> None:
        for fd in (write_fd, read_fd):
            try:
                os.close(fd)
            except OSError:
                pass

    return Connection(read_fd, write, close)


def connect(location: Location, options) -> Connection:
    if location.scheme == "stdio":
        return _stdio()
    if location.scheme == "socket":
        return _socket(options.socket_path or default_socket_path())
    return _spawn(rsh_command(location, options), options.on_remote_line)
