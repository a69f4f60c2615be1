"""The three recipes of the reference's pull-backup guide, run as written
there (borg -> hutch), against real sshd, sshfs, socat and ssh-agent.

"borg-server" and "borg-client" are two sshds on 127.0.0.1; the client's
runs in its own mount namespace so that /run/hutch is its own. The users
borgs and borgc are real unix users made for these tests.
"""

import glob
import os
import pwd
import shlex
import shutil
import subprocess
import tempfile
import time

import pytest

from ..conftest import HUTCH, PASSPHRASE, snapshot, standalone_executable
from ..sshd import Sshd, have_sshd

USERS = ("borgs", "borgc")
# The users, their keys and /run/hutch are one machine's: these tests must
# run in one worker (make test distributes by file).
PP = shlex.quote(PASSPHRASE)


def _run(argv, **kw):
    return subprocess.run(argv, check=True, capture_output=True, text=True, **kw)


def _as(bin_dir: str, user: str, script: str, input: str | None = None, timeout=120):
    """Run a shell script as `user` with a login-like environment."""
    home = pwd.getpwnam(user).pw_dir
    env = {"HOME": home, "USER": user, "PATH": f"{bin_dir}:/usr/bin:/bin", "LANG": "C.UTF-8"}
    return subprocess.run(
        ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", "sh", "-c", script],
        env=env,
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=home,
    )


def _make_user(name: str) -> str:
    try:
        pwd.getpwnam(name)
    except KeyError:
        _run(["useradd", "--create-home", "--shell", "/bin/sh", name])
    # "!" (locked) makes sshd refuse even key logins; "*" only forbids passwords.
    _run(["usermod", "-p", "*", name])
    home = pwd.getpwnam(name).pw_dir
    os.makedirs(f"{home}/.ssh", exist_ok=True)
    return home


@pytest.fixture(scope="module")
def hosts(tmp_path_factory):
    if not have_sshd() or shutil.which("setpriv") is None:
        pytest.skip("OpenSSH server or setpriv not installed")
    # The test users cannot run the venv (its Python lives in root's home):
    # they get the standalone executable, in a folder they may read.
    bin_dir = tempfile.mkdtemp(prefix="hutch-bin-", dir="/var/tmp")
    os.chmod(bin_dir, 0o755)
    shutil.copy(standalone_executable(), f"{bin_dir}/hutch")
    folder = tmp_path_factory.mktemp("recipes")
    homes = {u: _make_user(u) for u in USERS}
    keys = f".ssh/authorized_keys {folder}/root_keys"
    server = Sshd(folder / "server", keys_file=keys, bin_dir=bin_dir)
    client = Sshd(folder / "client", keys_file=keys, private_run=True, bin_dir=bin_dir)
    with open(f"{folder}/root_keys", "w") as f:
        f.write(open(server.client_key + ".pub").read() + open(client.client_key + ".pub").read())
    config = (
        f"Host borg-server\n  HostName 127.0.0.1\n  Port {server.port}\n"
        f"Host borg-client\n  HostName 127.0.0.1\n  Port {client.port}\n"
        "Host *\n  UserKnownHostsFile /dev/null\n  BatchMode yes\n"
        "  StrictHostKeyChecking no\n"
    )
    for home in homes.values():
        with open(f"{home}/.ssh/config", "w") as f:
            f.write(config)
        for p in (f"{home}/.ssh/authorized_keys", f"{home}/.ssh/id_ed25519"):
            if os.path.exists(p):
                os.unlink(p)
        _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", f"{home}/.ssh/id_ed25519"])
    key = f"{homes['borgs']}/.ssh/borg-client_key"
    for p in (key, key + ".pub"):
        if os.path.exists(p):
            os.unlink(p)
    _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key])
    # borgs on the server may log into borgc on the client.
    shutil.copy(f"{homes['borgs']}/.ssh/id_ed25519.pub", f"{homes['borgc']}/.ssh/authorized_keys")
    for user, home in homes.items():
        _run(["chown", "-R", f"{user}:{user}", home])
    yield {"server": server, "client": client, "homes": homes, "bin": bin_dir}
    server.stop()
    client.stop()
    shutil.rmtree(bin_dir)


def _fresh(path: str, owner: str) -> str:
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    _run(["chown", "-R", f"{owner}:{owner}", path])
    return path


def _data(path: str, owner: str) -> str:
    """Some data to back up, owned by `owner`."""
    _fresh(path, owner)
    for i in range(20):
        with open(f"{path}/file{i}", "wb") as f:
            f.write(os.urandom(1000 * i) + b"text " * 200 * i)
    os.symlink("file1", f"{path}/link")
    _run(["chown", "-hR", f"{owner}:{owner}", path])
    return path


