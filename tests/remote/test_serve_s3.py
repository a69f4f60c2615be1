"""`hutch serve --store-root s3://...` through a real sshd, and `hutch pull`
into object storage: the clients hold no cloud credentials."""

import os

import pytest

from ..conftest import HUTCH, assert_clean_error, snapshot


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
    assert "backups/alice/hutch-store" in s3.keys(root)
    for command in (["delete", f"{url}::one"], ["prune", "--keep-last", "0", url]):
        r = hutch(*command)
        assert r.rc == 2
        assert_clean_error(r, "permission denied")
    r = hutch("init", "-e", "repokey", sshd.url("/elsewhere"))
    assert r.rc == 2
    assert_clean_error(r, "not inside the accessible paths")
    assert hutch("list", "--short", url, check=0).out.split() == ["one"]
    assert not [k for k in s3.keys(root) if "/locks/" in k]


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
