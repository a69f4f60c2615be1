"""Retention on the server's clock, without the key: clients back up through
a real sshd into an append-only forced command that stamps their names,
on simulated days (libfaketime moves the server's clock; the clients'
claim other dates), and the server's operator prunes and compacts with no
passphrase anywhere. borg 1.2's prune is the oracle for what is kept."""

import datetime
import json
import os
import re
import shutil
import subprocess

import pytest

from ..conftest import HUTCH, faketime, snapshot

# Days before yesterday noon (UTC) each backup arrives, per client; a backup's
# hour shifts a little each time. From noon, those hours never cross into
# another day: counted back from the real clock, runs between midnight and
# 4 a.m. spread one day's backups over two and pruned nothing compact could free.
NOON = (datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=1)).replace(
    hour=12, minute=0, second=0, microsecond=0
)
ALICE_DAYS = [0, 1, 2, 5, 9, 15, 29, 43, 60, 75]
BOB_DAYS = [4, 40]
RULES = ["--keep-daily", "7", "--keep-weekly", "4", "--keep-monthly", "6"]


def serve_as(sshd, repo, client: str, days_ago: int, hours: int) -> None:
    """authorized_keys: an append-only forced command for `client`, its clock
    started at `days_ago` days and `hours` hours before NOON."""
    start = NOON - datetime.timedelta(days=days_ago, hours=hours)
    clock = start.strftime("'@%Y-%m-%d %H:%M:%S'")
    sshd.authorize(
        f'command="faketime -f {clock} {HUTCH} serve --append-only --client {client} '
        f'--restrict-to-repository {repo}",restrict'
    )


def backup(hutch, sshd, repo, source, client: str, days_ago: int, hours: int, series=None):
    serve_as(sshd, repo, client, days_ago, hours)
    options = ["--series", series] if series else []
    hutch(
        "create",
        *options,
        f"{sshd.url(repo)}::{client}-{{now}}-{os.urandom(3).hex()}",
        ".",
        cwd=source,
        env={"HUTCH_RSH": sshd.rsh},
        prefix=faketime("+400d"),  # the client's own clock claims a far future
        check=0,
    )


def arrivals(hutch, repo) -> list[dict]:
    r = hutch("repo-list", "--json", repo, env={"HUTCH_PASSPHRASE": None}, check=0)
    return json.loads(r.out)["archives"]


def borg_keeps(tmp_path, times: dict[str, str]) -> set[str]:
    """The names borg 1.2's prune keeps of archives made at `times` (UTC)."""
    repo = tmp_path / f"borg-{os.urandom(4).hex()}"
    env = {**os.environ, "BORG_PASSPHRASE": "", "BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK": "yes"}
    env["BORG_BASE_DIR"] = str(tmp_path / "borg-base")
    empty = tmp_path / "empty"
    empty.mkdir(exist_ok=True)
    subprocess.run(["borg", "init", "-e", "none", str(repo)], env=env, check=True)
    for name, when in times.items():
        subprocess.run(
            ["borg", "create", "--timestamp", when, f"{repo}::{name}", "."],
            cwd=empty,
            env=env,
            check=True,
        )
    r = subprocess.run(
        ["borg", "prune", "--dry-run", "--list", *RULES, str(repo)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    shutil.rmtree(repo)
    return set(re.findall(r"^Keeping archive \(rule: [^)]*\):\s+(\S+)", r.stderr, re.M))


@pytest.mark.skipif(shutil.which("borg") is None, reason="borg is the oracle")
def test_repo_prune_and_compact_without_the_key(hutch, sshd, tmp_path, tree):
    if os.environ.get("TZ") not in (None, "", "UTC"):
        pytest.skip("compares with borg in UTC")
    repo = tmp_path / "repo"
    hutch("repo-create", "-e", "repokey", repo, check=0)
    bob_src = tmp_path / "bob"
    bob_src.mkdir()
    (bob_src / "data").write_bytes(os.urandom(2_000_000))
    for i, days in enumerate(sorted(ALICE_DAYS, reverse=True)):
        with open(os.path.join(tree, f"day-{i}"), "wb") as f:  # each backup adds something
            f.write(os.urandom(200_000))
        backup(hutch, sshd, repo, tree, "alice", days, i % 5)
    for days in BOB_DAYS:
        backup(hutch, sshd, repo, bob_src, "bob", days, 2)
    # Alice's machine is compromised: it claims bob's series, and sends many.
    # An hour apart on the server's clock: borg's oracle sees times to the
    # second, and two arrivals within one second would tie there.
    for hours in (3, 2, 1):
        backup(hutch, sshd, repo, tree, "alice", 0, hours, series="bob-{now}")

    # The compromised client cannot prune, nor touch the server's records.
    serve_as(sshd, repo, "alice", 0, 0)
    r = hutch("repo-prune", "--keep-last", "1", sshd.url(repo), env={"HUTCH_RSH": sshd.rsh})
    assert r.rc == 2 and "permission denied" in r.err

    before = {a["id"]: a for a in arrivals(hutch, repo)}
    assert len(before) == len(ALICE_DAYS) + len(BOB_DAYS) + 3
    assert {a["client"] for a in before.values()} == {"alice", "bob"}
    groups: dict[tuple, dict[str, str]] = {}
    for a in before.values():
        moment = datetime.datetime.fromisoformat(a["arrived"]).astimezone(datetime.UTC)
        stamp = moment.strftime("%Y-%m-%dT%H:%M:%S")
        groups.setdefault((a["client"], a["series"]), {})[a["id"]] = stamp
    expected = set().union(*(borg_keeps(tmp_path, times) for times in groups.values()))

    keyless = {"HUTCH_PASSPHRASE": None}
    hutch("repo-prune", *RULES, "--list", repo, env=keyless, check=0)
    kept = {a["id"] for a in arrivals(hutch, repo)}
    assert kept == expected
    bob = {i for i, a in before.items() if a["client"] == "bob"}
    assert bob <= kept  # two archives in their own series: kept, whatever alice sent

    size_before = sum(f.stat().st_size for f in (repo / "packs").rglob("*") if f.is_file())
    hutch("compact", repo, env=keyless, check=0)
    size_after = sum(f.stat().st_size for f in (repo / "packs").rglob("*") if f.is_file())
    assert size_after < size_before
    hutch("check", "--verify-data", repo, check=0)
    listing = hutch("list", "--format", "{name} {id}{NL}", repo, check=0).out
    names = dict(line.split()[::-1] for line in listing.splitlines())
    newest_alice = max(
        (i for i in kept if before[i]["client"] == "alice"), key=lambda i: before[i]["arrived"]
    )
    out = tmp_path / "out"
    out.mkdir()
    hutch("extract", f"{repo}::{names[newest_alice]}", cwd=out, check=0)
    assert snapshot(out) == snapshot(tree)