# -- ssh-agent ------------------------------------------------------------


def test_ssh_agent_recipe(hosts, tmp_path):
    borgs = hosts["homes"]["borgs"]
    shutil.rmtree(f"{borgs}/repo", ignore_errors=True)
    line = 'command="hutch serve --append-only --restrict-to-repo ~/repo",restrict '
    r = _as(
        hosts["bin"],
        "borgs",
        f"{{ echo -n '{line}'; cat ~/.ssh/borg-client_key.pub; }} >> ~/.ssh/authorized_keys",
    )
    assert r.returncode == 0, r.stderr
    data = _data(f"{hosts['homes']['borgc']}/data", "borgc")

    def from_server(hutch_command: str, passphrase: str = PASSPHRASE):
        # As printed in the guide: the passphrase on stdin, agent forwarding.
        script = (
            "eval $(ssh-agent -s) >/dev/null; ssh-add -q ~/.ssh/borg-client_key; "
            f"echo {shlex.quote(passphrase)} | ssh -A -o StrictHostKeyChecking=no "
            "borgc@borg-client "
            + shlex.quote(f"HUTCH_PASSPHRASE=$(cat) {hutch_command}")
            + "; rc=$?; ssh-agent -k >/dev/null; exit $rc"
        )
        return _as(hosts["bin"], "borgs", script)

    rsh = "hutch --rsh 'ssh -o StrictHostKeyChecking=no'"
    r = from_server(f"{rsh} init --encryption repokey ssh://borgs@borg-server/~/repo")
    assert r.returncode == 0, r.stderr
    assert os.path.exists(f"{borgs}/repo/config/config")
    r = from_server(f"{rsh} create ssh://borgs@borg-server/~/repo::archive {data}")
    assert r.returncode == 0, r.stderr
    r = from_server(f"{rsh} list --short ssh://borgs@borg-server/~/repo")
    assert r.stdout.split() == ["archive"], r.stderr
    refused = [f"{rsh} delete ssh://borgs@borg-server/~/repo::archive"]
    for command in ("prune --keep-last 0", "compact"):
        name = command.split()[0]
        if subprocess.run([HUTCH, name, "--help"], capture_output=True).returncode == 0:
            refused.append(f"{rsh} {command} ssh://borgs@borg-server/~/repo")
    for command in refused:
        r = from_server(command)
        assert r.returncode == 2, (command, r.stderr)
        assert "permission denied" in r.stderr, (command, r.stderr)
    r = from_server(f"{rsh} list --short ssh://borgs@borg-server/~/repo")
    assert r.stdout.split() == ["archive"]
    # Another repository of borgs is out of reach of that key.
    r = from_server(f"{rsh} init -e none ssh://borgs@borg-server/~/other")
    assert r.returncode == 2 and "not an accessible repository" in r.stderr


# -- socat ----------------------------------------------------------------


def _socat_server(repo: str, bin_dir: str):
    """borg-server:~$ socat UNIX-LISTEN:...,fork EXEC:"hutch serve ..." (as borgs)."""
    os.makedirs("/run/hutch", exist_ok=True)
    _run(["chown", "borgs", "/run/hutch"])
    sock = "/run/hutch/reponame.sock"
    if os.path.exists(sock):
        os.unlink(sock)
    home = pwd.getpwnam("borgs").pw_dir
    proc = subprocess.Popen(
        [
            "setpriv",
            "--reuid=borgs",
            "--regid=borgs",
            "--init-groups",
            "socat",
            f"UNIX-LISTEN:{sock},fork",
            f'EXEC:"hutch serve --append-only --restrict-to-path {repo}"',
        ],
        env={"HOME": home, "PATH": f"{bin_dir}:/usr/bin:/bin"},
        cwd=home,
    )
    deadline = time.monotonic() + 10
    while not os.path.exists(sock):
        assert time.monotonic() < deadline, "socat did not listen"
        time.sleep(0.05)
    return proc


