"""Socket modes: the reference's socat recipe, and `hutch serve --socket`."""

import os
import shutil
import subprocess
import time

import pytest

from ..conftest import HUTCH, snapshot

pytestmark = pytest.mark.skipif(shutil.which("socat") is None, reason="socat not installed")


def _wait_for(path, timeout=10):
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.05)


def test_socat_recipe_append_only(hutch, tmp_path, tree):
    repo = tmp_path / "repo"
    hutch("init", "-e", "repokey", repo, check=0)
    sock = tmp_path / "run" / "reponame.sock"
    sock.parent.mkdir()
    server = subprocess.Popen(
        [
            "socat",
            f"UNIX-LISTEN:{sock},fork",
            f'EXEC:"{HUTCH} serve --append-only --restrict-to-path {repo}"',
        ]
    )
    try:
        _wait_for(sock)
        rsh = f"sh -c 'exec socat STDIO UNIX-CONNECT:{sock}'"
        env = {"HUTCH_RSH": rsh}
        hutch("create", f"ssh://borg-server{repo}::archive", ".", cwd=tree, env=env, check=0)
        r = hutch("delete", f"ssh://borg-server{repo}::archive", env=env, check=2)
        assert "permission denied" in r.err
        out = tmp_path / "out"
        out.mkdir()
        hutch("extract", f"{repo}::archive", cwd=out, check=0)
        assert snapshot(out) == snapshot(tree)
    finally:
        server.terminate()
        server.wait()


def test_socket_left_behind_gives_clear_error(hutch, tmp_path):
    sock = tmp_path / "reponame.sock"
    # A socket file nobody listens on, as after a dropped ssh -R forward.
    subprocess.run(
        ["python3", "-c", f"import socket; s=socket.socket(socket.AF_UNIX); s.bind('{sock}')"],
        check=True,
    )
    rsh = f"sh -c 'exec socat STDIO UNIX-CONNECT:{sock}'"
    started = time.monotonic()
    r = hutch("list", f"ssh://borg-server{tmp_path}/repo", env={"HUTCH_RSH": rsh}, check=2)
    assert time.monotonic() - started < 20
    assert "Connection closed by remote host. Is hutch working on the server?" in r.err
    assert "Connection refused" in r.err


def test_serve_socket_mode(hutch, tmp_path, tree):
    sock = tmp_path / "hutch.sock"
    repo = tmp_path / "repo"
    # A stale socket file is replaced.
    subprocess.run(
        ["python3", "-c", f"import socket; s=socket.socket(socket.AF_UNIX); s.bind('{sock}')"],
        check=True,
    )
    server = subprocess.Popen([HUTCH, "serve", "--socket", str(sock)])
    try:
        _wait_for(str(sock) + ".pid")
        assert oct(os.stat(sock).st_mode & 0o777) == "0o770"
        with open(str(sock) + ".pid") as f:
            assert int(f.read()) == server.pid
        url = f"socket://{repo}"
        hutch("--socket", sock, "init", "-e", "repokey", url, check=0)
        # Two clients at once.
        procs = [
            subprocess.Popen([HUTCH, "--socket", str(sock), "create", f"{url}::{n}", "."], cwd=tree)
            for n in ("a", "b")
        ]
        assert [p.wait(timeout=120) for p in procs] == [0, 0]
        out = tmp_path / "out"
        out.mkdir()
        hutch("--socket", sock, "extract", f"{url}::b", cwd=out, check=0)
        assert snapshot(out) == snapshot(tree)
        assert os.listdir(repo / "locks") == []
    finally:
        server.terminate()
        assert server.wait(timeout=10) == 0
    assert not sock.exists()
    assert not os.path.exists(str(sock) + ".pid")
