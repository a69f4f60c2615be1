"""`open_store`: the one place that turns a repository location into a
store and stacks the wrappers on it, for clients and for the server."""

from dataclasses import dataclass

from ..store.base import Store
from ..store.local import LocalStore
from ..store.lockowner import LockOwnerStore
from ..store.permissions import PermissionStore, check_mode
from .client import RemoteStore
from .urls import parse_location


@dataclass
class RemoteOptions:
    """How a client reaches `hutch serve`."""

    rsh: str | None = None  # default: HUTCH_RSH, then "ssh"
    remote_path: str | None = None  # default: HUTCH_REMOTE_PATH, then "hutch"
    socket_path: str | None = None  # for socket:// (default: HUTCH_SOCKET or the standard one)
    serve_options: tuple[str, ...] = ()  # allowlisted options passed to serve (log level)


def open_store(location: str, remote: RemoteOptions | None = None) -> Store:
    """A client's store for `location`: a local folder or a remote server."""
    loc = parse_location(location)
    if loc.scheme == "file":
        return LocalStore(loc.path)
    return RemoteStore.connect(loc, remote or RemoteOptions())


def open_served_store(path: str, permissions: str) -> Store:
    """The store a server hands one client: local folder, then permissions,
    then lock ownership (outermost), so every call passes every check."""
    store: Store = LocalStore(path)
    if check_mode(permissions) != "all":
        store = PermissionStore(store, permissions)
    return LockOwnerStore(store, may_break_locks=permissions == "all")
