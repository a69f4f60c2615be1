"""What a client remembers about repositories it has used, so that a server
cannot downgrade them: the key mode. Kept under the config dir."""

import os

from ..errors import IntegrityError, UsageError
from .config import RepoConfig


def check_and_remember(security_dir: str | None, config: RepoConfig) -> None:
    if not security_dir:
        return
    folder = os.path.join(security_dir, config.repo_id.hex())
    path = os.path.join(folder, "key-mode")
    try:
        with open(path, errors="replace") as f:
            known = f.read().strip()
    except FileNotFoundError:
        known = None
    except OSError as e:
        raise _cannot(path, "read", e) from None
    if known is not None and known != config.mode:
        raise IntegrityError(
            f"the repository claims encryption mode {config.mode!r}, but it was {known!r} "
            f"when this machine last used it; refusing (if this is intended, remove {path})"
        )
    if known is None:
        try:
            os.makedirs(folder, exist_ok=True)
            with open(path, "w") as f:
                f.write(config.mode + "\n")
        except OSError as e:
            raise _cannot(path, "write", e) from None


def remember_mode(security_dir: str | None, config: RepoConfig) -> None:
    """Record a mode this machine changed itself (key change-location)."""
    if not security_dir:
        return
    folder = os.path.join(security_dir, config.repo_id.hex())
    path = os.path.join(folder, "key-mode")
    try:
        os.makedirs(folder, exist_ok=True)
        with open(path + ".tmp", "w") as f:
            f.write(config.mode + "\n")
        os.replace(path + ".tmp", path)
    except OSError as e:
        raise _cannot(path, "write", e) from None


def _cannot(path: str, what: str, error: OSError) -> UsageError:
    # Without this record a server could downgrade the repository unnoticed:
    # refuse rather than go on (unlike the cache, it is no mere optimisation).
    return UsageError(
        f"cannot {what} {path}: {error.strerror}; hutch keeps what it knows about "
        "repositories there (HUTCH_CONFIG_DIR must be a folder hutch can write)"
    )