def test_socat_recipe(hosts, tmp_path):
    borgs = hosts["homes"]["borgs"]
    repo = _fresh(f"{borgs}/socatrepo", "borgs")
    shutil.rmtree(repo)
    r = _as(hosts["bin"], "borgs", f"HUTCH_PASSPHRASE={PP} hutch init -e repokey {repo}")
    assert r.returncode == 0, r.stderr
    data = _data(f"{hosts['homes']['borgc']}/socatdata", "borgc")
    server = _socat_server(repo, hosts["bin"])
    try:
        # The guide's automated one-liner, with the --rsh value quoted for the
        # remote shell as reference/README.md explains.
        rsh = "\"sh -c 'exec socat STDIO UNIX-CONNECT:/run/hutch/reponame.sock'\""
        one_liner = (
            "ssh -R /run/hutch/reponame.sock:/run/hutch/reponame.sock borgc@borg-client "
            f"HUTCH_PASSPHRASE={shlex.quote(PP)} hutch create --rsh {shlex.quote(rsh)} "
            f"ssh://borg-server{repo}::archive {data} ';' rm /run/hutch/reponame.sock"
        )
        r = _as(hosts["bin"], "borgs", one_liner)
        assert r.returncode == 0, r.stderr
        r = _as(hosts["bin"], "borgs", f"HUTCH_PASSPHRASE={PP} hutch list --short {repo}")
        assert r.stdout.split() == ["archive"], r.stderr
        out = tmp_path / "out"
        out.mkdir()
        subprocess.run(
            [HUTCH, "extract", f"{repo}::archive"],
            cwd=out,
            check=True,
            env={**os.environ, "HUTCH_PASSPHRASE": PASSPHRASE},
        )
        assert snapshot(out / data.lstrip("/")) == snapshot(data)
        # The socket file left behind: a second forward fails with ssh's
        # warning, and hutch says the connection closed; nothing hangs.
        leave = "ssh -R /run/hutch/reponame.sock:/run/hutch/reponame.sock borgc@borg-client true"
        assert _as(hosts["bin"], "borgs", leave).returncode == 0  # this one leaves the socket file
        second = (
            "ssh -R /run/hutch/reponame.sock:/run/hutch/reponame.sock borgc@borg-client "
            f"HUTCH_PASSPHRASE={shlex.quote(PP)} hutch list --rsh {shlex.quote(rsh)} "
            f"ssh://borg-server{repo}"
        )
        started = time.monotonic()
        r = _as(hosts["bin"], "borgs", second, timeout=60)
        assert time.monotonic() - started < 30
        assert r.returncode == 2
        assert "remote port forwarding failed" in r.stderr
        assert "Connection closed by remote host. Is hutch working on the server?" in r.stderr
        _as(hosts["bin"], "borgs", "ssh borgc@borg-client rm -f /run/hutch/reponame.sock")
    finally:
        server.terminate()
        server.wait()


# -- sshfs + chroot ---------------------------------------------------------


def _client_root(path: str) -> str:
    """A client's root file system: its own users, data, a C library, no Python."""
    _fresh(path, "root")
    for d in ("etc", "tmp", "usr/local/bin", "dev", "proc", "sys", "root", "lib64", "home/alice"):
        os.makedirs(f"{path}/{d}", exist_ok=True)
    os.chmod(f"{path}/tmp", 0o1777)
    with open(f"{path}/etc/passwd", "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\nalice:x:2001:2001::/home/alice:/bin/sh\n")
    with open(f"{path}/etc/group", "w") as f:
        f.write("root:x:0:\nalice:x:2001:\n")
    for lib in glob.glob("/lib/x86_64-linux-gnu/lib*.so*") + glob.glob("/lib64/ld-linux*"):
        target = path + lib
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy2(lib, target)
    for i in range(5):
        with open(f"{path}/home/alice/doc{i}.txt", "w") as f:
            f.write(f"alice's document {i}\n" * 100)
    os.chown(f"{path}/home/alice", 2001, 2001)
    for name in os.listdir(f"{path}/home/alice"):
        os.chown(f"{path}/home/alice/{name}", 2001, 2001)
    assert not glob.glob(f"{path}/usr/bin/python*")
    return path


@pytest.fixture
def sshfs_mount(hosts, tmp_path):
    if shutil.which("sshfs") is None or not os.path.exists("/dev/fuse"):
        pytest.skip("sshfs or FUSE not available here")
    standalone_executable()
    client = hosts["client"]
    root = _client_root(str(tmp_path / "clientroot"))
    mnt = str(tmp_path / "sshfs")

    def mount(target=mnt):
        os.makedirs(target, exist_ok=True)
        r = subprocess.run(
            [
                "sshfs",
                f"root@127.0.0.1:{root}",
                target,
                "-p",
                str(client.port),
                "-o",
                f"IdentityFile={client.client_key}",
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "allow_other",
            ],
            capture_output=True,
            text=True,
        )
        if r.returncode != 0:
            pytest.skip(f"sshfs mount impossible here: {r.stderr.strip()}")
        return target

    mounted = []
    yield {"root": root, "mnt": mnt, "mount": lambda t=mnt: mounted.append(mount(t)) or t}
    for path in reversed(mounted):
        for sub in ("dev", "proc", "sys", "hutchrepo"):
            subprocess.run(["umount", f"{path}/{sub}"], capture_output=True)
        subprocess.run(["fusermount3", "-u", path], capture_output=True)


