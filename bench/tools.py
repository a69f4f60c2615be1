"""How to drive each backup program under test: hutch and borg, locally and over ssh
to a private sshd on 127.0.0.1, and restic locally. Every one gets a fresh encrypted
repository, its own cache folder, and its default settings (borg with -C lz4, hutch's
default)."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

PASSPHRASE = "hutch-bench-passphrase"
LOCAL = ("hutch", "borg", "restic")
REMOTE = ("hutch-ssh", "borg-ssh")
ALL = LOCAL + REMOTE


@dataclass
class Tool:
    """Commands of one program for one repository; `restored` maps (target, source)
    to where the backed-up folder ends up inside a restore target."""

    name: str
    exe: str | None
    env: dict[str, str]
    repo: str
    init: list[str]
    create: Callable[[str], list[str]]
    extract: Callable[[str], list[str]]
    list: Callable[[str], list[str]]
    restored: Callable[[Path, Path], Path] = lambda target, source: target / source.name
    version_args: list[str] = field(default_factory=lambda: ["--version"])


def _env(extra: dict[str, str]) -> dict[str, str]:
    """The caller's environment minus any settings of the three tools, plus extra."""
    prefixes = ("HUTCH_", "BORG_", "RESTIC_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env.update(extra)
    return env


def find_hutch() -> str | None:
    # Prefer the hutch installed next to the running interpreter (the project venv).
    local = Path(sys.executable).parent / "hutch"
    return str(local) if local.exists() else shutil.which("hutch")


def make_hutch(work: Path, source: Path, sshd=None) -> Tool:
    exe = find_hutch()
    name = "hutch-ssh" if sshd else "hutch"
    repo_path, home = work / f"repo-{name}", work / f"home-{name}"
    repo = sshd.url(repo_path) if sshd else str(repo_path)
    env = {
        "HUTCH_PASSPHRASE": PASSPHRASE,
        "HUTCH_CACHE_DIR": str(home / "cache"),
        "HUTCH_CONFIG_DIR": str(home / "config"),
    }
    if sshd:
        env["HUTCH_RSH"] = sshd.rsh
    return _archive_tool(name, exe or "hutch", exe, env, repo, source)


def make_borg(work: Path, source: Path, sshd=None) -> Tool:
    exe = shutil.which("borg")
    name = "borg-ssh" if sshd else "borg"
    repo_path = work / f"repo-{name}"
    repo = sshd.url(repo_path) if sshd else str(repo_path)
    env = {"BORG_PASSPHRASE": PASSPHRASE, "BORG_BASE_DIR": str(work / f"home-{name}")}
    if sshd:
        env["BORG_RSH"] = sshd.rsh
    return _archive_tool(name, exe or "borg", exe, env, repo, source, ["-C", "lz4"])


def _archive_tool(
    name: str,
    cmd: str,
    exe: str | None,
    env: dict[str, str],
    repo: str,
    source: Path,
    create_options: list[str] | None = None,
) -> Tool:
    """hutch and borg, which share borg's command line (REPO::ARCHIVE)."""
    options = create_options or []
    return Tool(
        name=name,
        exe=exe,
        env=_env(env),
        repo=repo,
        init=[cmd, "init", "-e", "repokey", repo],
        create=lambda a: [cmd, "create", *options, f"{repo}::{a}", source.name],
        extract=lambda a: [cmd, "extract", f"{repo}::{a}"],
        list=lambda a: [cmd, "list", f"{repo}::{a}"],
    )


def _restic_restored(target: Path, source: Path) -> Path:
    # restic keeps a relative backup path as given (0.14) but some versions restore the
    # absolute path below the target; accept whichever layout exists.
    relative, absolute = target / source.name, target / source.relative_to(source.anchor)
    return absolute if absolute.is_dir() and not relative.is_dir() else relative


def make_restic(work: Path, source: Path, sshd=None) -> Tool:
    exe = shutil.which("restic")
    repo = str(work / "repo-restic")
    env = {"RESTIC_PASSWORD": PASSPHRASE, "RESTIC_CACHE_DIR": str(work / "home-restic")}
    base = [exe or "restic", "-r", repo]
    return Tool(
        name="restic",
        exe=exe,
        env=_env(env),
        repo=repo,
        init=[*base, "init"],
        create=lambda a: [*base, "backup", "-q", "--tag", a, source.name],
        # restic has no archive names; the newest snapshot is the one just made.
        extract=lambda a: [*base, "restore", "-q", "latest", "--target", "."],
        list=lambda a: [*base, "ls", "latest"],
        restored=_restic_restored,
        version_args=["version"],
    )


def make(name: str, work: Path, source: Path, sshd=None) -> Tool:
    maker = {"hutch": make_hutch, "borg": make_borg, "restic": make_restic}[name.split("-")[0]]
    return maker(work, source, sshd if name.endswith("-ssh") else None)


def reset(work: Path, name: str) -> None:
    """Remove a tool's repository, cache and restore target."""
    for sub in (f"repo-{name}", f"home-{name}", f"restore-{name}"):
        shutil.rmtree(work / sub, ignore_errors=True)
