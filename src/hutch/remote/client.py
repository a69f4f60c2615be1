"""The client side: a store backend that talks to `hutch serve`.

Requests are pipelined: callers in several threads send requests at once
and a reader thread hands each answer to the caller waiting for it, so
many fetches are in flight per round trip.
"""

import builtins
import itertools
import math
import threading
import time
from concurrent.futures import Future

from .. import __version__
from ..errors import ConnectionClosed, StoreError
from ..store.base import Leftover, ObjectInfo, Store
from . import protocol
from .transport import Connection, connect
from .urls import Location

HELLO_TIMEOUT = 120.0


class RemoteStore(Store):
    parallel_puts = 2  # one pack on the wire while the next is written
    write_once_enforced = True  # until the server's `create` says otherwise
    _clock_offset = 0.0  # the server's store's clock minus ours, from the hello

    def __init__(self, connection: Connection, location: Location):
        self.conn = connection
        self._location = location
        self._ids = itertools.count()
        self._pending: dict[int, Future] = {}
        self._send_lock = threading.Lock()
        self._closed: Exception | None = None
        self._reader: threading.Thread | None = None
        # What a pulling server handed us with its hello (pull mode only).
        self.offered_passphrase: str | None = None
        self.offered_key: bytes | None = None
        # The storage quota the server enforces for us, if any (bytes).
        self.quota: int | None = None

    @classmethod
    def connect(cls, location: Location, options) -> "RemoteStore":
        store = cls(connect(location, options), location)
        store._hello()
        return store

    @property
    def location(self) -> str:
        return self._location.text

    def _gone(self, detail: str = "") -> ConnectionClosed:
        tail = self.conn.stderr_tail()
        text = "Connection closed by remote host. Is hutch working on the server?"
        if detail:
            text += f" ({detail})"
        if tail:
            text += " Remote said: " + " | ".join(tail)
        return ConnectionClosed(text)

    def _hello(self) -> None:
        hello = {
            "hello": "hutch",
            "versions": list(protocol.VERSIONS),
            "client": __version__,
            "repo": self._location.path,
        }
        try:
            asked = time.time()
            self.conn.send(protocol.encode(hello))
            answer = self.conn.read_frame(timeout=HELLO_TIMEOUT)
        except protocol.ProtocolError as e:
            self.conn.close()
            raise self._gone(str(e)) from None
        except (OSError, TimeoutError) as e:
            self.conn.close()
            raise self._gone(str(e) or "no answer") from None
        if answer is None:
            self.conn.close()
            raise self._gone()
        if "error" in answer:
            self.conn.close()
            raise protocol.error_from_wire(answer["error"])
        if answer.get("version") not in protocol.VERSIONS:
            self.conn.close()
            raise self._gone(f"unexpected answer to hello: {answer!r:.100}")
        if isinstance(answer.get("passphrase"), str):
            self.offered_passphrase = answer["passphrase"]
        if isinstance(answer.get("key"), bytes):
            self.offered_key = answer["key"]
        if isinstance(answer.get("quota"), int) and not isinstance(answer["quota"], bool):
            self.quota = answer["quota"]
        # The server stamps lock heartbeats on its store's clock: judge them on it.
        now = answer.get("now")
        if isinstance(now, int | float) and not isinstance(now, bool) and math.isfinite(now):
            self._clock_offset = now - asked
        self._reader = threading.Thread(target=self._read_loop, daemon=True, name="rpc-reader")
        self._reader.start()

    def _read_loop(self) -> None:
        error: Exception
        try:
            while True:
                message = self.conn.read_frame()
                if message is None:
                    error = self._gone()
                    break
                rid = message.get("i")
                fut = self._pending.pop(rid, None) if isinstance(rid, int) else None
                if fut is None:
                    error = self._gone("answer to a question never asked")
                    break
                if "e" in message:
                    fut.set_exception(protocol.error_from_wire(message["e"]))
                elif "b" in message:
                    fut.set_result(message["b"])
                else:
                    fut.set_result(message.get("r"))
        except protocol.ProtocolError as e:
            error = self._gone(str(e))
        except OSError as e:
            error = self._gone(str(e))
        with self._send_lock:
            self._closed = error
            pending, self._pending = self._pending, {}
        for fut in pending.values():
            fut.set_exception(error)

    def _send(self, method: str, *args, payload: bytes | bytearray | None = None) -> Future:
        fut: Future = Future()
        with self._send_lock:
            if self._closed is not None:
                raise self._closed
            rid = next(self._ids)
            self._pending[rid] = fut
            message = {"i": rid, "m": method, "a": list(args)}
            if payload is not None:
                message["b"] = payload
            try:
                for part in protocol.encode_parts(message):
                    if part:
                        self.conn.send(part)
            except OSError as e:
                self._pending.pop(rid, None)
                raise self._gone(str(e)) from None
        return fut

    def _call(self, method: str, *args):
        return self._send(method, *args).result()

    def _bad_answer(self, method: str) -> StoreError:
        return StoreError(f"the server sent a malformed answer to {method}; is it a hutch server?")

    def now(self) -> float:
        return time.time() + self._clock_offset

    def exists(self) -> bool:
        return bool(self._call("exists"))

    def create(self) -> None:
        answer = self._call("create")
        # A server of an earlier version answers None: nothing found out.
        if isinstance(answer, dict) and answer.get("write_once") is False:
            self.write_once_enforced = False

    def destroy(self) -> None:
        self._call("destroy")

    def put(self, name: str, data: bytes | bytearray, overwrite: bool = False) -> None:
        self._send("put", name, overwrite, payload=data).result()

    def _bytes(self, value) -> bytes | bytearray:
        if value is None:
            return b""  # an empty payload travels as no payload
        if not isinstance(value, bytes | bytearray):
            raise self._bad_answer("get")
        return value

    def get(self, name: str, offset: int = 0, length: int | None = None) -> bytes | bytearray:
        return self._bytes(self._call("get", name, offset, length))

    def get_many(self, requests):
        futures = [self._send("get", n, o, ln) for n, o, ln in requests]
        return [self._bytes(f.result()) for f in futures]

    def delete(self, name: str) -> None:
        self._call("delete", name)

    def _info(self, method: str, value, prefix: str) -> ObjectInfo:
        if (
            not isinstance(value, list)
            or len(value) != 2
            or not isinstance(value[0], str)
            or not value[0].startswith(prefix)
            or not isinstance(value[1], int)
        ):
            raise self._bad_answer(method)
        return ObjectInfo(value[0], value[1])

    def info(self, name: str) -> ObjectInfo:
        return self._info("info", self._call("info", name), name)

    def list(self, namespace: str) -> list[ObjectInfo]:
        answer = self._call("list", namespace)
        if not isinstance(answer, list):
            raise self._bad_answer("list")
        return [self._info("list", v, namespace + "/") for v in answer]

    def leftovers(self, remove_older_than: float | None = None) -> builtins.list[Leftover]:
        answer = self._call("leftovers", remove_older_than)
        if not isinstance(answer, list):
            raise self._bad_answer("leftovers")
        found = []
        for value in answer:
            if (
                not isinstance(value, list)
                or len(value) != 4
                or not isinstance(value[0], str)
                or not all(isinstance(v, int | float) for v in value[1:3])
                or not isinstance(value[3], bool)
            ):
                raise self._bad_answer("leftovers")
            found.append(Leftover(*value))
        return found

    def close(self) -> None:
        self.conn.close()
        if self._reader is not None:
            self._reader.join(timeout=10)
