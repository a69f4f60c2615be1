"""`open_store`: the one place that turns a repository location into a
store and stacks the wrappers on it."""

from ..errors import UsageError
from .base import Store
from .local import LocalStore
from .permissions import PermissionStore


def open_store(location: str, permissions: str = "all") -> Store:
    """Open the store at `location` (a path or file:// URL).

    Wrappers, outermost first: permissions.
    """
    if location.startswith("file://"):
        store: Store = LocalStore(location[len("file://") :])
    elif "://" in location:
        scheme = location.split("://", 1)[0]
        raise UsageError(f"repository URLs of type {scheme}:// are not supported yet")
    else:
        store = LocalStore(location)
    if permissions != "all":
        store = PermissionStore(store, permissions)
    return store
