"""`open_store`: the one place that turns a repository location into a
store and stacks the wrappers on it, for clients and for the server."""

from collections.abc import Callable
from dataclasses import dataclass

from ..store.arrivals import ArrivalStore
from ..store.base import Store
from ..store.local import LocalStore
from ..store.lockowner import LockOwnerStore
from ..store.permissions import PermissionStore, check_mode
from ..store.quota import QuotaStore
from ..store.validating import ValidatingStore
from .client import RemoteStore
from .urls import parse_location


@dataclass
class RemoteOptions:
    """How a client reaches `hutch serve`."""

    rsh: str | None = None  # default: HUTCH_RSH, then "ssh"
    remote_path: str | None = None  # default: HUTCH_REMOTE_PATH, then "hutch"
    socket_path: str | None = None  # for socket:// (default: HUTCH_SOCKET or the standard one)
    serve_options: tuple[str, ...] = ()  # allowlisted options passed to serve (log level)
    # Told each line the server writes on stderr (raw: the caller makes it printable).
    on_remote_line: Callable[[str], None] | None = None


def open_store(location: str, remote: RemoteOptions | None = None) -> Store:
    """A client's store for `location`: a local folder or a remote server."""
    loc = parse_location(location)
    if loc.scheme == "file":
        # This process is the one that writes: it witnesses what arrives.
        return ArrivalStore(LocalStore(loc.path))
    return RemoteStore.connect(loc, remote or RemoteOptions())


def open_served_store(
    backend: Store, permissions: str, client: str | None = None, quota: int | None = None
) -> tuple[Store, ArrivalStore]:
    """The store a server hands one client, innermost first: the backend;
    the arrival records (the server's witness); names and content checked;
    the storage quota; permissions; lock ownership (outermost), so every
    call passes every check. Also returns the witness, which knows what
    arrived."""
    everything = check_mode(permissions) == "all"
    witness = ArrivalStore(backend, client, may_reuse_ids=everything)
    store: Store = ValidatingStore(witness)
    if quota is not None:
        store = QuotaStore(store, quota)
    if not everything:
        store = PermissionStore(store, permissions)
    return LockOwnerStore(store, may_break_locks=everything), witness
