"""A hostile client for attack tests: it speaks the wire protocol to a real
`hutch serve` itself (raw frames, anything it likes), and one that opens
the repository with the key through a restricted server to seal whatever
it likes."""

import os
import subprocess

import msgpack

from hutch.compress import parse_spec
from hutch.crypto.objects import ObjectKind
from hutch.remote import protocol
from hutch.remote.open import RemoteOptions, open_store
from hutch.repo.archives import ArchiveEntry
from hutch.repo.pack import PackBuilder
from hutch.repo.repository import Repository
from hutch.store.published import pack_archive_object

from ..conftest import HUTCH, PASSPHRASE, PIPE_RSH


class RawClient:
    """`hutch serve SERVE_ARGS` on a pipe, driven frame by frame."""

    def __init__(self, *serve_args: str, env=None):
        self.proc = subprocess.Popen(
            [HUTCH, "serve", *serve_args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        self._read = protocol.StreamReader(self.proc.stdout.readinto)
        self._ids = 0

    def send_raw(self, data: bytes) -> None:
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def send(self, message: dict) -> None:
        self.send_raw(protocol.encode(message))

    def receive(self) -> dict | None:
        return protocol.read_frame(self._read)

    def hello(self, repo) -> dict:
        self.send({"hello": "hutch", "versions": [1], "repo": str(repo)})
        return self.receive()

    def call(self, method, args, payload: bytes | None = None, rid=None) -> dict:
        self._ids += 1
        message = {"i": self._ids if rid is None else rid, "m": method, "a": args}
        if payload is not None:
            message["b"] = payload
        self.send(message)
        return self.receive()

    def close(self, timeout: float = 10) -> int:
        """Hang up; the server's exit code (it must end by itself)."""
        self.proc.stdin.close()
        rc = self.proc.wait(timeout=timeout)
        self.proc.stdout.close()
        self.proc.stderr.close()
        return rc

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()


def keyholder(repo_path, *serve_args: str) -> Repository:
    """The repository opened with the key through `hutch serve SERVE_ARGS`
    over a pipe: what a compromised client with a restricted key holds."""
    store = open_store(
        f"ssh://client{repo_path}",
        RemoteOptions(rsh=PIPE_RSH, remote_path=HUTCH, serve_options=serve_args),
    )
    return Repository.open(store, lambda: PASSPHRASE, os.path.join(str(repo_path), "no-keys"))


def garbage_pack(repo: Repository, chunk_ids, sort_before: str | None = None):
    """(name, bytes, entries) of a pack holding garbage sealed under each of
    `chunk_ids`, as a client with the key can write it; its name (a real
    hash of its bytes) ground until it sorts before `sort_before`."""
    compress = parse_spec("lz4").compress
    while True:
        builder = PackBuilder()
        for chunk_id in chunk_ids:
            garbage = compress(b"planted " + os.urandom(16))
            builder.add(chunk_id, repo.cipher.seal(ObjectKind.CHUNK, chunk_id, garbage))
        entries = list(builder.entries)
        name, data = builder.finish(repo.cipher)
        if sort_before is None or name < sort_before:
            return name, data, entries


def plant_entry(repo: Repository, entry: ArchiveEntry) -> bytes:
    """Seal `entry` (any name, any claimed time) and store it; its id."""
    entry_id = os.urandom(32)
    sealed = repo.cipher.seal(ObjectKind.ARCHIVE, entry_id, msgpack.packb(entry.to_dict()))
    repo.store.put(f"archives/{entry_id.hex()}", pack_archive_object(entry.published(), sealed))
    return entry_id
