"""What a client remembers about repositories it has used, so that a server
cannot downgrade them: the key mode. Kept under the config dir."""

import os

from ..errors import IntegrityError
from .config import RepoConfig


def check_and_remember(security_dir: str | None, config: RepoConfig) -> None:
    if not security_dir:
        return
    folder = os.path.join(security_dir, config.repo_id.hex())
    path = os.path.join(folder, "key-mode")
    try:
        with open(path) as f:
            known = f.read().strip()
    except FileNotFoundError:
        known = None
    if known is not None and known != config.mode:
        raise IntegrityError(
            f"the repository claims encryption mode {config.mode!r}, but it was {known!r} "
            f"when this machine last used it; refusing (if this is intended, remove {path})"
        )
    if known is None:
        os.makedirs(folder, exist_ok=True)
        with open(path, "w") as f:
            f.write(config.mode + "\n")


def remember_mode(security_dir: str | None, config: RepoConfig) -> None:
    """Record a mode this machine changed itself (key change-location)."""
    if not security_dir:
        return
    folder = os.path.join(security_dir, config.repo_id.hex())
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, "key-mode.tmp")
    with open(tmp, "w") as f:
        f.write(config.mode + "\n")
    os.replace(tmp, os.path.join(folder, "key-mode"))
