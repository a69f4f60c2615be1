"""What the server verifies about a client's requests without the key.

The server stacks this wrapper for every client: each name must be the one
canonical spelling of an object's name (schema.py), so that no two names
alias one object; a content-addressed object (a pack, an index segment)
must hash to its name, so that no client can plant bytes under the name
of a genuine pack; an archive object must carry its published part, and a
reference list must be one (published.py), so that what the server reads
for keyless maintenance parses; and listings show canonical objects only.
"""

from ..errors import StoreError, UsageError
from .base import ObjectInfo
from .published import Malformed, split_archive_object, unpack_refs
from .schema import CONTENT_ADDRESSED, content_name, is_canonical
from .wrapper import StoreWrapper


class ContentMismatch(StoreError):
    """A content-addressed object's bytes do not hash to its name."""


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not is_canonical(name):
        raise UsageError(f"invalid object name {name!r}: not a repository object's name")
    return name


class ValidatingStore(StoreWrapper):
    def put(self, name: str, data: bytes | bytearray, overwrite: bool = False) -> None:
        namespace = _check_name(name).split("/", 1)[0]
        if namespace in CONTENT_ADDRESSED and content_name(data) != name.split("/", 1)[1]:
            raise ContentMismatch(f"refused {name}: its content does not hash to its name")
        try:
            if namespace in ("archives", "deleted"):
                split_archive_object(data)
            elif namespace == "refs":
                unpack_refs(data)
        except Malformed as e:
            raise UsageError(f"refused {name}: {e}") from None
        self.inner.put(name, data, overwrite)

    def get(self, name: str, offset: int = 0, length: int | None = None) -> bytes | bytearray:
        return self.inner.get(_check_name(name), offset, length)

    def get_many(self, requests):
        for name, _, _ in requests:
            _check_name(name)
        return self.inner.get_many(requests)

    def delete(self, name: str) -> None:
        self.inner.delete(_check_name(name))

    def info(self, name: str) -> ObjectInfo:
        return self.inner.info(_check_name(name))

    def list(self, namespace: str) -> list[ObjectInfo]:
        return [i for i in self.inner.list(namespace) if is_canonical(i.name)]
