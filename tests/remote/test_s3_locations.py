"""s3:// URLs, and repository paths below `hutch serve --store-root`: what
they name, and what they refuse."""

import pytest

from hutch.errors import PermissionDenied, UsageError
from hutch.remote.open import served_backend
from hutch.remote.server import ServeOptions, resolve_repository
from hutch.remote.urls import parse_location

from ..conftest import assert_clean_error


def test_s3_urls():
    loc = parse_location("s3://backups/alice/laptop/")
    assert (loc.scheme, loc.host, loc.path) == ("s3", "backups", "alice/laptop")
    assert parse_location("s3://backups").path == ""
    for bad in ("s3://", "s3://Bad_Bucket/x", "s3://b/x", "s3://bucket/../x", "s3://bucket/a b"):
        with pytest.raises(UsageError):
            parse_location(bad)


def test_bad_s3_url_is_a_clean_error(hutch):
    r = hutch("list", "s3://Not_A_Bucket/repo")
    assert r.rc == 2
    assert_clean_error(r, "invalid S3 URL", "s3://BUCKET[/PREFIX]")


def test_store_root_must_be_object_storage(hutch):
    r = hutch("serve", "--store-root", "/srv/backups")
    assert r.rc == 2
    assert_clean_error(r, "--store-root takes an s3://")


def test_paths_below_a_store_root_are_resolved_without_the_file_system(tmp_path):
    # A symlink on the serving machine must not move a path that names objects.
    (tmp_path / "backups").mkdir()
    (tmp_path / "backups" / "alice").symlink_to("/etc")
    options = ServeOptions(
        restrict_to_paths=[str(tmp_path / "backups")], store_root="s3://bucket/root"
    )
    assert resolve_repository(f"{tmp_path}/backups/alice", options) == f"{tmp_path}/backups/alice"
    with pytest.raises(PermissionDenied):
        resolve_repository(f"{tmp_path}/backups/../elsewhere", options)
    options = ServeOptions(restrict_to_repositories=["/backups/bob"], store_root="s3://bucket")
    assert resolve_repository("/backups/./bob/", options) == "/backups/bob"
    with pytest.raises(PermissionDenied):
        resolve_repository("/backups/alice", options)


def test_served_store_location_below_the_root():
    store = served_backend("/backups/alice", "s3://bucket/root")
    assert store.location == "s3://bucket/root/backups/alice"
    store.close()
    store = served_backend("/", "s3://bucket/root")
    assert store.location == "s3://bucket/root"
    store.close()
    with pytest.raises(UsageError, match="cannot name a repository in object storage"):
        served_backend("/backups/a b", "s3://bucket")


def test_no_credentials_is_a_clean_error(hutch):
    # An endpoint on this machine that nothing answers: the request must
    # fail before it is sent, for want of credentials.
    r = hutch("list", "s3://bucket/repo", env={"AWS_ENDPOINT_URL": "http://127.0.0.1:9"})
    assert r.rc == 2
    assert_clean_error(r, "no AWS credentials", "AWS_PROFILE")
