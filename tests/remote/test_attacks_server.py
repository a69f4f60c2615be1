"""A hostile client cannot harm `hutch serve`: no request crashes it, hangs
it, keeps it alive after the client left, costs it unbounded memory, or
lets it hold more than its own small locks. After each attack a normal
client still works and no lock is left behind."""

import os
import socket
import struct
import subprocess
import time

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hutch.errors import UsageError
from hutch.remote import protocol
from hutch.remote.open import RemoteOptions, open_store
from hutch.remote.server import ServeOptions
from hutch.repo.lock import Lock
from hutch.store.local import LocalStore
from hutch.store.lockowner import MAX_LOCKS
from hutch.store.permissions import strictest

from ..conftest import HUTCH
from .hostile import RawClient
from .test_protocol import serve_in_process

LOCK = "locks/" + "ab" * 16


def lock_record(**changes) -> bytes:
    record = {"host": "h", "pid": 1, "since": time.time(), "beat": time.time(), "exclusive": True}
    record.update(changes)
    return msgpack.packb(record)


@pytest.fixture
def repo(tmp_path):
    path = tmp_path / "repo"
    LocalStore(str(path)).create()
    return path


def test_requests_that_once_hung_or_crashed_it_are_answered(repo):
    client = RawClient("--append-only")
    client.hello(repo)
    name = "config/config"
    assert "e" not in client.call("put", [name], b"cfg")
    bad = [
        ("get", [name, 2**64 - 1]),
        ("get", [name, 0, 2**40]),
        ("get", [name, -1]),
        (["get"], [name]),
        ({"m": "get"}, [name]),
        (None, []),
        ("x" * 60_000, []),
        ("get", [[name]]),
        ("list", [{"a": 1}]),
    ]
    for method, args in bad:
        reply = client.call(method, args)
        assert "e" in reply and len(reply["e"]["msg"]) < 3000, (method, reply)
    assert client.call("get", [name])["b"] == b"cfg"  # still serving
    assert client.close(timeout=10) == 0


def test_oversized_and_amplifying_frames_close_the_connection(repo):
    client = RawClient()
    # A hello of 60 KiB holding thousands of empty maps: beyond msgpack's limits here.
    body = b"\xdc" + struct.pack(">H", 60_000) + b"\x80" * 60_000
    client.send_raw(struct.pack(">II", len(body), 0) + body)
    assert client.receive() is None
    assert client.close() == 0
    client = RawClient()
    client.hello(repo)
    client.send_raw(struct.pack(">II", 80 * 1024 * 1024, 0) + b"\x80" * 4096)
    assert client.receive() is None  # hung up without reading 80 MiB
    assert client.close() == 0


def test_memory_stays_bounded_whatever_arrives(repo, tmp_path):
    sock = tmp_path / "serve.sock"
    server = subprocess.Popen([HUTCH, "serve", "--socket", str(sock)])
    try:
        while not os.path.exists(str(sock) + ".pid"):
            time.sleep(0.05)
        for _ in range(3):
            with socket.socket(socket.AF_UNIX) as s:
                s.connect(str(sock))
                s.sendall(protocol.encode({"hello": "hutch", "versions": [1], "repo": str(repo)}))
                body = msgpack.packb({"i": 1, "m": "put", "a": ["packs/" + "0" * 64]})
                frame = struct.pack(">II", len(body), 64 * 1024 * 1024) + body
                _send(s, frame + b"\0" * (8 * 1024 * 1024))  # then stops sending mid-payload
            with socket.socket(socket.AF_UNIX) as s:
                s.connect(str(sock))
                _send(s, struct.pack(">II", 64 * 1024, 0) + b"\xdf\xff\xff\xff\xff" * 13_000)
        peak = _peak_rss_mib(server.pid)
        assert peak < 200, f"serve grew to {peak} MiB"
        # A normal client is served.
        store = open_store(f"socket://{repo}", RemoteOptions(socket_path=str(sock)))
        assert store.exists()
        store.close()
    finally:
        server.terminate()
        server.wait(timeout=10)


def _send(sock: socket.socket, data: bytes) -> None:
    """Send what the server takes before it hangs up on us."""
    try:
        sock.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        pass


