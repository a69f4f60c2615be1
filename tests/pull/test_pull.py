"""`hutch pull` through a real sshd: the backup server starts the backup."""

import os
import signal
import subprocess
import time

from ..conftest import HUTCH, PASSPHRASE, snapshot, standalone_executable


def _client(sshd) -> str:
    return f"root@127.0.0.1:{sshd.port}"


def _wrapper(tmp_path, body: str) -> str:
    """A remote-path script on the client that records how it was started."""
    path = tmp_path / "client-hutch"
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return str(path)


def test_pull_backup_and_restore(hutch, ssh_env, repo, tmp_path, tree):
    spy = tmp_path / "spy"
    remote = _wrapper(
        tmp_path,
        f'echo "$@" >> {spy}; env >> {spy}; cat /proc/$$/cmdline >> {spy}; exec {HUTCH} "$@"',
    )
    r = hutch(
        "pull",
        "--rsh",
        ssh_env.rsh,
        "--remote-path",
        remote,
        _client(ssh_env),
        f"{repo}::pulled",
        tree,
        "--list",
        "--stats",
        check=0,
    )
    assert "Number of files" in r.err  # the client's output shows here
    assert hutch("list", "--short", repo, check=0).out == "pulled\n"
    out = tmp_path / "out"
    out.mkdir()
    hutch(
        "extract",
        "--strip-components",
        str(tree).count("/") - 1,
        f"{repo}::pulled",
        cwd=out,
        check=0,
    )
    assert snapshot(out / "tree") == snapshot(tree)
    # The passphrase never appeared on a command line or in an environment.
    assert PASSPHRASE not in spy.read_text()
    assert "HUTCH_PASSPHRASE" not in spy.read_text()


def test_pull_client_cannot_delete(hutch, ssh_env, repo, tmp_path, tree):
    hutch("create", f"{repo}::old", ".", cwd=tree, check=0)
    # A compromised client runs something else than the create it was asked for.
    evil = _wrapper(tmp_path, f"exec {HUTCH} delete -r stdio: old")
    r = hutch(
        "pull", "--rsh", ssh_env.rsh, "--remote-path", evil, _client(ssh_env), f"{repo}::new", tree
    )
    assert r.rc == 2
    assert "permission denied" in r.err
    assert hutch("list", "--short", repo, check=0).out == "old\n"


def test_pull_exit_code_is_the_clients(hutch, ssh_env, repo, tmp_path, tree):
    r = hutch(
        "pull",
        "--rsh",
        ssh_env.rsh,
        _client(ssh_env),
        f"{repo}::a",
        tree,
        tmp_path / "does-not-exist",
    )
    assert r.rc == 1
    assert "does-not-exist" in r.err
    assert hutch("list", "--short", repo, check=0).out == "a\n"


def test_pull_extract_onto_client(hutch, ssh_env, repo, tmp_path, tree):
    hutch("create", f"{repo}::a", ".", cwd=tree, check=0)
    target = tmp_path / "restore"
    target.mkdir()
    hutch(
        "pull",
        "--extract",
        "--target",
        target,
        "--rsh",
        ssh_env.rsh,
        _client(ssh_env),
        f"{repo}::a",
        check=0,
    )
    assert snapshot(target) == snapshot(tree)


def test_dropped_pull_leaves_no_lock_and_no_archive(hutch, ssh_env, repo, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    for i in range(24):
        (data / f"f{i}").write_bytes(os.urandom(4 * 1024 * 1024))
    proc = subprocess.Popen(
        [HUTCH, "pull", "--rsh", ssh_env.rsh, _client(ssh_env), f"{repo}::big", str(data)],
        stderr=subprocess.PIPE,
    )
    locks = repo / "locks"
    deadline = time.monotonic() + 30
    while not os.listdir(locks) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert os.listdir(locks)
    ssh = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True)
    os.kill(int(ssh.stdout.split()[0]), signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode != 0
    assert os.listdir(locks) == []
    assert hutch("list", "--short", repo, check=0).out == ""
    # The next pull works and reuses what was uploaded.
    hutch("pull", "--rsh", ssh_env.rsh, _client(ssh_env), f"{repo}::big", data, check=0)


def test_concurrent_pulls(hutch, ssh_env, repo, tmp_path, tree):
    procs = [
        subprocess.Popen(
            [HUTCH, "pull", "--rsh", ssh_env.rsh, _client(ssh_env), f"{repo}::{name}", str(tree)]
        )
        for name in ("one", "two")
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    assert sorted(hutch("list", "--short", repo, check=0).out.split()) == ["one", "two"]


def test_pull_uploads_standalone_hutch(hutch, ssh_env, repo, tmp_path, tree):
    standalone = standalone_executable()
    uploaded = os.path.expanduser("~root/.cache/hutch-pull/hutch")
    if os.path.exists(uploaded):
        os.unlink(uploaded)
    hutch(
        "pull",
        "--rsh",
        ssh_env.rsh,
        "--upload-hutch",
        standalone,
        "--remote-path",
        "/nonexistent/hutch",
        _client(ssh_env),
        f"{repo}::up",
        tree,
        check=0,
    )
    assert os.path.getsize(uploaded) == os.path.getsize(standalone)
    assert hutch("list", "--short", repo, check=0).out == "up\n"


def test_pull_hands_a_keyfile_key_to_the_client(hutch, ssh_env, tmp_path, tree):
    repo = tmp_path / "kfrepo"
    hutch("init", "-e", "keyfile", repo, check=0)
    # The client (root's ssh session) has no key file for this repository.
    hutch("pull", "--rsh", ssh_env.rsh, _client(ssh_env), f"{repo}::a", tree, check=0)
    assert hutch("list", "--short", repo, check=0).out == "a\n"
    r = hutch("pull", "--no-send-key", "--rsh", ssh_env.rsh, _client(ssh_env), f"{repo}::b", tree)
    assert r.rc == 2 and "no key file for this repository" in r.err
