"""End to end on object storage: the real `hutch` against a real S3 server
(SeaweedFS on 127.0.0.1), configured by the standard AWS variables."""

import os
import subprocess
import time

import msgpack

from ..conftest import HUTCH, PIPE_RSH, assert_clean_error, faketime, random_tree, snapshot
from ..s3proxy import FaultProxy, ProxyRule
from ..s3server import BUCKET, SeaweedS3
from ..sshd import free_port


def _extract(hutch, location, target):
    target.mkdir()
    hutch("extract", location, cwd=target, check=0)
    return snapshot(target)


def test_backup_restore_and_maintenance_on_s3(hutch, s3, tree, tmp_path):
    url = s3.url()
    hutch("init", "-e", "repokey", url, check=0)
    assert "hutch-store" in s3.keys(url)
    hutch("create", f"{url}::one", ".", cwd=tree, check=0)
    with open(os.path.join(tree, "dir/new.bin"), "wb") as f:
        f.write(os.urandom(2 * 1024 * 1024))
    hutch("create", f"{url}::two", ".", cwd=tree, check=0)
    assert hutch("list", "--short", url, check=0).out.split() == ["one", "two"]
    assert _extract(hutch, f"{url}::two", tmp_path / "out-two") == snapshot(tree)
    hutch("check", "--verify-data", url, check=0)
    hutch("prune", "--keep-last", "1", url, check=0)
    before = len([k for k in s3.keys(url) if k.startswith("packs/")])
    hutch("compact", url, check=0)
    assert hutch("list", "--short", url, check=0).out.split() == ["two"]
    assert _extract(hutch, f"{url}::two", tmp_path / "out-again") == snapshot(tree)
    hutch("check", url, check=0)
    assert len([k for k in s3.keys(url) if k.startswith("packs/")]) <= before
    assert not [k for k in s3.keys(url) if k.startswith("locks/")]
    hutch("repo-delete", url, env={"HUTCH_DELETE_I_KNOW_WHAT_I_AM_DOING": "YES"}, check=0)
    assert s3.keys(url) == []
    hutch("init", "-e", "repokey", url, check=0)  # the prefix is free again


def test_two_clients_back_up_into_one_prefix_at_once(hutch, s3, tmp_path):
    url = s3.url()
    hutch("init", "-e", "repokey", url, check=0)
    common = os.urandom(3 * 1024 * 1024)
    trees = []
    for i in range(2):
        root = tmp_path / f"client-{i}"
        random_tree(root, {f"own-{j}.bin": 7 * 1024 * 1024 + j for j in range(3)}, common)
        trees.append(root)
    procs = [
        subprocess.Popen(
            [HUTCH, "create", f"{url}::client-{i}", "."],
            cwd=root,
            stderr=subprocess.PIPE,
            # Two machines: each its own cache.
            env={**os.environ, "HUTCH_CACHE_DIR": str(tmp_path / f"cache-{i}")},
        )
        for i, root in enumerate(trees)
    ]
    results = [(p.wait(timeout=300), p.stderr.read().decode()) for p in procs]
    assert [rc for rc, _ in results] == [0, 0], results
    assert sorted(hutch("list", "--short", url, check=0).out.split()) == ["client-0", "client-1"]
    for i, root in enumerate(trees):
        assert _extract(hutch, f"{url}::client-{i}", tmp_path / f"out-{i}") == snapshot(root)
    hutch("check", "--verify-data", url, check=0)


def _put_lock(s3, url: str, beat: float, exclusive: bool) -> None:
    record = {"host": "another-host", "pid": 1, "since": beat, "beat": beat, "exclusive": exclusive}
    client = s3.client()
    key = url.split("/", 3)[3] + "/locks/" + "0" * 32
    client.put_object(Bucket=BUCKET, Key=key, Body=msgpack.packb(record))
    client.close()


