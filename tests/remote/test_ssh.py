"""hutch through a real sshd: URLs, forced commands of serve.1, restrictions
attacked from the client side, SSH_ORIGINAL_COMMAND, locks of dropped
connections."""

import os
import signal
import subprocess
import time

from ..conftest import HUTCH, snapshot


def test_roundtrip_over_ssh(hutch, ssh_env, tmp_path, tree):
    url = ssh_env.url(tmp_path / "repo")
    hutch("init", "-e", "repokey", url, check=0)
    hutch("create", f"{url}::a", ".", cwd=tree, check=0)
    assert hutch("list", "--short", url, check=0).out == "a\n"
    out = tmp_path / "out"
    out.mkdir()
    hutch("extract", f"{url}::a", cwd=out, check=0)
    assert snapshot(out) == snapshot(tree)


def test_home_relative_url(hutch, ssh_env, tmp_path):
    home = os.path.expanduser("~root")
    name = f"hutch-test-{os.getpid()}-{time.monotonic_ns()}"
    try:
        hutch("init", "-e", "none", ssh_env.url(f"/~/{name}"), check=0)
        assert os.path.exists(os.path.join(home, name, "config", "config"))
        hutch("list", ssh_env.url(f"/~root/{name}"), check=0)
    finally:
        subprocess.run(["rm", "-rf", os.path.join(home, name)])


def test_forced_command_restrict_to_path(hutch, ssh_env, tmp_path):
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    (tmp_path / "allowedfoo").mkdir()
    ssh_env.authorize(f'command="hutch serve --restrict-to-path {allowed}",restrict')
    hutch("init", "-e", "none", ssh_env.url(allowed / "repo"), check=0)
    for bad in (
        tmp_path / "other",
        tmp_path / "allowedfoo" / "repo",  # /allowed must not grant /allowedfoo
        f"{allowed}/../other",
        "/~root/repo",
    ):
        r = hutch("init", "-e", "none", ssh_env.url(bad), check=2)
        assert "not inside the accessible paths" in r.err
        assert "Traceback" not in r.err
    assert not (tmp_path / "other").exists()
    assert not (tmp_path / "allowedfoo" / "repo").exists()


def test_restriction_sees_through_symlinks(hutch, ssh_env, tmp_path):
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, allowed / "escape")
    ssh_env.authorize(f'command="hutch serve --restrict-to-path {allowed}",restrict')
    r = hutch("init", "-e", "none", ssh_env.url(allowed / "escape" / "repo"), check=2)
    assert "not inside the accessible paths" in r.err
    assert os.listdir(outside) == []


def test_forced_command_restrict_to_repo(hutch, ssh_env, tmp_path):
    repo = tmp_path / "repo"
    ssh_env.authorize(f'command="hutch serve --append-only --restrict-to-repo {repo}",restrict')
    hutch("init", "-e", "none", ssh_env.url(repo), check=0)
    r = hutch("init", "-e", "none", ssh_env.url(repo / "sub"), check=2)
    assert "not an accessible repository" in r.err


def test_forced_command_read_only(hutch, ssh_env, tmp_path, tree):
    url = ssh_env.url(tmp_path / "repo")
    hutch("init", "-e", "repokey", url, check=0)
    hutch("create", f"{url}::a", ".", cwd=tree, check=0)
    ssh_env.authorize('command="hutch serve --permissions=read-only",restrict')
    assert hutch("list", "--short", url, check=0).out == "a\n"
    r = hutch("create", f"{url}::b", ".", cwd=tree, check=2)
    assert "permission denied" in r.err
    assert hutch("list", "--short", url, check=0).out == "a\n"
    # A read-only client leaves no lock behind.
    assert os.listdir(tmp_path / "repo" / "locks") == []


def test_forced_command_sets_environment(hutch, ssh_env, tmp_path, tree):
    url = ssh_env.url(tmp_path / "repo")
    hutch("init", "-e", "repokey", url, check=0)
    hutch("create", f"{url}::a", ".", cwd=tree, check=0)
    ssh_env.authorize('command="HUTCH_REPO_PERMISSIONS=no-delete hutch serve",restrict')
    r = hutch("delete", f"{url}::a", check=2)
    assert "permission denied" in r.err
    assert hutch("list", "--short", url, check=0).out == "a\n"
    hutch("create", f"{url}::b", ".", cwd=tree, check=0)


def test_original_command_cannot_lift_restrictions(hutch, ssh_env, tmp_path, tree):
    url = ssh_env.url(tmp_path / "repo")
    hutch("init", "-e", "repokey", url, check=0)
    hutch("create", f"{url}::a", ".", cwd=tree, check=0)
    ssh_env.authorize('command="hutch serve --permissions no-delete",restrict')
    sneaky = "hutch serve --permissions all --restrict-to-path / --debug"
    r = hutch("--remote-path", sneaky, "delete", f"{url}::a", check=2)
    assert "permission denied" in r.err
    assert hutch("list", "--short", url, check=0).out == "a\n"


def test_failing_remote_is_one_clear_error(hutch, ssh_env, tmp_path):
    ssh_env.authorize('command="echo this is not hutch >&2; exit 3",restrict')
    started = time.monotonic()
    r = hutch("list", ssh_env.url(tmp_path / "repo"), check=2)
    assert time.monotonic() - started < 20
    assert "Connection closed by remote host. Is hutch working on the server?" in r.err
    assert "this is not hutch" in r.err
    assert "Traceback" not in r.err


def test_killed_ssh_client_leaves_no_lock(hutch, ssh_env, tmp_path):
    url = ssh_env.url(tmp_path / "repo")
    hutch("init", "-e", "repokey", url, check=0)
    data = tmp_path / "data"
    data.mkdir()
    for i in range(24):
        (data / f"f{i}").write_bytes(os.urandom(4 * 1024 * 1024))
    env = dict(os.environ)
    proc = subprocess.Popen(
        [HUTCH, "create", f"{url}::big", str(data)], env=env, stderr=subprocess.PIPE
    )
    locks = tmp_path / "repo" / "locks"
    deadline = time.monotonic() + 30
    while not os.listdir(locks) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert os.listdir(locks), "the backup never took its lock"
    ssh = subprocess.run(
        ["pgrep", "-f", "-P", str(proc.pid), "^ssh "], capture_output=True, text=True
    ).stdout.split()
    assert ssh, "no ssh child found"
    os.kill(int(ssh[0]), signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == 2
    deadline = time.monotonic() + 5
    while os.listdir(locks) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert os.listdir(locks) == [], "the server kept the dead client's lock"
    # An exclusive operation gets its lock at once.
    hutch(
        "--lock-wait",
        "1",
        "key",
        "change-passphrase",
        url,
        env={"HUTCH_NEW_PASSPHRASE": "n"},
        check=0,
    )
