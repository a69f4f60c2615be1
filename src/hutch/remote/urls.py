"""Repository locations as users write them.

- a path, or file:///path
- ssh://[user@]host[:port]/path, where the path part means:
    /abs/path or //abs/path   absolute
    /~/repo                   in the login user's home on the server
    /~user/repo               in that user's home on the server
    /./repo                   relative to the login directory
- socket:///path: a `hutch serve --socket` on this machine
- s3://BUCKET[/PREFIX]: S3-compatible object storage. Credentials, region,
  endpoint and profile come from the standard AWS configuration:
  AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, ~/.aws/config and
  ~/.aws/credentials, AWS_ENDPOINT_URL or AWS_ENDPOINT_URL_S3 for a service
  other than AWS (MinIO, Ceph, Garage, SeaweedFS, ...). Transient errors are
  retried for HUTCH_S3_RETRY_SECONDS (default 300); one request may stall
  for HUTCH_S3_TIMEOUT seconds (default 60).
- stdio: the server at the other end of stdin/stdout (what `hutch pull`
  starts on a client; the server chose the repository)
"""

import re
from dataclasses import dataclass

from ..errors import UsageError

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_PREFIX_PART = re.compile(r"^[A-Za-z0-9!_.*'()-]+$")
_SSH = re.compile(
    r"^ssh://(?:(?P<user>[^@/]+)@)?(?P<host>\[[^\]]+\]|[^:/]+)(?::(?P<port>\d+))?(?P<path>/.*)$"
)


@dataclass(frozen=True)
class Location:
    scheme: str  # "file", "ssh", "socket", "s3" or "stdio"
    path: str  # the repository path as the server should see it; for s3 the key prefix
    host: str = ""  # for s3 the bucket
    user: str | None = None
    port: int | None = None
    text: str = ""

    def __str__(self) -> str:
        return self.text


def parse_location(text: str) -> Location:
    if text == "stdio:":
        return Location("stdio", "", text="the pulling server")
    if text.startswith("file://"):
        return Location("file", text[len("file://") :], text=text)
    if text.startswith("socket://"):
        path = text[len("socket://") :]
        if not path.startswith("/"):
            raise UsageError(f"invalid socket URL {text!r}; write socket:///absolute/path/to/repo")
        return Location("socket", path, text=text)
    if text.startswith("ssh://"):
        m = _SSH.match(text)
        if not m:
            raise UsageError(
                f"invalid ssh URL {text!r}; write ssh://[user@]host[:port]/path "
                "(/~/repo for a path in the home directory)"
            )
        if m.group("host").startswith("-") or (m.group("user") or "").startswith("-"):
            raise UsageError(f"invalid ssh URL {text!r}: a host or user cannot start with '-'")
        return Location(
            "ssh",
            _server_path(m.group("path")),
            host=m.group("host").strip("[]"),
            user=m.group("user"),
            port=int(m.group("port")) if m.group("port") else None,
            text=text,
        )
    if text.startswith("s3://"):
        return _s3_location(text)
    if "://" in text:
        raise UsageError(
            f"unknown repository URL {text!r}; use a path, file://, ssh://, socket:// or s3://"
        )
    return Location("file", text, text=text)


def _server_path(url_path: str) -> str:
    if url_path.startswith("//"):
        return url_path[1:]
    if url_path.startswith(("/~", "/./")):
        return url_path[1:]
    return url_path


def _s3_location(text: str) -> Location:
    bucket, _, prefix = text[len("s3://") :].partition("/")
    parts = [p for p in prefix.split("/") if p]
    if not _BUCKET.match(bucket) or not all(
        _PREFIX_PART.match(p) and p not in (".", "..") for p in parts
    ):
        raise UsageError(
            f"invalid S3 URL {text!r}; write s3://BUCKET[/PREFIX] (bucket: 3-63 of a-z 0-9 . -; "
            "prefix: folders of letters, digits and !_.*'()-)"
        )
    return Location("s3", "/".join(parts), host=bucket, text=text)
