"""A store in memory, for tests and for dry runs."""

import builtins
import threading

from ..errors import ObjectExists, ObjectNotFound, RepositoryExists, StoreError
from .base import NAMESPACES, Leftover, ObjectInfo, Store, split_name


class MemoryStore(Store):
    def __init__(self, name: str = "memory"):
        self._name = name
        self._objects: dict[str, bytes] | None = None
        self._lock = threading.Lock()

    @property
    def location(self) -> str:
        return f"memory:{self._name}"

    def exists(self) -> bool:
        return self._objects is not None

    def create(self) -> None:
        if self._objects is not None:
            raise RepositoryExists("memory store exists")
        self._objects = {}

    def destroy(self) -> None:
        self._objects = None

    def _objs(self) -> dict[str, bytes]:
        if self._objects is None:
            raise StoreError("memory store does not exist")
        return self._objects

    def put(self, name: str, data: bytes | bytearray, overwrite: bool = False) -> None:
        split_name(name)
        with self._lock:
            objs = self._objs()
            if not overwrite and name in objs:
                raise ObjectExists(f"object {name} exists")
            objs[name] = bytes(data)

    def get(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        split_name(name)
        try:
            data = self._objs()[name]
        except KeyError as e:
            raise ObjectNotFound(f"object {name} not found") from e
        end = None if length is None else offset + length
        return data[offset:end]

    def delete(self, name: str) -> None:
        split_name(name)
        with self._lock:
            try:
                del self._objs()[name]
            except KeyError as e:
                raise ObjectNotFound(f"object {name} not found") from e

    def info(self, name: str) -> ObjectInfo:
        split_name(name)
        try:
            return ObjectInfo(name, len(self._objs()[name]))
        except KeyError as e:
            raise ObjectNotFound(f"object {name} not found") from e

    def list(self, namespace: str) -> list[ObjectInfo]:
        if namespace not in NAMESPACES:
            raise StoreError(f"unknown namespace {namespace!r}")
        prefix = namespace + "/"
        with self._lock:
            return [ObjectInfo(n, len(d)) for n, d in self._objs().items() if n.startswith(prefix)]

    def leftovers(self, remove_older_than: float | None = None) -> builtins.list[Leftover]:
        self._objs()
        return []  # a put here is one assignment: nothing is ever left behind
