"""End to end on object storage: the real `hutch` against a real S3 server
(SeaweedFS on 127.0.0.1), configured by the standard AWS variables."""

import os
import subprocess
import time

import boto3
import msgpack
import pytest

from ..conftest import HUTCH, assert_clean_error, snapshot
from ..s3proxy import FaultProxy, ProxyRule
from ..s3server import BUCKET, SeaweedS3


def _extract(hutch, location, target):
    target.mkdir()
    hutch("extract", location, cwd=target, check=0)
    return snapshot(target)


def _objects(server, url: str) -> list[str]:
    """Every key below the prefix of `url`, as the bucket holds them."""
    prefix = url.split("/", 3)[3] + "/"
    client = boto3.client("s3", **_client_args(server))
    try:
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
        return [o["Key"][len(prefix) :] for page in pages for o in page.get("Contents", ())]
    finally:
        client.close()


def _client_args(server) -> dict:
    env = server.env()
    return {
        "endpoint_url": env["AWS_ENDPOINT_URL"],
        "aws_access_key_id": env["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": env["AWS_SECRET_ACCESS_KEY"],
        "region_name": "us-east-1",
    }


def test_backup_restore_and_maintenance_on_s3(hutch, s3, tree, tmp_path):
    url = s3.url()
    hutch("init", "-e", "repokey", url, check=0)
    assert "hutch-store" in _objects(s3, url)
    hutch("create", f"{url}::one", ".", cwd=tree, check=0)
    with open(os.path.join(tree, "dir/new.bin"), "wb") as f:
        f.write(os.urandom(2 * 1024 * 1024))
    hutch("create", f"{url}::two", ".", cwd=tree, check=0)
    assert hutch("list", "--short", url, check=0).out.split() == ["one", "two"]
    assert _extract(hutch, f"{url}::two", tmp_path / "out-two") == snapshot(tree)
    hutch("check", "--verify-data", url, check=0)
    hutch("prune", "--keep-last", "1", url, check=0)
    before = len([k for k in _objects(s3, url) if k.startswith("packs/")])
    hutch("compact", url, check=0)
    assert hutch("list", "--short", url, check=0).out.split() == ["two"]
    assert _extract(hutch, f"{url}::two", tmp_path / "out-again") == snapshot(tree)
    hutch("check", url, check=0)
    assert len([k for k in _objects(s3, url) if k.startswith("packs/")]) <= before
    assert not [k for k in _objects(s3, url) if k.startswith("locks/")]
    hutch("repo-delete", url, env={"HUTCH_DELETE_I_KNOW_WHAT_I_AM_DOING": "YES"}, check=0)
    assert _objects(s3, url) == []
    hutch("init", "-e", "repokey", url, check=0)  # the prefix is free again


def test_two_clients_back_up_into_one_prefix_at_once(hutch, s3, tmp_path):
    url = s3.url()
    hutch("init", "-e", "repokey", url, check=0)
    common = os.urandom(3 * 1024 * 1024)
    trees = []
    for i in range(2):
        root = tmp_path / f"client-{i}"
        root.mkdir()
        for j in range(3):
            (root / f"own-{j}.bin").write_bytes(os.urandom(7 * 1024 * 1024 + j))
        (root / "common.bin").write_bytes(common)
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
    client = boto3.client("s3", **_client_args(s3))
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
        for i in range(4):
            (data / f"part-{i}.bin").write_bytes(os.urandom(16 * 1024 * 1024))
        proc = subprocess.Popen(
            [HUTCH, "create", f"{url}::big", "."], cwd=data, stderr=subprocess.PIPE
        )
        packs = len([k for k in _objects(server, url) if k.startswith("packs/")])
        deadline = time.monotonic() + 120
        while len([k for k in _objects(server, url) if k.startswith("packs/")]) == packs:
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


@pytest.fixture
def aws_files(s3, tmp_path):
    """The server's AWS configuration as files (the standard chain's
    ~/.aws/config and ~/.aws/credentials, at paths of the test's)."""
    config = tmp_path / "aws-config"
    config.write_text(f"[default]\nregion = us-east-1\nendpoint_url = {s3.endpoint}\n")
    credentials = tmp_path / "aws-credentials"
    env = s3.env()
    credentials.write_text(
        f"[default]\naws_access_key_id = {env['AWS_ACCESS_KEY_ID']}\n"
        f"aws_secret_access_key = {env['AWS_SECRET_ACCESS_KEY']}\n"
    )
    return (
        f"AWS_CONFIG_FILE={config} AWS_SHARED_CREDENTIALS_FILE={credentials} "
        "AWS_EC2_METADATA_DISABLED=true"
    )


def test_serve_store_root_append_only_through_sshd(hutch, s3, sshd, aws_files, tree, monkeypatch):
    """The client speaks ssh and holds no cloud credentials; the forced
    command serves a prefix of the bucket, append-only."""
    root = s3.url("served")
    sshd.authorize(
        f'command="env {aws_files} {HUTCH} serve --append-only --store-root {root} '
        '--restrict-to-path /backups",restrict'
    )
    for name in list(os.environ):
        if name.startswith("AWS_") and name != "AWS_EC2_METADATA_DISABLED":
            monkeypatch.delenv(name)
    monkeypatch.setenv("HUTCH_RSH", sshd.rsh)
    url = sshd.url("/backups/alice")
    hutch("init", "-e", "repokey", url, check=0)
    hutch("create", f"{url}::one", ".", cwd=tree, check=0)
    assert "backups/alice/hutch-store" in _objects(s3, root)
    for command in (["delete", f"{url}::one"], ["prune", "--keep-last", "0", url]):
        r = hutch(*command)
        assert r.rc == 2
        assert_clean_error(r, "permission denied")
    r = hutch("init", "-e", "repokey", sshd.url("/elsewhere"))
    assert r.rc == 2
    assert_clean_error(r, "not inside the accessible paths")
    assert hutch("list", "--short", url, check=0).out.split() == ["one"]
    assert not [k for k in _objects(s3, root) if "/locks/" in k]


def test_pull_into_s3(hutch, s3, sshd, tree, tmp_path):
    sshd.allow_plain()
    url = s3.url()
    hutch("init", "-e", "repokey", url, check=0)
    client = f"root@127.0.0.1:{sshd.port}"
    hutch("pull", "--rsh", sshd.rsh, client, f"{url}::pulled", tree, check=0)
    assert hutch("list", "--short", url, check=0).out.split() == ["pulled"]
    out = tmp_path / "out"
    out.mkdir()
    strip = str(tree).count("/") - 1
    hutch("extract", "--strip-components", strip, f"{url}::pulled", cwd=out, check=0)
    assert snapshot(out / "tree") == snapshot(tree)
