"""The server side of `hutch serve`: one session per client connection.

A session reads the hello, checks the requested repository against the
restrictions (on the resolved real path, then pins the folder it checked),
opens the store through `open_served_store` (arrival records, name and
content checks, permissions, lock ownership) and answers requests until
the client goes away or stays silent for `idle_timeout` seconds. Whatever
happens, closing the session closes the store, which removes the client's
locks.

The client is not trusted: every request is answered or the connection is
closed; no request can end the session, hang it, or make it outlive its
client. A session's memory is bounded: a request map is at most
MAX_REQUEST_BODY, a payload at most MAX_FRAME, and answers waiting to be
sent at most ANSWER_BUDGET (one larger answer at a time), and one change
read while the one before it is carried out -- about 4 x MAX_FRAME in
all, whatever arrives.
"""

import os
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from .. import __version__
from ..errors import HutchError, PermissionDenied, StoreError, UsageError
from ..store.arrivals import ArrivalStore
from ..store.base import Store
from ..store.local import LocalStore
from . import protocol
from .open import open_served_store, served_backend

WORKERS = 4
MAX_IN_FLIGHT = 16
ANSWER_BUDGET = 64 * 1024 * 1024
DEFAULT_IDLE_TIMEOUT = 300.0
_MAX_INT = 2**63 - 1


@dataclass
class ServeOptions:
    restrict_to_paths: list[str] = field(default_factory=list)
    restrict_to_repositories: list[str] = field(default_factory=list)
    permissions: str = "all"
    # The name stamped on every archive that arrives (`serve --client`).
    client: str | None = None
    # A silent client is dropped after this many seconds (None: never).
    idle_timeout: float | None = DEFAULT_IDLE_TIMEOUT
    storage_quota: int | None = None  # bytes the repository may hold (None: no limit)
    # Pull mode: the server chose the repository (the client's request is
    # ignored) and may hand the client the passphrase with its hello.
    repository: str | None = None
    passphrase: str | None = None
    key: bytes | None = None  # a keyfile key (sealed), handed over like the passphrase
    # Object storage (s3://BUCKET[/PREFIX]) that repository paths name
    # objects below, instead of folders of this machine's file system.
    store_root: str | None = None
    # Told while that storage keeps failing and calls are retried (the
    # server's stderr reaches the client).
    on_retry: Callable[[str], None] | None = None


def _real(path: str) -> str:
    return os.path.realpath(os.path.expanduser(path))


def _lexical(path: str) -> str:
    """A path below --store-root: nothing on this machine's disk can redirect it."""
    return os.path.normpath(os.path.abspath(os.path.expanduser(path)))


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def check_restrictions(real: str, options: ServeOptions, shown: str) -> None:
    """PermissionDenied unless the resolved path `real` is allowed."""
    resolve = _lexical if options.store_root else _real
    if options.restrict_to_repositories and not any(
        real == resolve(r) for r in options.restrict_to_repositories
    ):
        raise PermissionDenied(f"{shown} is not an accessible repository")
    if options.restrict_to_paths and not any(
        _within(real, resolve(p)) for p in options.restrict_to_paths
    ):
        raise PermissionDenied(f"{shown} is not inside the accessible paths")


def resolve_repository(requested, options: ServeOptions) -> str:
    """The real path of the requested repository, if the restrictions allow it."""
    if not isinstance(requested, str) or not requested or "\0" in requested:
        raise UsageError("the client named no valid repository path")
    real = (_lexical if options.store_root else _real)(requested)
    check_restrictions(real, options, requested)
    return real


# method: (min args, max args, allowed types per argument)
_METHODS = {
    "exists": (0, 0, ()),
    "create": (0, 0, ()),
    "destroy": (0, 0, ()),
    "put": (1, 2, (str, bool)),  # the data is the payload
    "get": (1, 3, (str, int, (int, type(None)))),
    "delete": (1, 1, (str,)),
    "info": (1, 1, (str,)),
    "list": (1, 1, (str,)),
    "leftovers": (0, 1, ((int, float, type(None)),)),  # may remove: not one of _READS
}
_READS = ("get", "info", "list", "exists")


def _check_args(method: str, args) -> list:
    """Validate argument types and ranges: the client is not trusted."""
    if not isinstance(args, list):
        raise UsageError("malformed request arguments")
    low, high, types = _METHODS[method]
    if not low <= len(args) <= high:
        raise UsageError(f"wrong number of arguments for {method}")
    for value, allowed in zip(args, types, strict=False):
        if isinstance(value, bool) != (allowed is bool) or not isinstance(value, allowed):
            raise UsageError(f"malformed argument for {method}")
    if method == "get":
        offset = args[1] if len(args) > 1 else 0
        length = args[2] if len(args) > 2 else None
        if not 0 <= offset <= _MAX_INT:
            raise UsageError("offset out of range")
        if length is not None and not 0 <= length <= protocol.MAX_FRAME:
            raise UsageError(f"length out of range (at most {protocol.MAX_FRAME} bytes at once)")
    if method == "leftovers" and args and args[0] is not None and not args[0] >= 0:
        raise UsageError("negative age")
    return args