def test_locks_are_leases(hutch, s3, tree):
    """Another machine's exclusive lock holds off a backup while its lease is
    fresh; once its heartbeat is old, the lock is stale and ignored."""
    url = s3.url()
    hutch("init", "-e", "repokey", url, check=0)
    _put_lock(s3, url, time.time(), exclusive=True)
    r = hutch("--lock-wait", "1", "create", f"{url}::held", ".", cwd=tree)
    assert r.rc == 2
    assert_clean_error(r, "lock", "break-lock")
    _put_lock(s3, url, time.time() - 3600, exclusive=True)
    hutch("--lock-wait", "1", "create", f"{url}::after", ".", cwd=tree, check=0)
    assert hutch("list", "--short", url, check=0).out.split() == ["after"]


def test_flaky_service_backup_succeeds(hutch, s3, tree, tmp_path, monkeypatch):
    url = s3.url()
    hutch("init", "-e", "repokey", url, check=0)
    proxy = FaultProxy(s3.port)
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.endpoint)
        monkeypatch.setenv("HUTCH_S3_TIMEOUT", "2")
        proxy.rules[:] = [
            ProxyRule("PUT", "/packs/", action="503", times=2),
            ProxyRule("PUT", "/packs/", nth=3, action="drop-after"),
            ProxyRule("PUT", "/index/", action="500"),
            ProxyRule("PUT", "/archives/", action="drop"),
            ProxyRule("GET", "/packs/", action="cut"),
            ProxyRule("GET", "/archives/", action="stall", seconds=4),
        ]
        hutch("create", f"{url}::flaky", ".", cwd=tree, check=0)
        assert _extract(hutch, f"{url}::flaky", tmp_path / "out") == snapshot(tree)
        assert proxy.fired() >= 6
    finally:
        proxy.stop()
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3.endpoint)
    hutch("check", "--verify-data", url, check=0)


def test_permanent_error_stops_the_backup_with_nothing_committed(hutch, s3, tree, monkeypatch):
    url = s3.url()
    hutch("init", "-e", "repokey", url, check=0)
    hutch("create", f"{url}::before", ".", cwd=tree, check=0)
    proxy = FaultProxy(s3.port)
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.endpoint)
        proxy.rules[:] = [ProxyRule("PUT", "/archives/", action="403")]
        (open(os.path.join(tree, "more.bin"), "wb")).write(os.urandom(100_000))
        r = hutch("create", f"{url}::denied", ".", cwd=tree)
        assert r.rc == 2
        assert_clean_error(r, "access denied", "credentials")
        assert len(r.err.strip().splitlines()) == 1, r.err
    finally:
        proxy.stop()
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3.endpoint)
    assert hutch("list", "--short", url, check=0).out.split() == ["before"]
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    r = hutch("list", url)
    assert r.rc == 2
    assert_clean_error(r, "access denied")


def test_s3_server_killed_during_backup(hutch, tmp_path, tree, monkeypatch):
    server = SeaweedS3(tmp_path / "own-s3")
    try:
        for name, value in server.env().items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("HUTCH_S3_RETRY_SECONDS", "3")
        url = server.url()
        hutch("init", "-e", "repokey", url, check=0)
        hutch("create", f"{url}::before", ".", cwd=tree, check=0)
        data = tmp_path / "data"
        data.mkdir()
        # Enough that the backup is still uploading when its first pack shows
        # (64 MiB once finished before the kill landed).
        for i in range(12):
            (data / f"part-{i}.bin").write_bytes(os.urandom(16 * 1024 * 1024))
        proc = subprocess.Popen(
            [HUTCH, "create", f"{url}::big", "."], cwd=data, stderr=subprocess.PIPE
        )
        packs = len([k for k in server.keys(url) if k.startswith("packs/")])
        deadline = time.monotonic() + 120
        while len([k for k in server.keys(url) if k.startswith("packs/")]) == packs:
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.1)
        server.kill()
        rc, err = proc.wait(timeout=120), proc.stderr.read().decode()
        assert rc == 2
        assert "Traceback" not in err and "gave up" in err, err
        server.start()
        assert hutch("list", "--short", url, check=0).out.split() == ["before"]
        assert _extract(hutch, f"{url}::before", tmp_path / "out") == snapshot(tree)
        hutch("create", f"{url}::big", ".", cwd=data, check=0)
        hutch("check", url, check=0)
    finally:
        server.stop()


