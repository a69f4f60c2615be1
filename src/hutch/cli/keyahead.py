"""Deriving a local repository's key before the rest of hutch is loaded.

Argon2id holds 64 MiB while it runs (crypto/early.py). Derived after the
command's modules were loaded, it sat on top of their 15-20 MiB, and the
sum was the peak of every command that reads little: 92 MiB for an
unchanged backup or a restore, where borg 1.2 needs 80. The executable
(cli/launch.py) calls `derive_ahead` first: beside the interpreter and the
Argon2 binding alone, the derivation peaks near 76 MiB, and the command's
modules load once its memory has been handed back.

It derives only what the command would derive anyway: the command is one
that opens a repository with its key, a word of the command line (or
HUTCH_REPO) names a local repository whose key's salt is remembered, and
the passphrase can be read without asking. Anything else, and anything that
goes wrong here, is left to the command, which derives as before and says
what is wrong. For a repository reached over ssh the command derives in a
thread during the login instead (cli/context.py): that costs no time.
"""

import os

from ..crypto.early import EarlyDerivation, KdfInputs, affordable, derive
from ..repo import kdfhints
from ..repo.cache import CacheDir
from .dirs import Dirs
from .passphrase import from_environment

# The commands that open a repository with its key; not those an operator
# runs without it, nor creating, serving or pulling.
KEYED_COMMANDS = frozenset(
    {
        "create",
        "extract",
        "list",
        "info",
        "diff",
        "check",
        "prune",
        "delete",
        "rename",
        "recreate",
        "undelete",
        "export-tar",
        "import-tar",
        "mount",
    }
)

_derived: EarlyDerivation | None = None


def derive_ahead(argv: list[str]) -> None:
    """Derive the key of the repository `argv` names, if all of the above holds."""
    global _derived
    if not KEYED_COMMANDS.intersection(argv):
        return
    try:
        kdf = _remembered(argv)
        if kdf is None or not affordable(kdf[1]):
            return
        passphrase = from_environment()
    except Exception:
        return  # the command meets the same problem and reports it
    if passphrase is not None:
        _derived = EarlyDerivation(derive, passphrase, kdf, background=False)


def derived() -> EarlyDerivation | None:
    """What derive_ahead derived in this process, if anything."""
    return _derived


def _remembered(argv: list[str]) -> KdfInputs | None:
    """The key-salt hint of the first word that names a local repository
    (REPO or REPO::ARCHIVE; ::ARCHIVE or nothing means HUTCH_REPO)."""
    hints = CacheDir(os.path.join(Dirs.from_environment().cache, kdfhints.FOLDER))
    env_repo = os.environ.get("HUTCH_REPO") or ""
    for word in [*argv, env_repo]:
        if word.startswith("-"):
            continue
        path = word.partition("::")[0] or env_repo
        if path and "://" not in path:
            kdf = kdfhints.remembered(hints, os.path.abspath(path))
            if kdf is not None:
                return kdf
    return None
