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
"""

import struct

import msgpack

from .. import errors

VERSIONS = (1,)
MAX_FRAME = 80 * 1024 * 1024
_LENGTHS = struct.Struct(">II")

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


def read_frame(read_exactly) -> dict | None:
    """One message via `read_exactly(n)` (returns fewer bytes only at EOF).
    None at a clean EOF between frames; ProtocolError on garbage."""
    head = read_exactly(_LENGTHS.size)
    if not head:
        return None
    if len(head) < _LENGTHS.size:
        raise ProtocolError("connection closed in the middle of a message")
    length, payload_length = _LENGTHS.unpack(head)
    if length > MAX_FRAME or payload_length > MAX_FRAME:
        raise ProtocolError("message exceeds the protocol limit")
    body = read_exactly(length)
    if len(body) < length:
        raise ProtocolError("connection closed in the middle of a message")
    try:
        message = msgpack.unpackb(body, raw=False, strict_map_key=True)
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
    return {"type": name, "msg": str(exc)}


def error_from_wire(data) -> errors.HutchError:
    if not isinstance(data, dict):
        return errors.StoreError("the server sent a malformed error")
    cls = _ERROR_TYPES.get(data.get("type"), errors.StoreError)
    return cls(str(data.get("msg", "unknown error")))


class StreamReader:
    """read_exactly over a binary file object or a socket."""

    def __init__(self, read):
        self._read = read

    def __call__(self, n: int) -> bytes:
        parts = []
        while n:
            data = self._read(min(n, 1 << 20))
            if not data:
                break
            parts.append(data)
            n -= len(data)
        return b"".join(parts)
