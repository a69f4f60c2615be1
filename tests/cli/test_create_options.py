"""End to end: the options of `hutch create`, checked by what ends up in
the archive (as `list` shows it and `extract` restores it)."""

import datetime
import getpass
import json
import os
import shutil
import socket
import subprocess
import time

import pytest

from ..conftest import HUTCH, UNPRIVILEGED, snapshot

CACHEDIR_TAG = b"Signature: 8a477f597d28d172789f06886806bc55\n# a cache\n"


def _write(root, rel, data=b"x"):
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


@pytest.fixture
def project(tmp_path):
    """A small tree for pattern tests."""
    root = tmp_path / "project"
    for rel in (
        "src/main.py",
        "src/notes.txt",
        "src/build/out.o",
        "home/u/.cache/blob",
        "home/u/doc.txt",
        "home/u/pic.jpg",
        "home/v/doc.txt",
        "logs/today.log",
        "logs/old/1.log",
    ):
        _write(root, rel, rel.encode())
    return root


def _paths(hutch, repo, archive) -> set[str]:
    return set(hutch("list", "--short", f"{repo}::{archive}", check=0).out.splitlines())


def _statuses(err: str) -> dict[str, str]:
    """path -> status letter, from `create --list` output."""
    result = {}
    for line in err.splitlines():
        letter, sep, path = line.partition(" ")
        if sep and len(letter) == 1:
            result[path] = letter
    return result


# -- patterns ------------------------------------------------------------


def test_exclude_styles(hutch, repo, project):
    hutch(
        "create",
        "-e",
        "*.txt",
        "--exclude",
        "sh:home/*/.cache",
        "-e",
        "re:\\.log$",
        "-e",
        "pp:src/build",
        f"{repo}::a",
        ".",
        cwd=project,
        check=0,
    )
    assert _paths(hutch, repo, "a") == {
        "src",
        "src/main.py",
        "home",
        "home/u",
        "home/u/pic.jpg",
        "home/v",
        "logs",
        "logs/old",
    }


def test_exclude_from_file(hutch, repo, project, tmp_path):
    excludes = tmp_path / "excludes"
    excludes.write_text("# what not to keep\n\n  home/u/.cache  \nsh:**/*.log\n*.jpg\n")
    hutch("create", "--exclude-from", excludes, f"{repo}::a", ".", cwd=project, check=0)
    paths = _paths(hutch, repo, "a")
    assert "home/u/.cache" not in paths and "home/u/.cache/blob" not in paths
    assert not [p for p in paths if p.endswith((".log", ".jpg"))]
    assert {"src/main.py", "home/u/doc.txt", "logs/old"} <= paths


def test_pattern_include_before_exclude(hutch, repo, project):
    hutch(
        "create",
        "--pattern",
        "+ home/u/doc.txt",
        "--pattern",
        "- home",
        "--pattern",
        "! logs",
        f"{repo}::a",
        ".",
        cwd=project,
        check=0,
    )
    paths = _paths(hutch, repo, "a")
    assert "home/u/doc.txt" in paths
    assert not {"home/u/pic.jpg", "home/v/doc.txt", "home/u/.cache/blob"} & paths
    assert not [p for p in paths if p.startswith("logs")]
    assert {"src/main.py", "src/build/out.o"} <= paths


def test_patterns_from_with_roots(hutch, repo, project, tmp_path):
    patterns = tmp_path / "patterns"
    patterns.write_text(
        f"# roots come from the file\nR {project}/src\nR {project}/home\n"
        "P sh\n- **/.cache\n- **/*.txt\n+ **/*.py\n"
    )
    # No PATH on the command line: the roots are the paths.
    hutch("create", "--patterns-from", patterns, f"{repo}::a", check=0)
    stored = str(project).lstrip("/")
    paths = _paths(hutch, repo, "a")
    assert f"{stored}/src/main.py" in paths
    assert f"{stored}/home/u/pic.jpg" in paths
    assert f"{stored}/src/build/out.o" in paths
    assert not [p for p in paths if p.endswith(".txt") or ".cache" in p]
    assert not [p for p in paths if "/logs" in p], "logs is no root"


