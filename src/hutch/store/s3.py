"""A store in S3-compatible object storage: `s3://BUCKET[/PREFIX]`.

Objects are `PREFIX/namespace/key`; `PREFIX/hutch-store` marks a
repository. Credentials, region, endpoint and profile come from the
standard AWS configuration chain (botocore, the library under boto3, reads
it: environment, `~/.aws/config` and `~/.aws/credentials`, `AWS_PROFILE`,
`AWS_ENDPOINT_URL` and `AWS_ENDPOINT_URL_S3`).

Contract notes for this backend:
- A put is one PUT request: S3 stores it whole or not at all, and never
  lists an object before it is complete. A put that must not overwrite
  sends `If-None-Match: *`, so the service refuses a name that exists even
  when two writers race; a service that ignores the header replaces the
  object instead (README: "Object storage").
- Errors that may pass (5xx, throttling, a timeout, a dropped connection)
  raise `StoreUnavailable`; this class does not retry them: `RetryStore`
  (store/retry.py) does, with backoff and a time limit.
"""

import email.utils
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import botocore.config
import botocore.exceptions
import botocore.session

from ..errors import (
    ObjectExists,
    ObjectNotFound,
    RepositoryExists,
    StoreError,
    StoreUnavailable,
    UsageError,
)
from .base import NAMESPACES, ObjectInfo, Store, split_name

MARKER = "hutch-store"
_MARKER_TEXT = b"This is a hutch repository. Do not change objects in here by hand.\n"
# Enough connections for the upload, read-ahead and get_many threads at once.
CONNECTIONS = 16

_TRANSIENT_CODES = {
    "InternalError",
    "ServiceUnavailable",
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "RequestTimeout",
    "ConditionalRequestConflict",
    "OperationAborted",
}
_DENIED_CODES = {
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "ExpiredToken",
}


