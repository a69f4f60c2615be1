"""The repository config (`config/config`): format version, id, key mode.

It is stored in clear: a client needs it before it has a key. A server
could lie in it, so a client remembers each repository's mode locally (see
`security.py`) and refuses a repository that claims less protection than
it had before.
"""

from dataclasses import dataclass

import msgpack

from ..errors import IntegrityError, UnsupportedRepository

FORMAT_VERSION = 2  # 2: archive objects publish series and references
NAME = "config/config"


@dataclass
class RepoConfig:
    repo_id: bytes
    mode: str
    version: int = FORMAT_VERSION

    def to_bytes(self) -> bytes:
        return msgpack.packb({"version": self.version, "id": self.repo_id, "mode": self.mode})

    @classmethod
    def from_bytes(cls, data: bytes | bytearray) -> "RepoConfig":
        try:
            d = msgpack.unpackb(data)
            version, repo_id, mode = d["version"], bytes(d["id"]), str(d["mode"])
        except (ValueError, TypeError, KeyError, msgpack.UnpackException):
            raise IntegrityError("the repository config is damaged") from None
        if version != FORMAT_VERSION:
            raise UnsupportedRepository(
                f"repository format {version} is not supported by this hutch "
                f"(it knows format {FORMAT_VERSION}); use a matching hutch version"
            )
        return cls(repo_id, mode, version)
