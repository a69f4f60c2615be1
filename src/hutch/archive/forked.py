"""A forked helper process: a second core for the interpreter's work per
file, which threads cannot share (the GIL).

The helper is forked from the command, so it holds the same key, caches
and settings without copying them (pages are shared until written). It
takes requests in order, each one message, and answers each with one
message: whatever `handle` returns for it, both packed with msgpack.

Helpers are an optimisation and nothing may depend on them: the caller
does the work itself if a helper cannot be started, dies, hangs or
answers nonsense (`broken`). A helper writes nothing but its answers and
what its `handle` does; the caller kills it when done, it exits by itself
when the caller dies (its pipe ends), and it never runs the parent's exit
handlers (os._exit), which release locks and remove scratch files.

Requests and answers meet in two pipes: what is out in one direction
must stay well below the pipe's capacity while the other direction can
be large, or both sides could wait to write.
"""

import fcntl
import os
import select
import signal
import struct
import time
from collections.abc import Callable
from typing import Any

import msgpack

# Room in each pipe for a large message, so that the side that sent it goes
# on meanwhile (the system's default is 64 KiB; its limit, fs.pipe-max-size,
# is 1 MiB unless raised).
PIPE_SIZE = 1024 * 1024
_LENGTH = struct.Struct(">I")


class ForkedHelper:
    """One forked process that answers requests in the order submitted
    with `handle(request)`. A few requests may be out at once (`pending`)."""

    def __init__(self, handle: Callable[[Any], Any]):
        requests_r, requests_w = os.pipe()
        answers_r, answers_w = os.pipe()
        for fd in (requests_w, answers_w):
            try:
                fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
            except OSError:  # above the system's limit: the default
                pass
        pid = os.fork()
        if pid == 0:  # the helper
            status = 1
            try:
                signal.signal(signal.SIGINT, signal.SIG_IGN)  # the caller stops it
                _close_all_but({requests_r, answers_w})
                _serve(requests_r, answers_w, handle)
                status = 0
            finally:
                os._exit(status)
        os.close(requests_r)
        os.close(answers_w)
        self.pid = pid
        self._requests = requests_w
        self._answers = answers_r
        self.pending = 0
        self.broken = False

    def submit(self, request: Any) -> None:
        self.pending += 1
        try:
            _send(self._requests, msgpack.packb(request))
        except OSError:
            self.broken = True

    def collect(self, timeout: float) -> list | None:
        """The answer (a list) to the oldest request out, or None if the
        helper failed or took longer than `timeout` seconds (it is not asked
        again: `broken`)."""
        assert self.pending
        self.pending -= 1
        if self.broken:
            return None
        try:
            answer = msgpack.unpackb(_receive(self._answers, timeout))
        except (OSError, EOFError, ValueError, msgpack.UnpackException):
            answer = None
        if not isinstance(answer, list):
            self.broken = True
            return None
        return answer

    def close(self) -> None:
        """Kill the helper and wait for it: once this returns, it does
        nothing more (it may be in the middle of a request no one will
        collect, and holds nothing that needs a clean end)."""
        os.close(self._requests)
        os.close(self._answers)
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass


def _serve(requests: int, answers: int, handle: Callable[[Any], Any]) -> None:
    while True:
        try:
            request = msgpack.unpackb(_receive(requests))
        except EOFError:
            return
        _send(answers, msgpack.packb(handle(request)))


def _close_all_but(keep: set[int]) -> None:
    """Close every inherited descriptor but stdio and `keep`: the parent's
    pipes to an ssh or a server must see their end when the parent closes
    them, not when the helper exits."""
    low = 3
    for fd in sorted(keep):
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, os.sysconf("SC_OPEN_MAX"))


def _send(fd: int, data: bytes) -> None:
    view = memoryview(_LENGTH.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view) :]


def _receive(fd: int, timeout: float | None = None) -> bytes:
    """One message; TimeoutError if it has not come whole within `timeout` seconds."""
    deadline = None if timeout is None else time.monotonic() + timeout
    (length,) = _LENGTH.unpack(_read_exactly(fd, _LENGTH.size, deadline))
    return _read_exactly(fd, length, deadline)


def _read_exactly(fd: int, size: int, deadline: float | None) -> bytes:
    parts = []
    while size:
        if deadline is not None:
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise TimeoutError
        part = os.read(fd, min(size, 1 << 20))
        if not part:
            raise EOFError
        parts.append(part)
        size -= len(part)
    return b"".join(parts)
