"""Retrying transient store errors as a store wrapper.

A call that fails with `StoreUnavailable` (a server error, throttling, a
timeout, a dropped connection) is tried again after a growing, jittered
delay, until `total_seconds` have passed since the call began; then the
last error goes up with the time spent. Every other error is permanent and
goes up at once.

Retrying is safe because every store call is idempotent but two, and
those two are settled here: a put whose earlier try may have reached the
store finds its own object there (`ObjectExists` with the same bytes is
success), and a delete whose earlier try may have removed the object finds
it gone (`ObjectNotFound` is success).
"""

import random
import time
from collections.abc import Callable

from ..errors import ObjectExists, ObjectNotFound, StoreUnavailable
from .wrapper import StoreWrapper

FIRST_DELAY = 0.1
MAX_DELAY = 15.0
# A blip that passes within seconds goes unmentioned; an outage is told at
# once after that and then now and then, so a wait is never a silent one.
REPORT_AFTER = 5.0
REPORT_EVERY = 30.0


class RetryStore(StoreWrapper):
    """report: told (one line) while calls keep failing and are retried."""

    def __init__(
        self,
        inner,
        total_seconds: float = 300.0,
        sleep=time.sleep,
        clock=time.monotonic,
        report: Callable[[str], None] | None = None,
    ):
        super().__init__(inner)
        self.total_seconds = total_seconds
        self._sleep = sleep
        self._clock = clock
        self._report = report
        self._quiet_until = 0.0

    def _retry(self, call, *args, failed: list | None = None):
        """call(*args), retried on StoreUnavailable; each failure is appended to `failed`."""
        start = self._clock()
        delay = FIRST_DELAY
        tries = 0
        while True:
            tries += 1
            try:
                return call(*args)
            except StoreUnavailable as e:
                if failed is not None:
                    failed.append(e)
                spent = self._clock() - start
                wait = delay * (0.5 + random.random())
                if spent + wait > self.total_seconds:
                    raise StoreUnavailable(
                        f"{e} (gave up after {tries} tries in {spent:.0f} s; check the network "
                        f"and the service at {self.location}, then run the command again)"
                    ) from e
                self._tell(e, spent, wait)
                self._sleep(wait)
                delay = min(delay * 2, MAX_DELAY)

    def _tell(self, error: StoreUnavailable, spent: float, wait: float) -> None:
        if self._report is None or spent + wait < REPORT_AFTER:
            return
        now = self._clock()
        if now < self._quiet_until:
            return
        self._quiet_until = now + REPORT_EVERY
        self._report(
            f"{error}; retrying for up to {self.total_seconds - spent:.0f} s more "
            "(interrupt to stop; nothing is committed until the command ends)"
        )

    def now(self):
        return self._retry(self.inner.now)

    def exists(self):
        return self._retry(self.inner.exists)

    def create(self):
        return self._retry(self.inner.create)

    def destroy(self):
        return self._retry(self.inner.destroy)

    def put(self, name, data, overwrite=False):
        failed: list = []
        try:
            self._retry(self.inner.put, name, data, overwrite, failed=failed)
        except ObjectExists:
            # An earlier try may have stored it and lost only the answer.
            if not failed or self._retry(self.inner.get, name) != bytes(data):
                raise

    def get(self, name, offset=0, length=None):
        return self._retry(self.inner.get, name, offset, length)

    def get_many(self, requests):
        return self._retry(self.inner.get_many, requests)

    def delete(self, name):
        failed: list = []
        try:
            self._retry(self.inner.delete, name, failed=failed)
        except ObjectNotFound:
            if not failed:
                raise

    def info(self, name):
        return self._retry(self.inner.info, name)

    def list(self, namespace):
        return self._retry(self.inner.list, namespace)