def test_exclude_caches_and_if_present(hutch, repo, project):
    _write(project, "src/build/CACHEDIR.TAG", CACHEDIR_TAG)
    _write(project, "logs/CACHEDIR.TAG", b"not the right signature")
    _write(project, "home/v/.nobackup", b"")
    hutch(
        "create",
        "--exclude-caches",
        "--exclude-if-present",
        ".nobackup",
        f"{repo}::a",
        ".",
        cwd=project,
        check=0,
    )
    paths = _paths(hutch, repo, "a")
    assert not [p for p in paths if p.startswith(("src/build", "home/v"))]
    assert {"src/main.py", "logs/CACHEDIR.TAG", "logs/today.log", "home/u/doc.txt"} <= paths
    hutch("create", f"{repo}::b", ".", cwd=project, check=0)
    assert {"src/build/out.o", "home/v/doc.txt"} <= _paths(hutch, repo, "b")


def test_one_file_system(hutch, repo, project):
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("needs root and unshare to mount a second file system")
    mnt = project / "mnt"
    mnt.mkdir()
    script = 'mount -t tmpfs tmpfs "$1" && echo inner > "$1/inner.txt" && shift && exec "$@"'

    def create_in_namespace(*args):
        proc = subprocess.run(
            ["unshare", "--mount", "sh", "-c", script, "sh", str(mnt), HUTCH, "create", *args],
            cwd=project,
            capture_output=True,
        )
        if b"mount" in proc.stderr and proc.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.decode()}")
        assert proc.returncode == 0, proc.stderr.decode()

    create_in_namespace(f"{repo}::whole", ".")
    create_in_namespace("-x", f"{repo}::one", ".")
    assert "mnt/inner.txt" in _paths(hutch, repo, "whole")
    one = _paths(hutch, repo, "one")
    assert "mnt" in one, "the mount point itself is kept"
    assert "mnt/inner.txt" not in one
    assert "src/main.py" in one


# -- files cache and --list ---------------------------------------------


def _age(root):
    """Files cache entries are only trusted for files older than a second."""
    time.sleep(1.1)


def test_files_cache_unchanged_modified_added(hutch, repo, project):
    _age(project)
    first = _statuses(hutch("create", "--list", f"{repo}::a", ".", cwd=project, check=0).err)
    assert first["src/main.py"] == "A"
    second = _statuses(hutch("create", "--list", f"{repo}::b", ".", cwd=project, check=0).err)
    files = [p for p in second if os.path.isfile(project / p)]
    assert files and all(second[p] == "U" for p in files), second
    with open(project / "src/main.py", "ab") as f:
        f.write(b"# more")
    _write(project, "src/new.py", b"new")
    third = _statuses(hutch("create", "--list", f"{repo}::c", ".", cwd=project, check=0).err)
    assert third["src/main.py"] == "M"
    assert third["src/new.py"] == "A"
    assert third["home/u/doc.txt"] == "U"


def test_unchanged_files_keep_their_xattrs_acls_and_flags(hutch, repo, tmp_path):
    """An unchanged file's metadata comes from the files cache only where the
    file had none: the others are read again, and setting any moves the ctime."""
    root = tmp_path / "meta"
    root.mkdir()
    for name in ("bare", "xattr", "acl", "flag"):
        _write(root, name, name.encode())
    os.setxattr(root / "xattr", "user.k", b"v")
    subprocess.run(["setfacl", "-m", "u:nobody:r", root / "acl"], check=True)
    flags = subprocess.run(["chattr", "+d", root / "flag"], capture_output=True).returncode == 0
    _age(root)
    hutch("create", f"{repo}::a", ".", cwd=root, check=0)
    second = _statuses(hutch("create", "--list", f"{repo}::b", ".", cwd=root, check=0).err)
    assert {second[n] for n in ("bare", "xattr", "acl", "flag")} == {"U"}
    os.setxattr(root / "bare", "user.new", b"later")
    hutch("create", f"{repo}::c", ".", cwd=root, check=0)
    for archive, expected in (("b", {}), ("c", {b"user.new": b"later"})):
        out = tmp_path / archive
        out.mkdir()
        hutch("extract", f"{repo}::{archive}", cwd=out, check=0)
        assert {n.encode(): os.getxattr(out / "bare", n) for n in os.listxattr(out / "bare")} == (
            expected
        )
        assert os.getxattr(out / "xattr", "user.k") == b"v"
        assert (
            b"user:nobody:r"
            in subprocess.run(
                ["getfacl", "-c", out / "acl"], check=True, capture_output=True
            ).stdout
        )
        if flags:
            lsattr = subprocess.run(["lsattr", "-d", out / "flag"], capture_output=True, text=True)
            assert "d" in lsattr.stdout.split()[0]


