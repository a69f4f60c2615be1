"""Transient errors are retried (store/retry.py), permanent ones are not:
against the real S3 server through a proxy that injects the faults, and
on the retry wrapper's own rules."""

import os

import pytest

from hutch.errors import ObjectExists, ObjectNotFound, StoreError, StoreUnavailable
from hutch.remote.open import open_store
from hutch.store.memory import MemoryStore
from hutch.store.retry import RetryStore
from hutch.store.wrapper import StoreWrapper

from ..s3proxy import FaultProxy, ProxyRule


@pytest.fixture
def proxy(s3, monkeypatch):
    """The S3 server behind a fault-injecting proxy; clients talk to the proxy."""
    proxy = FaultProxy(s3.port)
    monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.endpoint)
    monkeypatch.setenv("HUTCH_S3_TIMEOUT", "1")
    yield proxy
    proxy.stop()


@pytest.mark.parametrize("action", ["500", "503", "slow", "stall", "drop", "drop-after", "cut"])
def test_transient_faults_are_retried(s3, proxy, action):
    """Each fault twice or once per kind of request; "slow" answers within
    the timeout, which is waited for, not retried."""
    store = open_store(s3.url())
    store.create()
    data = os.urandom(300_000)
    seconds = 0.5 if action == "slow" else 3
    proxy.rules[:] = [
        ProxyRule("PUT", "/packs/", action=action, times=2, seconds=seconds),
        ProxyRule("GET", "/packs/", action=action, times=2, seconds=seconds),
        ProxyRule("HEAD", "/packs/", action=action, times=1, seconds=seconds),
        ProxyRule("GET", "list-type", action=action, times=1, seconds=seconds),
    ]
    store.put("packs/" + "ab" * 32, data)
    assert store.get("packs/" + "ab" * 32) == data
    assert store.get("packs/" + "ab" * 32, 1000, 10) == data[1000:1010]
    assert store.info("packs/" + "ab" * 32).size == len(data)
    assert [i.name for i in store.list("packs")] == ["packs/" + "ab" * 32]
    assert proxy.fired() >= 5
    store.close()


def test_lost_answer_to_a_delete_is_success(s3, proxy):
    store = open_store(s3.url())
    store.create()
    store.put("locks/mine", b"lock")
    proxy.rules[:] = [ProxyRule("DELETE", "/locks/", action="drop-after")]
    store.delete("locks/mine")
    with pytest.raises(ObjectNotFound):
        store.info("locks/mine")
    store.close()


def test_permanent_errors_stop_at_once(s3, proxy, monkeypatch):
    url = s3.url()
    open_store(url).create()
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong")
    store = open_store(url)
    with pytest.raises(StoreError, match="access denied") as raised:
        store.get("config/config")
    assert not isinstance(raised.value, StoreUnavailable)
    assert proxy.fired() == 0


def test_giving_up_after_the_time_limit(s3, proxy, monkeypatch):
    monkeypatch.setenv("HUTCH_S3_RETRY_SECONDS", "2")
    store = open_store(s3.url())
    proxy.rules[:] = [ProxyRule("", action="503", times=1000)]
    with pytest.raises(StoreUnavailable, match="gave up after"):
        store.exists()


class Flaky(StoreWrapper):
    """Fails the next `failures` calls of `method`, after doing the work
    when `lost_answer` (the request reached the store, the answer did not)."""

    def __init__(self, inner, method: str, failures: int, lost_answer: bool = False):
        super().__init__(inner)
        self.method, self.failures, self.lost_answer = method, failures, lost_answer
        self.calls = 0

    def _maybe_fail(self, method, work):
        if method != self.method:
            return work()
        self.calls += 1
        if self.failures:
            self.failures -= 1
            if self.lost_answer:
                work()
            raise StoreUnavailable("flaky")
        return work()

    def put(self, name, data, overwrite=False):
        return self._maybe_fail("put", lambda: self.inner.put(name, data, overwrite))

    def delete(self, name):
        return self._maybe_fail("delete", lambda: self.inner.delete(name))

    def get(self, name, offset=0, length=None):
        return self._maybe_fail("get", lambda: self.inner.get(name, offset, length))


def _retrying(flaky, seconds=60.0):
    return RetryStore(flaky, total_seconds=seconds, sleep=lambda s: None)


def _memory():
    store = MemoryStore()
    store.create()
    return store


def test_put_that_landed_before_its_answer_was_lost_succeeds():
    flaky = Flaky(_memory(), "put", 1, lost_answer=True)
    _retrying(flaky).put("archives/a", b"data")
    assert flaky.inner.get("archives/a") == b"data"


def test_put_finding_other_bytes_under_its_name_still_fails():
    inner = _memory()
    inner.put("archives/a", b"theirs")
    flaky = Flaky(inner, "put", 1)
    with pytest.raises(ObjectExists):
        _retrying(flaky).put("archives/a", b"mine")
    assert inner.get("archives/a") == b"theirs"


def test_object_exists_without_a_failure_is_not_second_guessed():
    inner = _memory()
    inner.put("archives/a", b"same")
    with pytest.raises(ObjectExists):
        _retrying(Flaky(inner, "put", 0)).put("archives/a", b"same")


def test_delete_of_a_missing_object_is_still_an_error():
    with pytest.raises(ObjectNotFound):
        _retrying(Flaky(_memory(), "delete", 0)).delete("locks/none")


def test_retries_are_bounded_in_time():
    now = [0.0]
    flaky = Flaky(_memory(), "get", 10_000)
    store = RetryStore(
        flaky,
        total_seconds=60,
        sleep=lambda s: now.__setitem__(0, now[0] + s),
        clock=lambda: now[0],
    )
    with pytest.raises(StoreUnavailable, match="gave up"):
        store.get("config/config")
    assert now[0] <= 60 and 5 < flaky.calls < 100


def test_the_clock_of_a_missing_bucket_names_the_bucket(s3):
    store = open_store("s3://no-such-bucket-here/repo")
    with pytest.raises(StoreError, match="bucket 'no-such-bucket-here' does not exist"):
        store.now()


def _clocked(flaky, reports, seconds=300):
    now = [0.0]
    store = RetryStore(
        flaky,
        total_seconds=seconds,
        sleep=lambda s: now.__setitem__(0, now[0] + s),
        clock=lambda: now[0],
        report=reports.append,
    )
    return store, now


def test_a_blip_that_passes_is_not_reported():
    reports: list = []
    store, _ = _clocked(Flaky(_memory(), "get", 3), reports)
    with pytest.raises(ObjectNotFound):
        store.get("config/config")
    assert reports == []


def test_an_outage_is_reported_after_seconds_and_then_now_and_then():
    reports: list = []
    store, now = _clocked(Flaky(_memory(), "get", 10_000), reports, seconds=120)
    with pytest.raises(StoreUnavailable, match="gave up"):
        store.get("config/config")
    assert 3 <= len(reports) <= 5  # about once in 30 s of 120
    assert all("flaky; retrying for up to" in r for r in reports)
    assert reports[0] != reports[-1]  # counts down
