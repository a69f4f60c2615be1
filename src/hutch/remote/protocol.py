"""The wire protocol between a client and `hutch serve`.

A connection carries frames: two 4-byte big-endian lengths, then that many
bytes of msgpack (a map), then that many bytes of binary payload. The
payload is the map's "b" value, kept out of msgpack so that object data is
never copied into and out of it: the data of a put, the result of a get.
The first frame from the client is a hello:

    {"hello": "hutch", "versions": [1], "client": "0.1.0", "repo": "PATH",
     "create": bool}

and the server answers {"version": N, "server": "..."} or {"error": {...}}.
After that the client sends requests {"i": id, "m": method, "a": [args]}
and the server answers each, in order, with {"i": id, "r": result} or
{"i": id, "e": {"type": NAME, "msg": TEXT}}. Requests may be pipelined.

Frames larger than MAX_FRAME are refused: the reader closes the connection.
A server reads requests with far smaller limits (MAX_REQUEST_BODY, and
bounds on msgpack's containers), so that no frame can cost it more memory
than a small multiple of its size.
"""

import os
import select
import struct

import msgpack

from .. import errors

VERSIONS = (1,)
MAX_FRAME = 80 * 1024 * 1024
# A request's map is tiny (method, a name, two numbers); its data travels
# as the payload. Hellos and requests larger than this are not the protocol.
MAX_REQUEST_BODY = 64 * 1024
MAX_ERROR_TEXT = 2000
_LENGTHS = struct.Struct(">II")
# msgpack containers in a request: a map of a few keys holding a short list.
_REQUEST_LIMITS = {"max_array_len": 16, "max_map_len": 16, "max_ext_len": 0}

# Errors that cross the wire by name; anything else arrives as StoreError.
_ERROR_TYPES = {
    cls.__name__: cls
    for cls in (
        errors.ObjectNotFound,
        errors.ObjectExists,
        errors.PermissionDenied,
        errors.StoreReadOnly,
        errors.StoreError,
        errors.RepositoryNotFound,
        errors.RepositoryExists,
        errors.UsageError,
        errors.LockTimeout,
    )
}


class ProtocolError(errors.ConnectionClosed):
    """The peer sent something that is not the protocol."""


def encode_parts(message: dict) -> list:
    """The frame of `message` as buffers to write one after the other."""
    payload = message.get("b", b"")
    if "b" in message:
        message = {k: v for k, v in message.items() if k != "b"}
    body = msgpack.packb(message, use_bin_type=True)
    if len(body) > MAX_FRAME or len(payload) > MAX_FRAME:
        raise errors.StoreError("message exceeds the protocol limit")
    return [_LENGTHS.pack(len(body), len(payload)) + body, payload]


def encode(message: dict) -> bytes:
    return b"".join(encode_parts(message))


def read_frame(read_exactly, request: bool = False) -> dict | None:
    """One message via `read_exactly(n)` (returns fewer bytes only at EOF).
    None at a clean EOF between frames; ProtocolError on garbage.
    request: read with the tight limits of a request (the server's side)."""
    head = read_exactly(_LENGTHS.size)
    if not head:
        return None
    if len(head) < _LENGTHS.size:
        raise ProtocolError("connection closed in the middle of a message")
    length, payload_length = _LENGTHS.unpack(head)
    if length > (MAX_REQUEST_BODY if request else MAX_FRAME) or payload_length > MAX_FRAME:
        raise ProtocolError("message exceeds the protocol limit")
    body = read_exactly(length)
    if len(body) < length:
        raise ProtocolError("connection closed in the middle of a message")
    limits = _REQUEST_LIMITS if request else {}
    try:
        message = msgpack.unpackb(body, raw=False, strict_map_key=True, **limits)
    except (ValueError, TypeError, msgpack.UnpackException) as e:
        raise ProtocolError(f"malformed message: {e}") from None
    if not isinstance(message, dict):
        raise ProtocolError("malformed message: not a map")
    message.pop("b", None)  # only the payload may say what "b" is
    if payload_length:
        payload = read_exactly(payload_length)
        if len(payload) < payload_length:
            raise ProtocolError("connection closed in the middle of a message")
        message["b"] = payload
    return message


def error_to_wire(exc: Exception) -> dict:
    name = type(exc).__name__ if type(exc).__name__ in _ERROR_TYPES else "StoreError"
    text = str(exc)
    if len(text) > MAX_ERROR_TEXT:
        text = text[:MAX_ERROR_TEXT] + "..."
    return {"type": name, "msg": text}


def error_from_wire(data) -> errors.HutchError:
    if not isinstance(data, dict):
        return errors.StoreError("the server sent a malformed error")
    name = data.get("type")
    cls = _ERROR_TYPES.get(name, errors.StoreError) if isinstance(name, str) else errors.StoreError
    return cls(str(data.get("msg", "unknown error")))


class StreamReader:
    """read_exactly over a binary file object or a socket: n bytes (fewer
    only at EOF), read straight into one buffer (`readinto(view)` returns
    the count, 0 at EOF), so that a payload is held once and never copied
    out of per-read allocations. With `fileno` (of what `readinto` reads),
    `timeout` seconds without a byte arriving end the wait with
    TimeoutError."""

    def __init__(self, readinto, fileno: int | None = None):
        self._readinto = readinto
        self._fileno = fileno
        self.timeout: float | None = None

    def __call__(self, n: int) -> bytes | bytearray:
        buffer = bytearray(n)
        view = memoryview(buffer)
        got = 0
        while got < n:
            if self.timeout is not None and self._fileno is not None:
                ready, _, _ = select.select([self._fileno], [], [], self.timeout)
                if not ready:
                    raise TimeoutError(f"nothing arrived within {self.timeout:g} seconds")
            count = self._readinto(view[got:])
            if not count:
                break
            got += count
        view.release()
        return buffer if got == n else buffer[:got]


def fd_readinto(fd: int):
    """`readinto` for a StreamReader over a file descriptor."""
    return lambda view: os.readv(fd, [view])


class FdWriter:
    """Writes whole buffers to a descriptor; with `timeout`, a peer that
    takes nothing for that many seconds ends the write with TimeoutError."""

    def __init__(self, fd: int, timeout: float | None = None):
        self._fd = fd
        self.timeout = timeout

    def __call__(self, data) -> None:
        view = memoryview(data)
        while view:
            if self.timeout is not None:
                _, ready, _ = select.select([], [self._fd], [], self.timeout)
                if not ready:
                    raise TimeoutError(f"the peer took nothing for {self.timeout:g} seconds")
            view = view[os.write(self._fd, view) :]
