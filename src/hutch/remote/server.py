"""The server side of `hutch serve`: one session per client connection.

A session reads the hello, checks the requested repository against the
restrictions (on the resolved real path), opens the store through
`open_served_store` (permissions, lock ownership) and answers requests
until the client goes away. Whatever happens, closing the session closes
the store, which removes the client's locks.
"""

import os
import queue
import threading
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from .. import __version__
from ..errors import HutchError, PermissionDenied, UsageError
from ..store.base import Store
from . import protocol
from .open import open_served_store

WORKERS = 4
MAX_IN_FLIGHT = 16


@dataclass
class ServeOptions:
    restrict_to_paths: list[str] = field(default_factory=list)
    restrict_to_repositories: list[str] = field(default_factory=list)
    permissions: str = "all"
    # Pull mode: the server chose the repository (the client's request is
    # ignored) and may hand the client the passphrase with its hello.
    repository: str | None = None
    passphrase: str | None = None
    key: bytes | None = None  # a keyfile key (sealed), handed over like the passphrase


def _real(path: str) -> str:
    return os.path.realpath(os.path.expanduser(path))


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def resolve_repository(requested: str, options: ServeOptions) -> str:
    """The real path of the requested repository, if the restrictions allow it."""
    if not isinstance(requested, str) or not requested or "\0" in requested:
        raise UsageError("the client named no valid repository path")
    real = _real(requested)
    if options.restrict_to_repositories and not any(
        real == _real(r) for r in options.restrict_to_repositories
    ):
        raise PermissionDenied(f"{requested} is not an accessible repository")
    if options.restrict_to_paths and not any(
        _within(real, _real(p)) for p in options.restrict_to_paths
    ):
        raise PermissionDenied(f"{requested} is not inside the accessible paths")
    return real


def _check_args(method: str, args) -> list:
    """Validate argument types: the client is not trusted."""
    if not isinstance(args, list):
        raise UsageError("malformed request arguments")
    low, high, types = _METHODS[method]
    if not low <= len(args) <= high:
        raise UsageError(f"wrong number of arguments for {method}")
    for value, allowed in zip(args, types, strict=False):
        if isinstance(value, bool) != (allowed is bool) or not isinstance(value, allowed):
            raise UsageError(f"malformed argument for {method}")
    if method == "get" and any(isinstance(v, int) and v < 0 for v in args[1:]):
        raise UsageError("negative offset or length")
    if method == "leftovers" and args and args[0] is not None and not args[0] >= 0:
        raise UsageError("negative age")
    return args


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


class Session:
    def __init__(self, options: ServeOptions, read_exactly, write):
        self.options = options
        self.read_exactly = read_exactly
        self.write = write
        self.store: Store | None = None
        self._is_repo = False
        self._write_failed = False

    def run(self) -> None:
        try:
            if self._handshake():
                self._serve()
        except (protocol.ProtocolError, BrokenPipeError, ConnectionError, OSError):
            pass  # the client is gone or talks nonsense: end the session
        finally:
            if self.store is not None:
                self.store.close()

    def _reply(self, message: dict) -> None:
        for part in protocol.encode_parts(message):
            if part:
                self.write(part)

    def _handshake(self) -> bool:
        hello = protocol.read_frame(self.read_exactly)
        if hello is None:
            return False
        if hello.get("hello") != "hutch":
            raise protocol.ProtocolError("not a hutch client")
        versions = hello.get("versions")
        common = [v for v in protocol.VERSIONS if isinstance(versions, list) and v in versions]
        if not common:
            message = (
                f"protocol versions differ: the client speaks {versions}, this server "
                f"(hutch {__version__}) speaks {list(protocol.VERSIONS)}; "
                "install matching hutch versions"
            )
            self._reply({"error": {"type": "UsageError", "msg": message}})
            return False
        try:
            path = self.options.repository or resolve_repository(hello.get("repo"), self.options)
            self.store = open_served_store(path, self.options.permissions)
        except HutchError as e:
            self._reply({"error": protocol.error_to_wire(e)})
            return False
        answer = {"version": max(common), "server": __version__}
        if self.options.passphrase is not None:
            answer["passphrase"] = self.options.passphrase
        if self.options.key is not None:
            answer["key"] = self.options.key
        self._reply(answer)
        return True

    def _answer(self, request: dict) -> dict:
        rid = request.get("i")
        try:
            # No payload is an empty one: a zero-length payload is not sent.
            result = self._call(request.get("m"), request.get("a", []), request.get("b", b""))
            if isinstance(result, bytes):
                return {"i": rid, "b": result}
            return {"i": rid, "r": result}
        except HutchError as e:
            return {"i": rid, "e": protocol.error_to_wire(e)}

    def _serve(self) -> None:
        """Reads run in a few threads; answers go out in request order."""
        answers: queue.Queue = queue.Queue(maxsize=MAX_IN_FLIGHT)
        writer = threading.Thread(target=self._write_answers, args=(answers,), daemon=True)
        writer.start()
        in_flight: list[Future] = []
        with ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="serve") as pool:
            try:
                while not self._write_failed:
                    request = protocol.read_frame(self.read_exactly)
                    if request is None:
                        break
                    if request.get("m") in _READS:
                        future = pool.submit(self._answer, request)
                    else:
                        # A change waits for what came before it and runs
                        # before what comes after: the order a client sees.
                        wait(in_flight)
                        future = Future()
                        future.set_result(self._answer(request))
                    in_flight = [f for f in in_flight if not f.done()] + [future]
                    answers.put(future)
            finally:
                answers.put(None)
                writer.join()

    def _write_answers(self, answers: queue.Queue) -> None:
        while (future := answers.get()) is not None:
            if self._write_failed:
                continue
            try:
                self._reply(future.result())
            except OSError:
                self._write_failed = True  # the client is gone; the reader sees EOF next

    def _call(self, method, args, payload):
        if method not in _METHODS:
            raise UsageError(f"unknown method {method!r}")
        args = _check_args(method, args)
        store = self.store
        if method == "exists":
            return store.exists()
        if method == "create":
            store.create()
            self._is_repo = True
            return None
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
            return store.put(args[0], bytes(payload), *args[1:])
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