def test_unchanged_files_are_not_read_again(hutch, repo, project):
    """The second run gets no read access to the files: it must not need it."""
    _age(project)
    hutch("create", "--files-cache", "mtime,size,inode", f"{repo}::a", ".", cwd=project, check=0)
    for folder, _, files in os.walk(project):
        for name in files:
            os.chmod(os.path.join(folder, name), 0)  # changes ctime, not mtime
    r = hutch(
        "create",
        "--list",
        "--files-cache",
        "mtime,size,inode",
        f"{repo}::b",
        ".",
        cwd=project,
        prefix=UNPRIVILEGED,
        check=0,
    )
    assert _statuses(r.err)["home/u/doc.txt"] == "U"
    # Under ctime the chmod counts as a change: the files are read and refused.
    r = hutch(
        "create",
        "--files-cache",
        "ctime,size,inode",
        f"{repo}::c",
        ".",
        cwd=project,
        prefix=UNPRIVILEGED,
    )
    assert r.rc == 1 and "Permission denied" in r.err


def test_files_cache_modes_and_inodes(hutch, repo, project, tmp_path):
    _age(project)
    hutch("create", f"{repo}::a", ".", cwd=project, check=0)
    # Same content, size and mtime; a new inode (as sshfs shows it every mount).
    doc = project / "home/u/doc.txt"
    shutil.copy2(doc, project / "tmp")
    os.replace(project / "tmp", doc)
    time.sleep(1.1)
    by_mode = {}
    for i, mode in enumerate(("mtime,size", "mtime,size,inode", "ctime,size", "disabled")):
        # Each mode starts from the cache that archive a left.
        cache = tmp_path / f"cache-{i}"
        shutil.copytree(os.environ["HUTCH_CACHE_DIR"], cache)
        r = hutch(
            "create",
            "--list",
            "--files-cache",
            mode,
            f"{repo}::m{i}",
            ".",
            cwd=project,
            env={"HUTCH_CACHE_DIR": str(cache)},
            check=0,
        )
        by_mode[mode] = _statuses(r.err)["home/u/doc.txt"]
    assert by_mode == {
        "mtime,size": "U",
        "mtime,size,inode": "M",
        "ctime,size": "M",
        "disabled": "A",
    }


def test_list_letters(hutch, repo, tmp_path):
    root = tmp_path / "kinds"
    root.mkdir()
    (root / "file").write_bytes(b"data")
    os.link(root / "file", root / "link-hard")
    os.symlink("file", root / "link-sym")
    os.mkfifo(root / "fifo")
    (root / "skipme").mkdir()
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(root / "socket"))
    if os.geteuid() == 0:
        os.mknod(root / "cdev", 0o600 | 0o020000, os.makedev(1, 3))
        os.mknod(root / "bdev", 0o600 | 0o060000, os.makedev(7, 200))
    try:
        r = hutch("create", "--list", "-e", "skipme", f"{repo}::a", ".", cwd=root, check=0)
    finally:
        sock.close()
    statuses = _statuses(r.err)
    expected = {"file": "A", "link-hard": "h", "link-sym": "s", "fifo": "f", "skipme": "x"}
    if os.geteuid() == 0:
        expected.update({"cdev": "c", "bdev": "b"})
    assert {p: statuses.get(p) for p in expected} == expected
    assert "socket" not in _paths(hutch, repo, "a")
    dry = _statuses(
        hutch("create", "--list", "--dry-run", f"{repo}::b", ".", cwd=root, check=0).err
    )
    assert dry["file"] == "-"


# -- output --------------------------------------------------------------


def test_stats_and_json(hutch, repo, tree):
    r = hutch("create", "--stats", f"{repo}::a", ".", cwd=tree, check=0)
    text = r.out + r.err
    for label in ("Archive name: a", "Number of files:", "Original size:", "Deduplicated size:"):
        assert label in text, text
    doc = json.loads(hutch("create", "--json", f"{repo}::b", ".", cwd=tree, check=0).out)
    archive = doc["archive"]
    assert archive["name"] == "b"
    nfiles = sum(
        1
        for folder, _, files in os.walk(tree)
        for name in files
        if not os.path.islink(os.path.join(folder, name))
        and os.path.isfile(os.path.join(folder, name))
    )
    assert archive["stats"]["nfiles"] == nfiles
    assert archive["stats"]["original_size"] >= 3 * 1024 * 1024
    assert archive["stats"]["deduplicated_size"] < 64 * 1024  # all known from archive a
    assert doc["repository"]["id"] and doc["encryption"]["mode"] == "repokey"
    listed = json.loads(hutch("list", "--json", repo, check=0).out)
    assert archive["id"] in [a["id"] for a in listed["archives"]]


def _repo_files(repo) -> dict:
    files = {}
    for folder, _, names in os.walk(repo):
        for name in names:
            path = os.path.join(folder, name)
            with open(path, "rb") as f:
                files[os.path.relpath(path, repo)] = f.read()
    return files


