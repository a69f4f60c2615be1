"""Where a command works: REPO::ARCHIVE, or --repo/HUTCH_REPO plus ARCHIVE,
with placeholders in archive names."""

import datetime
import getpass
import os
import socket
import time

from ..errors import UsageError


class _Time:
    """A moment that formats with strftime specs: {now:%Y-%m-%d}."""

    def __init__(self, dt: datetime.datetime):
        self.dt = dt

    def __format__(self, spec: str) -> str:
        return self.dt.strftime(spec or "%Y-%m-%dT%H:%M:%S")


def expand_placeholders(text: str) -> str:
    now = datetime.datetime.now()
    values = {
        "hostname": socket.gethostname().split(".")[0],
        "fqdn": socket.getfqdn(),
        "user": getpass.getuser(),
        "pid": os.getpid(),
        "now": _Time(now),
        "utcnow": _Time(datetime.datetime.now(datetime.UTC)),
        "unixtime": int(time.time()),
    }
    try:
        return text.format(**values)
    except (KeyError, ValueError, IndexError) as e:
        raise UsageError(
            f"invalid placeholder in {text!r} ({e}); known: "
            "{hostname} {fqdn} {user} {pid} {now} {utcnow} {unixtime}, e.g. {now:%Y-%m-%d}"
        ) from None


def resolve(
    positional: str | None, repo_option: str | None, archive: str
) -> tuple[str, str | None]:
    """(repository, archive name or None) from what the user typed.

    archive: "required", "optional" or "none" for this command.
    """
    env_repo = os.environ.get("HUTCH_REPO") or None
    repo, name = None, None
    if positional is not None and "::" in positional:
        repo, name = positional.split("::", 1)
        repo = repo or repo_option or env_repo
    elif repo_option:
        repo, name = repo_option, positional
    elif positional is not None and archive == "required" and env_repo:
        repo, name = env_repo, positional
    elif positional is not None:
        repo = positional
    else:
        repo = env_repo
    if not repo:
        raise UsageError("no repository given: name it as REPO or REPO::ARCHIVE, or set HUTCH_REPO")
    if name == "":
        name = None
    if archive == "required":
        archive_given(name)
    if archive == "none" and name:
        raise UsageError("this command works on a whole repository; give REPO without ::ARCHIVE")
    return repo, name


def resolve_archive(positional: str | None, repo_option: str | None) -> tuple[str, str]:
    """`resolve` for a command that works on one archive, which must be named."""
    repo, name = resolve(positional, repo_option, "required")
    return repo, archive_given(name)


def archive_given(name: str | None) -> str:
    if not name:
        raise UsageError("no archive given: write REPO::ARCHIVE, or --repo REPO ARCHIVE")
    return name