def _chroot_setup(mnt: str, repo: str) -> None:
    """The guide's steps between mounting and entering the chroot."""
    os.makedirs(f"{mnt}/hutchrepo", exist_ok=True)
    _run(["mount", "--bind", repo, f"{mnt}/hutchrepo"])
    shutil.copy(standalone_executable(), f"{mnt}/usr/local/bin/hutch")
    for d in ("dev", "proc", "sys"):
        _run(["mount", "--bind", f"/{d}", f"{mnt}/{d}"])


def _chroot_teardown(mnt: str) -> None:
    os.unlink(f"{mnt}/usr/local/bin/hutch")
    for d in ("dev", "proc", "sys", "hutchrepo"):
        _run(["umount", f"{mnt}/{d}"])
    os.rmdir(f"{mnt}/hutchrepo")


def _in_chroot(mnt: str, *args) -> subprocess.CompletedProcess:
    env = {
        "HUTCH_PASSPHRASE": PASSPHRASE,
        "HOME": "/root",
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HUTCH_TESTONLY_WEAKEN_KDF": "1",
    }
    return subprocess.run(
        ["/usr/sbin/chroot", mnt, "/usr/local/bin/hutch", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_sshfs_recipe(hutch, sshfs_mount, tmp_path):
    repo = str(tmp_path / "repo")
    hutch("init", "-e", "repokey", repo, check=0)
    mnt = sshfs_mount["mount"]()
    _chroot_setup(mnt, repo)
    try:
        r = _in_chroot(
            mnt,
            "create",
            "--exclude",
            "hutchrepo",
            "--files-cache",
            "ctime,size",
            "/hutchrepo::archive",
            "/",
        )
        assert r.returncode in (0, 1), r.stderr
        listing = _in_chroot(mnt, "list", "/hutchrepo::archive").stdout
        # Names come from the client's passwd, not the server's.
        assert any(
            " alice " in line and "home/alice/doc0.txt" in line for line in listing.splitlines()
        ), listing
        assert "hutchrepo/" not in listing
        assert "proc/1/" not in listing
        # Partial restore after the client's ids changed: names map to the new ids.
        client = sshfs_mount["root"]
        # (Changed through the mount: sshfs caches what it has seen.)
        with open(f"{mnt}/etc/passwd", "w") as f:
            f.write("root:x:0:0:root:/root:/bin/sh\nalice:x:3001:3001::/home/alice:/bin/sh\n")
        with open(f"{mnt}/etc/group", "w") as f:
            f.write("root:x:0:\nalice:x:3001:\n")
        os.unlink(f"{mnt}/home/alice/doc1.txt")
        r = _in_chroot(mnt, "extract", "/hutchrepo::archive", "home/alice/doc1.txt")
        assert r.returncode == 0, r.stderr
    finally:
        _chroot_teardown(mnt)
    st = os.stat(f"{client}/home/alice/doc1.txt")
    assert (st.st_uid, st.st_gid) == (3001, 3001)
    assert open(f"{client}/home/alice/doc1.txt").read() == "alice's document 1\n" * 100


def test_sshfs_full_restore_numeric_ids_and_export_tar(hutch, sshfs_mount, hosts, tmp_path):
    repo = str(tmp_path / "repo")
    hutch("init", "-e", "repokey", repo, check=0)
    client = sshfs_mount["root"]
    hutch("create", "--numeric-ids", f"{repo}::archive", ".", cwd=client, check=0)
    original = snapshot(f"{client}/home")
    shutil.rmtree(f"{client}/home")
    # Full restore: mount, cd, extract --numeric-ids.
    mnt = sshfs_mount["mount"](str(tmp_path / "mnt-sshfs"))
    hutch("extract", "--numeric-ids", f"{repo}::archive", "home", cwd=mnt, check=0)
    assert _owners(f"{client}/home") == _owners_of(original)
    # Lossy full restore through export-tar piped into tar on the client.
    shutil.rmtree(f"{client}/home")
    c = hosts["client"]
    export = subprocess.Popen(
        [HUTCH, "export-tar", f"{repo}::archive", "-"], stdout=subprocess.PIPE
    )
    ssh = subprocess.run(
        shlex.split(c.rsh) + ["-p", str(c.port), "root@127.0.0.1", f"tar -C {client} -x"],
        stdin=export.stdout,
        capture_output=True,
        text=True,
    )
    assert export.wait() == 0 and ssh.returncode == 0, ssh.stderr
    assert open(f"{client}/home/alice/doc3.txt").read() == "alice's document 3\n" * 100
    assert _owners(f"{client}/home") == _owners_of(original)


def _owners(path) -> dict:
    return _owners_of(snapshot(path))


def _owners_of(snap: dict) -> dict:
    return {p: (e["uid"], e["gid"]) for p, e in snap.items()}