def test_dry_run_changes_nothing(hutch, repo, tree):
    hutch("create", f"{repo}::a", "dir", cwd=tree, check=0)
    before = _repo_files(repo)
    r = hutch("create", "--dry-run", "--list", f"{repo}::b", ".", cwd=tree, check=0)
    assert "dir/sub/random.bin" in r.err
    assert _repo_files(repo) == before
    # More data than fills a pack, from stdin (which is read even in a dry run).
    big = os.urandom(40 * 1024 * 1024)
    hutch("create", "--dry-run", f"{repo}::c", "-", input=big, check=0)
    assert _repo_files(repo) == before
    assert hutch("list", "--short", repo, check=0).out.split() == ["a"]
    # A dry run under an existing name is no error: nothing would be written.
    hutch("create", "-n", f"{repo}::a", ".", cwd=tree, check=0)


def test_comment_and_timestamp(hutch, repo, tree, tmp_path):
    hutch(
        "create",
        "--comment",
        "before the upgrade",
        "--timestamp",
        "2021-03-04T05:06:07",
        f"{repo}::a",
        tree,
        check=0,
    )
    info = json.loads(hutch("info", "--json", f"{repo}::a", check=0).out)["archives"][0]
    assert info["comment"] == "before the upgrade"
    assert info["start"].startswith("2021-03-04T05:06:07")
    assert "Comment: before the upgrade" in hutch("info", f"{repo}::a", check=0).out
    line = hutch("list", "--format", "{archive}|{time}|{comment}{NL}", repo, check=0).out
    assert line == "a|2021-03-04 05:06:07|before the upgrade\n"
    reference = tmp_path / "reference"
    reference.write_text("")
    os.utime(reference, (1_000_000_000, 1_000_000_000))
    hutch("create", "--timestamp", reference, f"{repo}::b", tree, check=0)
    info = json.loads(hutch("info", "--json", f"{repo}::b", check=0).out)["archives"][0]
    expected = datetime.datetime.fromtimestamp(1_000_000_000).strftime("%Y-%m-%dT%H:%M:%S")
    assert info["start"].startswith(expected)


def test_placeholders(hutch, repo, tree):
    before = datetime.date.today().isoformat()
    hutch("create", f"{repo}::{{hostname}}-{{now:%Y-%m-%d}}-{{user}}", tree, check=0)
    after = datetime.date.today().isoformat()
    host = socket.gethostname().split(".")[0]
    user = getpass.getuser()
    names = hutch("list", "--short", repo, check=0).out.split()
    assert names in ([f"{host}-{before}-{user}"], [f"{host}-{after}-{user}"])


# -- where the repository and archive are named ---------------------------


def test_repo_option_and_environment(hutch, repo, tree, tmp_path):
    hutch("create", "-r", repo, "one", "dir", cwd=tree, check=0)
    hutch("create", "--repo", repo, "two", "dir", cwd=tree, check=0)
    env = {"HUTCH_REPO": str(repo)}
    hutch("create", "three", "dir", cwd=tree, env=env, check=0)
    hutch("create", "::four", "dir", cwd=tree, env=env, check=0)
    assert hutch("list", "--short", env=env, check=0).out.split() == ["one", "two", "three", "four"]
    assert hutch("list", "--short", "-r", repo, check=0).out.split() == [
        "one",
        "two",
        "three",
        "four",
    ]
    for form in (("-r", repo, "three"), ("three",), ("::three",)):
        out = tmp_path / f"out-{len(form)}-{form[-1][0]}"
        out.mkdir()
        hutch("extract", *form, cwd=out, env=env, check=0)
        expected = snapshot(os.path.join(tree, "dir"))
        expected[b"file.txt"].pop("hardlink_group")  # its other link is not in "dir"
        assert snapshot(out / "dir") == expected


def test_stdin_with_stdin_name(hutch, repo, tmp_path):
    data = os.urandom(2 * 1024 * 1024) + b"tail"
    hutch("create", "--stdin-name", "db/dump.sql", f"{repo}::a", "-", input=data, check=0)
    assert hutch("list", "--short", f"{repo}::a", check=0).out.split() == ["db/dump.sql"]
    r = hutch("extract", "--stdout", f"{repo}::a", check=0)
    assert r.stdout_bytes == data
    out = tmp_path / "out"
    out.mkdir()
    hutch("extract", f"{repo}::a", cwd=out, check=0)
    assert (out / "db/dump.sql").read_bytes() == data
