"""A fault-injecting store wrapper for tests: raise, truncate, flip a byte,
add latency, by rule (method, name prefix, nth matching call)."""

import builtins
import time
from dataclasses import dataclass

from ..errors import StoreError
from .base import ObjectInfo, Store
from .wrapper import StoreWrapper


class InjectedFault(StoreError):
    """Raised by a `raise` rule."""


@dataclass
class FaultRule:
    method: str  # "put", "get", "delete", "list", "info"
    prefix: str = ""  # applies to names starting with this
    nth: int = 1  # the first matching call that faults (1-based)
    times: int = 1  # how many consecutive matching calls fault; 0 = forever
    action: str = "raise"  # raise | truncate | flip | latency
    seconds: float = 0.0
    seen: int = 0

    def fires(self, method: str, name: str) -> bool:
        if method != self.method or not name.startswith(self.prefix):
            return False
        self.seen += 1
        if self.seen < self.nth:
            return False
        return self.times == 0 or self.seen < self.nth + self.times


class FaultStore(StoreWrapper):
    def __init__(self, inner: Store, rules: list[FaultRule]):
        super().__init__(inner)
        self.rules = rules

    def _apply(self, method: str, name: str, data: bytes | bytearray = b"") -> bytes | bytearray:
        for rule in self.rules:
            if not rule.fires(method, name):
                continue
            if rule.action == "raise":
                raise InjectedFault(f"injected fault: {method} {name}")
            if rule.action == "latency":
                time.sleep(rule.seconds)
            elif rule.action == "truncate":
                data = data[: len(data) // 2]
            elif rule.action == "flip" and data:
                i = len(data) // 2
                data = data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1 :]
        return data

    def put(self, name: str, data: bytes | bytearray, overwrite: bool = False) -> None:
        data = self._apply("put", name, data)
        self.inner.put(name, data, overwrite)

    def get(self, name: str, offset: int = 0, length: int | None = None) -> bytes | bytearray:
        return self._apply("get", name, self.inner.get(name, offset, length))

    def get_many(
        self, requests: builtins.list[tuple[str, int, int | None]]
    ) -> builtins.list[bytes | bytearray]:
        return [self.get(*r) for r in requests]

    def delete(self, name: str) -> None:
        self._apply("delete", name)
        self.inner.delete(name)

    def info(self, name: str) -> ObjectInfo:
        self._apply("info", name)
        return self.inner.info(name)

    def list(self, namespace: str) -> builtins.list[ObjectInfo]:
        self._apply("list", namespace)
        return self.inner.list(namespace)