class _Budget:
    """Bytes of answers in flight; the reader waits while they exceed the
    budget (one answer larger than the budget runs alone)."""

    def __init__(self, limit: int):
        self.limit = limit
        self.used = 0
        self._cond = threading.Condition()

    def acquire(self, amount: int) -> None:
        with self._cond:
            while self.used and self.used + amount > self.limit:
                self._cond.wait()
            self.used += amount

    def release(self, amount: int) -> None:
        with self._cond:
            self.used -= amount
            self._cond.notify_all()


class Session:
    """reader: the connection's incoming bytes (its timeout is set to the
    idle timeout); write(data): sends, raising OSError (TimeoutError
    included) when the client is gone or stopped reading."""

    def __init__(self, options: ServeOptions, reader: protocol.StreamReader, write):
        self.options = options
        self.reader = reader
        self.write = write
        self.store: Store | None = None
        self.witness: ArrivalStore | None = None
        self.started = time.monotonic()
        self.requests = 0
        self._backend: Store | None = None
        self._is_repo = False
        self._write_failed = False
        self._budget = _Budget(ANSWER_BUDGET)

    def run(self) -> None:
        try:
            store = self._handshake()
            if store is not None:
                self._serve(store)
        except (protocol.ProtocolError, TimeoutError, OSError):
            pass  # the client is gone, silent, or talks nonsense: end the session
        finally:
            if self.store is not None:
                self.store.close()

    def committed_archives(self) -> list[str]:
        """Names of the archive entries that arrived in this session."""
        if self.witness is None:
            return []
        return [n for n in self.witness.arrived if n.startswith("archives/")]

    def _read_request(self) -> dict | None:
        self.reader.timeout = self.options.idle_timeout
        return protocol.read_frame(self.reader, request=True)

    def _reply(self, message: dict) -> None:
        try:
            parts = protocol.encode_parts(message)
        except (StoreError, ValueError, TypeError, OverflowError):
            error = StoreError("the answer exceeds the protocol limit; ask for less at once")
            parts = protocol.encode_parts(
                {"i": message.get("i"), "e": protocol.error_to_wire(error)}
            )
        for part in parts:
            if part:
                self.write(part)

    def _handshake(self) -> Store | None:
        """Answer the hello; the store to serve, or None where the session ends."""
        hello = self._read_request()
        if hello is None:
            return None
        if hello.get("hello") != "hutch":
            raise protocol.ProtocolError("not a hutch client")
        versions = hello.get("versions")
        common = [v for v in protocol.VERSIONS if isinstance(versions, list) and v in versions]
        if not common:
            message = (
                f"protocol versions differ: the client speaks {str(versions)[:100]}, this "
                f"server (hutch {__version__}) speaks {list(protocol.VERSIONS)}; "
                "install matching hutch versions"
            )
            self._reply({"error": {"type": "UsageError", "msg": message}})
            return None
        try:
            path = self.options.repository or resolve_repository(hello.get("repo"), self.options)
            self._backend = served_backend(path, self.options.store_root, self.options.on_retry)
            self._pin()
            store, self.witness = open_served_store(
                self._backend,
                self.options.permissions,
                self.options.client,
                self.options.storage_quota,
            )
            now = store.now()
        except HutchError as e:
            self._reply({"error": protocol.error_to_wire(e)})
            return None
        self.store = store
        answer = {"version": max(common), "server": __version__, "now": now}
        if self.options.passphrase is not None:
            answer["passphrase"] = self.options.passphrase
        if self.options.key is not None:
            answer["key"] = self.options.key
        if self.options.storage_quota is not None:
            answer["quota"] = self.options.storage_quota
        self._reply(answer)
        return store

    def _pin(self) -> None:
        """Hold the repository folder open from now on, and check that what
        was opened is what the restrictions allowed (not a symlink swapped
        in since the check). A folder that does not exist yet is pinned
        when the client creates it. (Object storage has no folders to swap.)"""
        if not isinstance(self._backend, LocalStore):
            return
        try:
            opened = self._backend.pin()
        except FileNotFoundError:
            return
        except OSError as e:
            raise StoreError(f"cannot open {self._backend.root}: {e.strerror}") from None
        if self.options.repository is None and opened != self._backend.root:
            raise PermissionDenied(f"{self._backend.root} changed while it was opened; try again")
        check_restrictions(opened, self.options, self._backend.root)

    def _answer(self, store: Store, request: dict) -> dict:
        """The answer to one request: a result or an error, never an exception."""
        rid = request.get("i")
        try:
            # No payload is an empty one: a zero-length payload is not sent.
            result = self._call(
                store, request.get("m"), request.get("a", []), request.get("b", b"")
            )
            if isinstance(result, bytes):
                return {"i": rid, "b": result}
            return {"i": rid, "r": result}
        except HutchError as e:
            return {"i": rid, "e": protocol.error_to_wire(e)}
        except Exception as e:  # a bug must cost one answer, never the session
            error = StoreError(f"the server failed on this request: {type(e).__name__}: {e}")
            return {"i": rid, "e": protocol.error_to_wire(error)}

    def _cost(self, store: Store, request: dict) -> int:
        """What answering a read may hold in memory until it is sent."""
        if request.get("m") != "get":
            return 64 * 1024
        args = request.get("a")
        # A malformed request is checked, and refused, when it is answered.
        if not isinstance(args, list) or not args:
            return protocol.MAX_FRAME
        if len(args) > 2 and isinstance(args[2], int):
            return max(0, min(args[2], protocol.MAX_FRAME))
        try:  # a whole object: as large as it is
            return min(store.info(args[0]).size, protocol.MAX_FRAME)
        except Exception:
            return protocol.MAX_FRAME

    def _serve(self, store: Store) -> None:
        """Reads run in a few threads and changes in one, each after what
        came before it; answers go out in request order. The next request
        is read while a change is carried out (a pack arrives while the one
        before goes to disk), never more than one change ahead."""
        answers: queue.Queue = queue.Queue(maxsize=MAX_IN_FLIGHT)
        writer = threading.Thread(target=self._write_answers, args=(answers,), daemon=True)
        writer.start()
        in_flight: list[Future] = []
        last_change: Future | None = None
        with (
            ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="serve") as pool,
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="serve-change") as changes,
        ):
            try:
                while not self._write_failed:
                    request = self._read_request()
                    if request is None:
                        break
                    if not isinstance(request.get("i"), int):
                        raise protocol.ProtocolError("a request without an id")
                    self.requests += 1
                    method = request.get("m")
                    if isinstance(method, str) and method in _READS:
                        # A read sees every change that came before it.
                        cost = self._cost(store, request)
                        self._budget.acquire(cost)
                        before = [last_change] if last_change is not None else []
                        future = pool.submit(self._answer_after, before, store, request)
                    else:
                        # A change runs after everything that came before it
                        # and before what comes after: the order a client sees.
                        if last_change is not None:
                            wait([last_change])
                        cost = 0
                        future = changes.submit(self._answer_after, in_flight, store, request)
                        last_change = future
                    in_flight = [f for f in in_flight if not f.done()] + [future]
                    answers.put((future, cost))
            finally:
                answers.put(None)
                writer.join()

    def _answer_after(self, before: list[Future], store: Store, request: dict) -> dict:
        wait(before)
        return self._answer(store, request)

    def _write_answers(self, answers: queue.Queue) -> None:
        while (entry := answers.get()) is not None:
            future, cost = entry
            try:
                if not self._write_failed:
                    self._reply(future.result())
            except OSError:
                self._write_failed = True  # the client is gone; the reader sees EOF next
            finally:
                self._budget.release(cost)

    def _call(self, store: Store, method, args, payload):
        if not isinstance(method, str) or method not in _METHODS:
            raise UsageError(f"unknown method {str(method)[:50]!r}")
        args = _check_args(method, args)
        if method == "exists":
            return store.exists()
        if method == "create":
            store.create()
            self._pin()
            self._is_repo = True
            # What creating found out about the storage (object storage that
            # ignores conditional writes), for the client to tell its user.
            return {"write_once": store.write_once_enforced}
        if method == "destroy":
            if not store.exists():
                raise UsageError(f"no repository at {store.location}")
            store.destroy()
            self._is_repo = False
            return None
        if not self._is_repo:
            # Only a repository is served: never write into any other folder.
            if not store.exists():
                raise UsageError(f"no repository at {store.location}")
            self._is_repo = True
        if method == "put":
            return store.put(args[0], payload, *args[1:])
        if method == "get":
            return store.get(*args)
        if method == "delete":
            return store.delete(*args)
        if method == "info":
            info = store.info(*args)
            return [info.name, info.size]
        if method == "leftovers":
            return [[x.name, x.size, x.age, x.removed] for x in store.leftovers(*args)]
        return [[i.name, i.size] for i in store.list(*args)]