def make_client(timeout: float):
    """An S3 client configured by the standard AWS chain. Retries are ours
    (RetryStore), so the client tries each request once."""
    config = botocore.config.Config(
        connect_timeout=timeout,
        read_timeout=timeout,
        retries={"total_max_attempts": 1},
        max_pool_connections=CONNECTIONS,
        # The body is already protected in transit (TLS, or SigV4's payload
        # hash over plain HTTP); the extra CRC header of newer SDKs breaks
        # some S3-compatible services.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    try:
        # botocore's own session: boto3 would add only its imports (s3transfer
        # and resources; 0.08 s of every start) to the same client.
        return botocore.session.get_session().create_client("s3", config=config)
    except botocore.exceptions.BotoCoreError as e:
        raise StoreError(f"cannot set up S3 access: {e}") from e


class S3Store(Store):
    parallel_puts = 3  # each PUT waits out the network's latency
    write_once_enforced = True  # until `create` finds the service ignores If-None-Match

    def __init__(self, bucket: str, prefix: str = "", timeout: float = 60.0, client=None):
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self._base = f"{self.prefix}/" if self.prefix else ""
        self.client = client or make_client(timeout)
        self._clock_offset: float | None = None  # the service's clock minus ours
        # Threads start only when get_many or destroy first need them.
        self._pool = ThreadPoolExecutor(max_workers=CONNECTIONS // 2, thread_name_prefix="s3")

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    def _key(self, name: str) -> str:
        namespace, key = split_name(name)
        return f"{self._base}{namespace}/{key}"

    # -- errors -----------------------------------------------------------

    def _error(self, e: Exception, what: str, name: str) -> StoreError:
        """The store error for a failed request on `name`."""
        where = f"{what} {name} in {self.location}"
        if isinstance(e, botocore.exceptions.ClientError):
            error = e.response.get("Error", {})
            code = str(error.get("Code", ""))
            status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
            detail = f"{code or status} {error.get('Message') or ''}".strip()
            if code == "RequestTimeTooSkewed":
                return StoreError(
                    f"{where} failed: this machine's clock is too far from the service's; "
                    "set it right (NTP)"
                )
            if code == "NoSuchBucket":
                return StoreError(f"bucket {self.bucket!r} does not exist ({where})")
            if status == 404 or code in ("NoSuchKey", "NotFound", "404"):
                return ObjectNotFound(f"object {name} not found in {self.location}")
            if status == 412 or code == "PreconditionFailed":
                return ObjectExists(f"object {name} exists in {self.location}")
            if code in _DENIED_CODES or status == 403:
                return StoreError(
                    f"access denied: {where}: {detail}; check the AWS credentials "
                    "(AWS_ACCESS_KEY_ID, AWS_PROFILE, ~/.aws/credentials) and the bucket's policy"
                )
            if status >= 500 or status in (408, 409, 429) or code in _TRANSIENT_CODES:
                return StoreUnavailable(f"{where} failed: {detail}")
            return StoreError(f"{where} failed: {detail}")
        if isinstance(e, botocore.exceptions.NoCredentialsError):
            return StoreError(
                f"no AWS credentials for {self.location}: set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, or write ~/.aws/credentials"
            )
        if isinstance(e, botocore.exceptions.SSLError):
            return StoreError(f"{where} failed: {e}; check the endpoint's TLS certificate")
        if isinstance(
            e,
            botocore.exceptions.ConnectionError
            | botocore.exceptions.HTTPClientError
            | botocore.exceptions.IncompleteReadError
            | OSError,
        ):
            return StoreUnavailable(f"{where} failed: {e}")
        return StoreError(f"{where} failed: {e}")

    def _request(
        self,
        what: str,
        name: str,
        method: Callable[..., Any],
        expect: tuple[str, ...] = (),
        **kwargs: Any,
    ) -> Any:
        """One request; None if it failed with an error code in `expect`."""
        try:
            return method(Bucket=self.bucket, **kwargs)
        except botocore.exceptions.ClientError as e:
            if e.response.get("Error", {}).get("Code") in expect:
                return None
            raise self._error(e, what, name) from e
        except (botocore.exceptions.BotoCoreError, OSError) as e:
            raise self._error(e, what, name) from e

    def now(self) -> float:
        """The service's clock, from the Date of one answer (to the second,
        half a round trip late): clients on several machines share the
        bucket's locks, and signed requests only bound their clocks to
        15 minutes of the service's, beyond a lock's 150 s."""
        if self._clock_offset is None:
            asked = time.time()
            try:
                response = self._request(
                    "reading the clock of", "the bucket", self.client.head_bucket
                )
            except ObjectNotFound:
                raise StoreError(
                    f"bucket {self.bucket!r} does not exist ({self.location})"
                ) from None
            date = response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
            try:
                offset = email.utils.parsedate_to_datetime(date).timestamp() - asked
            except (TypeError, ValueError):
                offset = 0.0  # no usable Date: this machine's clock
            self._clock_offset = offset
        return time.time() + self._clock_offset

    # -- the repository as a whole ------------------------------------------

    def exists(self) -> bool:
        try:
            self._request("reading", MARKER, self.client.head_object, Key=self._base + MARKER)
        except ObjectNotFound:
            return False
        return True

    def create(self) -> None:
        if self.exists():
            raise RepositoryExists(f"a repository already exists at {self.location}")
        first = self._request(
            "listing",
            "objects",
            self.client.list_objects_v2,
            expect=("NoSuchBucket",),
            Prefix=self._base,
            MaxKeys=1,
        )
        if first is None:
            self._create_bucket()
        elif first.get("KeyCount") or first.get("Contents"):
            raise RepositoryExists(
                f"{self.location} is not empty; choose an empty or new prefix for the repository"
            )
        try:
            self._put_marker()
        except ObjectExists as e:
            raise RepositoryExists(f"a repository already exists at {self.location}") from e
        # The same bytes again, on the same condition: a service that
        # honours If-None-Match refuses; one that ignores it replaces the
        # marker with itself, which harms nothing and tells us.
        try:
            self._put_marker()
        except ObjectExists:
            return
        except StoreError:
            return  # no answer, so no finding: the repository itself is made
        self.write_once_enforced = False

    def _put_marker(self) -> None:
        self._request(
            "writing",
            MARKER,
            self.client.put_object,
            Key=self._base + MARKER,
            Body=_MARKER_TEXT,
            IfNoneMatch="*",
        )

    def _create_bucket(self) -> None:
        region = self.client.meta.region_name
        kwargs = {}
        if region and region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
        self._request(
            "creating the bucket for",
            self.location,
            self.client.create_bucket,
            expect=("BucketAlreadyOwnedByYou",),
            **kwargs,
        )

    def destroy(self) -> None:
        # The marker goes first: an interrupted destroy leaves no repository,
        # only objects that a new `create` refuses to mix with.
        self._request("deleting", MARKER, self.client.delete_object, Key=self._base + MARKER)
        keys: list[str] = []
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self._base):
                keys.extend(obj["Key"] for obj in page.get("Contents", ()))
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
            raise self._error(e, "listing", "objects") from e

        def delete(key: str) -> None:
            self._request("deleting", key, self.client.delete_object, Key=key)

        list(self._pool.map(delete, keys))

    # -- objects ----------------------------------------------------------

    def put(self, name: str, data: bytes | bytearray, overwrite: bool = False) -> None:
        condition: dict[str, Any] = {} if overwrite else {"IfNoneMatch": "*"}
        self._request(
            "writing", name, self.client.put_object, Key=self._key(name), Body=data, **condition
        )

    def get(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        key = self._key(name)
        if length == 0:
            self.info(name)  # a missing object is an error even for no bytes
            return b""
        kwargs = {}
        if offset or length is not None:
            end = "" if length is None else str(offset + length - 1)
            kwargs["Range"] = f"bytes={offset}-{end}"
        response = self._request(
            "reading", name, self.client.get_object, expect=("InvalidRange",), Key=key, **kwargs
        )
        if response is None:
            return b""  # the object exists; the range starts at or past its end
        try:
            data = response["Body"].read()
        except (botocore.exceptions.BotoCoreError, OSError) as e:
            raise self._error(e, "reading", name) from e
        if len(data) != response.get("ContentLength", len(data)):
            raise StoreUnavailable(f"reading {name} in {self.location} failed: short transfer")
        if kwargs and response["ResponseMetadata"].get("HTTPStatusCode") == 200:
            # The service ignored the range and sent the whole object.
            data = data[offset:] if length is None else data[offset : offset + length]
        return data

    def get_many(self, requests: list[tuple[str, int, int | None]]) -> list[bytes | bytearray]:
        return list(self._pool.map(lambda r: self.get(*r), requests))

    def delete(self, name: str) -> None:
        # S3 deletes a missing object without a word; the contract wants one.
        self.info(name)
        self._request("deleting", name, self.client.delete_object, Key=self._key(name))

    def info(self, name: str) -> ObjectInfo:
        response = self._request("reading", name, self.client.head_object, Key=self._key(name))
        return ObjectInfo(name, response["ContentLength"])

    def list(self, namespace: str) -> list[ObjectInfo]:
        if namespace not in NAMESPACES:
            raise StoreError(f"unknown namespace {namespace!r}")
        top = f"{self._base}{namespace}/"
        result = []
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=top):
                for obj in page.get("Contents", ()):
                    name = namespace + "/" + obj["Key"][len(top) :]
                    try:
                        split_name(name)
                    except UsageError:
                        continue  # not an object of ours (someone's stray upload)
                    result.append(ObjectInfo(name, obj["Size"]))
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError, OSError) as e:
            raise self._error(e, "listing", namespace) from e
        return result

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self.client.close()
