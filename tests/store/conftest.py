"""The store backends the shared store suite runs against.

Each backend is a fixture returning a store that is not created yet; to
run the suite against another backend (e.g. `hutch serve` over a pipe),
write its fixture and add its name to STORE_BACKENDS."""

import os
import subprocess
import time

import pytest

from hutch.remote.open import RemoteOptions, open_store
from hutch.store.local import LocalStore
from hutch.store.memory import MemoryStore

from ..conftest import HUTCH, PIPE_RSH

STORE_BACKENDS = [
    "memory_backend",
    "local_backend",
    "serve_pipe_backend",
    "serve_socket_backend",
    "serve_ssh_backend",
    "s3_backend",
    "serve_s3_backend",
]


@pytest.fixture
def memory_backend():
    return MemoryStore("test")


@pytest.fixture
def local_backend(tmp_path):
    return LocalStore(str(tmp_path / "store"))


@pytest.fixture(params=STORE_BACKENDS)
def new_store(request):
    """A store of each backend, not created yet."""
    store = request.getfixturevalue(request.param)
    yield store
    store.close()


@pytest.fixture
def store(new_store):
    """A created, empty store of each backend."""
    new_store.create()
    return new_store


def _remote(location: str, rsh: str, remote_path: str = HUTCH, socket_path=None):
    return open_store(
        location, RemoteOptions(rsh=rsh, remote_path=remote_path, socket_path=socket_path)
    )


@pytest.fixture
def serve_pipe_backend(tmp_path):
    """`hutch serve` over a pipe (what ssh would carry)."""
    return _remote(f"ssh://host{tmp_path}/store", PIPE_RSH)


@pytest.fixture
def serve_ssh_backend(tmp_path, sshd):
    """`hutch serve` through a real sshd."""
    sshd.allow_plain()
    return _remote(sshd.url(tmp_path / "store"), sshd.rsh)


@pytest.fixture
def serve_socket_backend(tmp_path):
    """`hutch serve --socket` and a socket:// client."""
    sock = tmp_path / "serve.sock"
    server = subprocess.Popen([HUTCH, "serve", "--socket", str(sock)])
    deadline = time.monotonic() + 10
    while not os.path.exists(str(sock) + ".pid"):
        assert time.monotonic() < deadline, "hutch serve --socket did not start"
        time.sleep(0.05)
    yield _remote(f"socket://{tmp_path}/store", PIPE_RSH, socket_path=str(sock))
    server.terminate()
    server.wait(timeout=10)


@pytest.fixture
def s3_backend(s3):
    """Object storage (SeaweedFS), as a client opens s3:// URLs."""
    return open_store(s3.url("store"))


@pytest.fixture
def serve_s3_backend(s3):
    """`hutch serve --store-root s3://...` over a pipe: paths name prefixes."""
    root = s3.url("root")
    return _remote(
        "ssh://host/clients/store", PIPE_RSH, f"sh -c 'exec {HUTCH} serve --store-root {root}' -"
    )