def test_init_says_when_the_service_ignores_conditional_writes(hutch, s3, monkeypatch):
    proxy = FaultProxy(s3.port)
    monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.endpoint)
    try:
        r = hutch("init", "-e", "repokey", s3.url("honest"), check=0)
        assert "conditional" not in r.err
        proxy.rules[:] = [ProxyRule("PUT", "/hutch-store", nth=2, action="unconditional")]
        careless = s3.url("careless")
        r = hutch("init", "-e", "repokey", careless, check=1)
        assert_clean_error(r, "ignores conditional writes", "--store-root", "own bucket")
        assert proxy.fired() == 1
        assert hutch("list", careless, check=0).out == ""
    finally:
        proxy.stop()


def test_init_through_serve_relays_that_the_service_ignores_conditional_writes(
    hutch, s3, monkeypatch
):
    """The server holds the credentials and finds it out; the client's user
    is the one who runs init, so the client says it."""
    proxy = FaultProxy(s3.port)
    monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.endpoint)  # the serve runs here, over a pipe
    monkeypatch.setenv("HUTCH_RSH", PIPE_RSH)
    serve = f"sh -c 'exec {HUTCH} serve --store-root {s3.url('served')}' -"
    try:
        r = hutch("init", "--remote-path", serve, "-e", "repokey", "ssh://host/honest", check=0)
        assert "conditional" not in r.err
        proxy.rules[:] = [ProxyRule("PUT", "/hutch-store", nth=2, action="unconditional")]
        careless = "ssh://host/careless"
        r = hutch("init", "--remote-path", serve, "-e", "repokey", careless, check=1)
        assert_clean_error(r, "ignores conditional writes", "own bucket")
        assert proxy.fired() == 1
        assert hutch("list", "--remote-path", serve, careless, check=0).out == ""
    finally:
        proxy.stop()


def test_locks_are_judged_on_the_services_clock(hutch, s3):
    """A client whose clock runs 5 minutes ahead (signed requests allow 15)
    holds the exclusive lock: another client does not take it for stale."""
    url = s3.url("skewed")
    hutch("init", "-e", "repokey", url, check=0)
    holder = subprocess.Popen(
        [*faketime("+5m"), HUTCH, "with-lock", url, "sleep", "10"], stdout=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 30
        while not [k for k in s3.keys(url) if k.startswith("locks/")]:
            assert time.monotonic() < deadline and holder.poll() is None
            time.sleep(0.1)
        r = hutch("with-lock", "--lock-wait", "1", url, "true", check=2)
        assert_clean_error(r, "Failed to create/acquire the lock")
    finally:
        assert holder.wait(timeout=60) == 0


def test_an_unreachable_service_is_reported_while_it_is_retried(monkeypatch):
    """Retries are not a silent wait: the user hears why after a few seconds,
    directly and through `hutch serve --store-root`, and then the command ends."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")  # nobody listens
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    # Long enough that a report must come before giving up, whatever the jitter.
    monkeypatch.setenv("HUTCH_S3_RETRY_SECONDS", "15")
    monkeypatch.setenv("HUTCH_RSH", PIPE_RSH)
    serve = f"sh -c 'exec {HUTCH} serve --store-root s3://{BUCKET}' -"
    commands = {
        "direct": [HUTCH, "list", f"s3://{BUCKET}/nowhere"],
        "served": [HUTCH, "list", "--remote-path", serve, "ssh://backup/repo"],
    }
    running = {
        how: subprocess.Popen(argv, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for how, argv in commands.items()
    }
    errors = {how: proc.communicate(timeout=120)[1] for how, proc in running.items()}
    for how, proc in running.items():
        err = errors[how]
        assert proc.returncode == 2 and "Traceback" not in err, (how, err)
        assert err.count("retrying for up to") == 1, (how, err)
        assert "gave up" in err.splitlines()[-1], (how, err)
    assert "Remote: " in errors["served"]