def _peak_rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def test_locks_are_small_few_and_timed_by_the_server(repo):
    client = RawClient("--permissions", "read-only")
    client.hello(repo)
    assert "e" in client.call("put", [LOCK], b"\0" * (1024 * 1024))
    assert "e" in client.call("put", [LOCK], b"not a lock record")
    assert "e" in client.call("put", [LOCK, True], lock_record(extra=b"x" * 5000))
    ten_years = time.time() + 10 * 365 * 86400
    for i in range(MAX_LOCKS):
        assert "e" not in client.call("put", [f"locks/{i:032x}"], lock_record(beat=ten_years))
    assert "e" in client.call("put", [LOCK], lock_record())
    stored = msgpack.unpackb((repo / "locks" / f"{0:032x}").read_bytes())
    assert abs(stored["beat"] - time.time()) < 60  # the server's clock, not the claim
    assert "e" in client.call("put", ["packs/" + "0" * 64], b"data")  # read-only is read-only
    assert client.close() == 0
    assert list((repo / "locks").iterdir()) == []


def test_a_lock_from_the_future_is_stale(repo):
    store = LocalStore(str(repo))
    store.put(LOCK, lock_record(beat=time.time() + 10 * 365 * 86400))
    with Lock(store, exclusive=True, wait=1):
        pass
    assert store.list("locks") == []


def test_a_silent_client_is_dropped_and_its_lock_released(repo):
    client = RawClient("--idle-timeout", "2")
    client.hello(repo)
    assert "e" not in client.call("put", [LOCK], lock_record())
    started = time.monotonic()
    assert client.receive() is None  # the server hung up
    assert time.monotonic() - started < 30
    assert client.proc.wait(timeout=10) == 0
    assert list((repo / "locks").iterdir()) == []


def test_a_killed_connection_leaves_no_lock(repo):
    client = RawClient()
    client.hello(repo)
    assert "e" not in client.call("put", [LOCK], lock_record())
    client.proc.stdin.close()  # the client vanished mid-session
    assert client.proc.wait(timeout=10) == 0
    assert list((repo / "locks").iterdir()) == []


def test_combining_restrictions_never_widens_them(repo):
    client = RawClient("--append-only", "--permissions", "read-only")
    client.hello(repo)
    assert "e" in client.call("put", ["packs/" + "0" * 64], b"x")
    assert client.close() == 0
    assert strictest(["write-only", "no-delete"]) == "write-only"
    assert strictest(["all", "read-only"]) == "read-only"
    with pytest.raises(UsageError):
        strictest(["write-only", "read-only"])
    client = RawClient("--append-only", env={**os.environ, "HUTCH_REPO_PERMISSIONS": "read-only"})
    client.hello(repo)
    assert client.call("put", ["config/config"], b"x")["e"]["type"] == "PermissionDenied"
    assert client.close() == 0


def test_a_repository_swapped_for_a_symlink_after_the_hello_stays_pinned(tmp_path):
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    outside = tmp_path / "outside"
    LocalStore(str(allowed / "repo")).create()
    LocalStore(str(outside)).create()
    client = RawClient("--restrict-to-path", str(allowed))
    assert "version" in client.hello(allowed / "repo")
    os.rename(allowed / "repo", allowed / "moved")
    os.symlink(outside, allowed / "repo")
    assert "e" not in client.call("put", ["config/config"], b"pinned")
    assert client.close() == 0
    assert (allowed / "moved" / "config" / "config").read_bytes() == b"pinned"
    assert not (outside / "config" / "config").exists()


_VALUE = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**63), 2**64 - 1),
        st.text(max_size=30),
        st.binary(max_size=30),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=5), inner, max_size=5)
    ),
    max_leaves=20,
)
_REQUEST = st.fixed_dictionaries(
    {
        "m": st.one_of(st.sampled_from(["get", "put", "info", "list", "delete"]), _VALUE),
        "a": st.one_of(
            st.lists(
                st.one_of(st.sampled_from(["config/config", LOCK, "packs/x"]), _VALUE), max_size=8
            ),
            _VALUE,
        ),
    },
    optional={"b": st.binary(max_size=100), "x": _VALUE},
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(requests=st.lists(_REQUEST, max_size=6))
def test_fuzzed_requests_are_each_answered_and_the_session_goes_on(tmp_path, requests):
    repo = tmp_path / "fuzz"
    if not repo.exists():
        LocalStore(str(repo)).create()
    hello = protocol.encode({"hello": "hutch", "versions": [1], "repo": str(repo)})
    frames = [protocol.encode({"i": n, **r}) for n, r in enumerate(requests)]
    final = protocol.encode({"i": 999, "m": "exists", "a": []})
    replies = serve_in_process(
        hello + b"".join(frames) + final, ServeOptions(permissions="no-delete")
    )
    assert [r.get("i") for r in replies[1:]] == [*range(len(requests)), 999]
    assert replies[-1] == {"i": 999, "r": True}
    assert not list((repo / "locks").iterdir())
