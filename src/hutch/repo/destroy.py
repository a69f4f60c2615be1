"""Deleting a whole repository, object by object, through the store API
(so it works on every backend and a server's permissions apply).

Archives go first and the config last: if this is interrupted, what is
left is still a repository (without archives), and deleting it again
finishes the job. No key is needed -- only the permission to delete."""

from ..errors import ObjectNotFound
from ..store.base import Store

ORDER = ("archives", "deleted", "index", "packs", "keys", "config", "locks")


def delete_all_objects(store: Store, keep: tuple[str, ...] = ()) -> int:
    """Delete every object but those named in `keep` (our own lock); the count."""
    count = 0
    for namespace in ORDER:
        for info in store.list(namespace):
            if info.name in keep:
                continue
            try:
                store.delete(info.name)
                count += 1
            except ObjectNotFound:
                pass
    return count
