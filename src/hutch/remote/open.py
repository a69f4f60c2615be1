"""`open_store`: the one place that turns a repository location into a
store and stacks the wrappers on it, for clients and for the server."""

import os
import posixpath
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import UsageError
from ..store.arrivals import ArrivalStore
from ..store.base import Store
from ..store.local import LocalStore
from ..store.lockowner import LockOwnerStore
from ..store.permissions import PermissionStore, check_mode
from ..store.quota import QuotaStore
from ..store.retry import RetryStore
from ..store.validating import ValidatingStore
from .urls import Location, parse_location


@dataclass
class RemoteOptions:
    """How a client reaches `hutch serve` or object storage."""

    rsh: str | None = None  # default: HUTCH_RSH, then "ssh"
    remote_path: str | None = None  # default: HUTCH_REMOTE_PATH, then "hutch"
    socket_path: str | None = None  # for socket:// (default: HUTCH_SOCKET or the standard one)
    serve_options: tuple[str, ...] = ()  # allowlisted options passed to serve (log level)
    # Told each line the server writes on stderr (raw: the caller makes it printable).
    on_remote_line: Callable[[str], None] | None = None
    # Told while object storage keeps failing and calls are retried.
    on_retry: Callable[[str], None] | None = None


def open_store(location: str, remote: RemoteOptions | None = None) -> Store:
    """A client's store for `location`: a local folder or a remote server."""
    loc = parse_location(location)
    if loc.scheme == "file":
        # This process is the one that writes: it witnesses what arrives.
        return ArrivalStore(LocalStore(loc.path))
    if loc.scheme == "s3":
        return ArrivalStore(_s3_store(loc, remote.on_retry if remote else None))
    from .client import RemoteStore  # with its subprocess and sockets: remote ones only

    return RemoteStore.connect(loc, remote or RemoteOptions())


def _seconds(variable: str, default: float) -> float:
    text = os.environ.get(variable)
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise UsageError(f"{variable}={text!r} is not a number of seconds above 0")
    return value


def _s3_store(loc: Location, on_retry: Callable[[str], None] | None = None) -> Store:
    """Object storage, its transient errors retried (store/retry.py)."""
    # Imported here on purpose: botocore adds a fifth of a second to every
    # start of hutch, which only s3:// locations should pay.
    from ..store.s3 import S3Store

    store = S3Store(loc.host, loc.path, timeout=_seconds("HUTCH_S3_TIMEOUT", 60.0))
    return RetryStore(
        store, total_seconds=_seconds("HUTCH_S3_RETRY_SECONDS", 300.0), report=on_retry
    )


def check_store_root(url: str) -> Location:
    """The location of `hutch serve --store-root URL`."""
    loc = parse_location(url)
    if loc.scheme != "s3":
        raise UsageError(f"--store-root takes an s3://BUCKET[/PREFIX] URL, not {url!r}")
    return loc


def served_backend(
    path: str,
    store_root: str | None = None,
    on_retry: Callable[[str], None] | None = None,
) -> Store:
    """Where a server keeps the repository `path`: a local folder, or below
    the object storage `store_root` (path absolute and normalised)."""
    if not store_root:
        return LocalStore(path)
    loc = check_store_root(store_root)
    relative = posixpath.normpath(path).strip("/")
    try:
        sub = parse_location(f"s3://{loc.host}/{loc.path}/{relative}")
    except UsageError:
        raise UsageError(
            f"{path} cannot name a repository in object storage: use folder names of "
            "letters, digits and !_.*'()-"
        ) from None
    return _s3_store(sub, on_retry)


def open_served_store(
    backend: Store, permissions: str, client: str | None = None, quota: int | None = None
) -> tuple[Store, ArrivalStore]:
    """The store a server hands one client, innermost first: the backend
    (served_backend); the arrival records (the server's witness); names and
    content checked; the storage quota; permissions; lock ownership
    (outermost), so every call passes every check. Also returns the
    witness, which knows what arrived."""
    everything = check_mode(permissions) == "all"
    witness = ArrivalStore(backend, client, may_reuse_ids=everything)
    store: Store = ValidatingStore(witness)
    if quota is not None:
        store = QuotaStore(store, quota)
    if not everything:
        store = PermissionStore(store, permissions)
    return LockOwnerStore(store, may_break_locks=everything), witness
