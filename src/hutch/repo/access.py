"""Asking, before a command changes anything, whether this client may
delete: a server with permissions other than `all` refuses deletes, and a
command that would first write and then fail to delete must not start."""

import os

from ..errors import ObjectNotFound, PermissionDenied
from ..store.base import Store


def require_delete_permission(store: Store, command: str) -> None:
    """Raise PermissionDenied (one clear line) unless deleting is allowed.

    Deletes a name that cannot exist: a store that may delete answers
    ObjectNotFound, a restricted one refuses before looking."""
    try:
        store.delete(f"deleted/{os.urandom(32).hex()}")
    except ObjectNotFound:
        return
    except PermissionDenied as e:
        raise PermissionDenied(
            f"permission denied: '{command}' deletes data, and this repository does not let "
            f"this client delete ({e}); run it where the repository is served with "
            "permissions 'all'"
        ) from None
