"""Base of the store wrappers: passes every call to the store it wraps."""

import builtins

from .base import Leftover, ObjectInfo, Store


class StoreWrapper(Store):
    def __init__(self, inner: Store):
        self.inner = inner

    @property
    def location(self) -> str:
        return self.inner.location

    @property
    def parallel_puts(self) -> int:
        return self.inner.parallel_puts

    @property
    def write_once_enforced(self) -> bool:
        return self.inner.write_once_enforced

    def now(self) -> float:
        return self.inner.now()

    def exists(self) -> bool:
        return self.inner.exists()

    def create(self) -> None:
        self.inner.create()

    def destroy(self) -> None:
        self.inner.destroy()

    def put(self, name: str, data: bytes | bytearray, overwrite: bool = False) -> None:
        self.inner.put(name, data, overwrite)

    def get(self, name: str, offset: int = 0, length: int | None = None) -> bytes | bytearray:
        return self.inner.get(name, offset, length)

    def get_many(self, requests):
        return self.inner.get_many(requests)

    def delete(self, name: str) -> None:
        self.inner.delete(name)

    def info(self, name: str) -> ObjectInfo:
        return self.inner.info(name)

    def list(self, namespace: str) -> list[ObjectInfo]:
        return self.inner.list(namespace)

    def leftovers(self, remove_older_than: float | None = None) -> builtins.list[Leftover]:
        return self.inner.leftovers(remove_older_than)

    def close(self) -> None:
        self.inner.close()
