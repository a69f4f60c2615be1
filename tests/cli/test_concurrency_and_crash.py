"""End to end: several backups into one repository at once, and `kill -9`
in the middle of a backup."""

import hashlib
import json
import os
import signal
import subprocess
import time

from ..conftest import HUTCH, random_tree, snapshot


def test_concurrent_creates_all_succeed(hutch, repo, tmp_path):
    common = os.urandom(4 * 1024 * 1024)
    trees = []
    for i in range(3):
        root = tmp_path / f"tree-{i}"
        random_tree(root, {f"own-{j}.bin": 6 * 1024 * 1024 + j for j in range(4)}, common)
        trees.append(root)
    procs = [
        subprocess.Popen(
            [HUTCH, "create", f"{repo}::backup-{i}", "."],
            cwd=root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for i, root in enumerate(trees)
    ]
    results = [(p.wait(timeout=300), p.stderr.read().decode()) for p in procs]
    for p in procs:
        p.stdout.close()
        p.stderr.close()
    assert [rc for rc, _ in results] == [0, 0, 0], results
    names = hutch("list", "--short", repo, check=0).out.split()
    assert sorted(names) == ["backup-0", "backup-1", "backup-2"]
    for i, root in enumerate(trees):
        out = tmp_path / f"out-{i}"
        out.mkdir()
        hutch("extract", f"{repo}::backup-{i}", cwd=out, check=0)
        assert snapshot(out) == snapshot(root)
    assert os.listdir(repo / "locks") == []


def _digests(root) -> dict[str, str]:
    result = {}
    for name in sorted(os.listdir(root)):
        with open(os.path.join(root, name), "rb") as f:
            result[name] = hashlib.blake2b(f.read()).hexdigest()
    return result


def _packs(repo) -> dict[str, int]:
    """name -> size of the packs in the repository."""
    return {
        name: os.path.getsize(os.path.join(folder, name))
        for folder, _, names in os.walk(repo / "packs")
        for name in names
        if not name.startswith(".")
    }


def _one_cpu():
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def test_kill_9_during_create(hutch, repo, tmp_path, tree):
    hutch("create", f"{repo}::before", ".", cwd=tree, check=0)
    data = tmp_path / "data"
    files = {f"part-{i}.bin": 16 * 1024 * 1024 for i in range(8)}
    random_tree(data, files)
    total = sum(files.values())
    packs_before = _packs(repo)
    # Kill after 0.3 s (opening, walking), after 1 s (chunks in flight), and
    # as soon as a second pack of the run is uploaded (mid-upload, no segment).
    for i, when in enumerate((0.3, 1.0, "2 packs")):
        packs_now = len(_packs(repo))
        # zlib on one CPU: slow enough to be killed in the middle on any machine.
        proc = subprocess.Popen(
            [HUTCH, "create", "-C", "zlib,6", f"{repo}::crash-{i}", "."],
            cwd=data,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=_one_cpu,
        )
        if isinstance(when, float):
            time.sleep(when)
        else:
            deadline = time.monotonic() + 60
            while len(_packs(repo)) < packs_now + 2 and time.monotonic() < deadline:
                time.sleep(0.01)
        assert proc.poll() is None, "the backup ended before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        # Earlier archives are intact, the killed one does not exist.
        assert hutch("list", "--short", repo, check=0).out.split() == ["before"]
        out = tmp_path / f"out-{i}"
        out.mkdir()
        hutch("extract", f"{repo}::before", cwd=out, check=0)
        assert snapshot(out) == snapshot(tree)
    uploaded = sum(size for name, size in _packs(repo).items() if name not in packs_before)
    assert uploaded, "no killed backup got as far as uploading a pack"
    # No repair step: the next backup just works and reuses what was uploaded.
    doc = json.loads(hutch("create", "--json", f"{repo}::after", ".", cwd=data, check=0).out)
    stats = doc["archive"]["stats"]
    assert stats["original_size"] == total
    # Random data: what the killed backups uploaded is not uploaded again.
    assert stats["deduplicated_size"] <= total - 0.95 * uploaded
    out = tmp_path / "out-after"
    out.mkdir()
    hutch("extract", f"{repo}::after", cwd=out, check=0)
    assert _digests(out) == _digests(data)
    # Commands that need the repository to themselves are not blocked either.
    hutch("rename", "--lock-wait", "1", f"{repo}::after", "renamed", check=0)
    assert hutch("list", "--short", repo, check=0).out.split() == ["before", "renamed"]
