"""A compromised client cannot harm history: it holds the key and a
restricted server (`no-delete` or `write-only`), speaks the protocol and
seals whatever it likes. After each attack the admin's routine commands
(check, check --repair, compact, prune, delete, rename) run, and every
archive that existed before still extracts byte for byte."""

import os
import shutil

import pytest

from hutch.repo.archives import ArchiveEntry, ArchiveList
from hutch.repo.index import write_segment
from hutch.store.published import pack_archive_object
from hutch.store.schema import content_name

from ..conftest import assert_clean_error, faketime, make_tree, snapshot
from .hostile import RawClient, garbage_pack, keyholder, plant_entry


@pytest.fixture
def history(hutch, tmp_path):
    """A repository with two archives of different trees; returns
    (repo path, {archive name: snapshot of what it holds})."""
    repo = tmp_path / "repo"
    hutch("repo-create", "-e", "repokey", repo, check=0)
    first = make_tree(tmp_path / "t1")
    second = tmp_path / "t2"
    second.mkdir()
    (second / "big").write_bytes(os.urandom(5 * 1024 * 1024))
    (second / "small").write_bytes(b"second tree\n" * 100)
    hutch("create", f"{repo}::old1", ".", cwd=first, check=0)
    hutch("create", f"{repo}::old2", ".", cwd=second, check=0)
    return repo, {"old1": snapshot(first), "old2": snapshot(second)}


def assert_history_intact(hutch, repo, expected, tmp_path) -> None:
    """The archives extract exactly as they were made (with a fresh cache:
    nothing the attacker planted may be taken from an old index)."""
    shutil.rmtree(tmp_path / "cache", ignore_errors=True)
    for name, want in expected.items():
        out = tmp_path / f"out-{name}-{os.urandom(4).hex()}"
        out.mkdir()
        r = hutch("extract", f"{repo}::{name}", cwd=out)
        assert r.rc == 0, r.err
        assert snapshot(out) == want, name


def admin_routine(hutch, repo) -> None:
    """What the admin runs on the repository, as routine."""
    hutch("check", repo)
    r = hutch("compact", repo, env={"HUTCH_PASSPHRASE": None})  # the keyless one
    assert r.rc == 0, r.err
    hutch("check", "--repair", repo, input="YES\n")
    r = hutch("compact", "--threshold", "0", repo)
    assert r.rc in (0, 1), r.err
    r = hutch("check", "--verify-data", repo)
    assert r.rc == 0, r.err


@pytest.mark.parametrize("mode", ["no-delete", "write-only"])
def test_planted_copies_and_lying_segments_cannot_make_compact_delete(
    hutch, history, tmp_path, mode
):
    repo, expected = history
    attacker = keyholder(repo, f"--permissions={mode}")
    victims = list(attacker.index)  # every chunk id, learnt from the index segments
    genuine = sorted(i.name.split("/")[1] for i in attacker.store.list("packs"))
    name, data, entries = garbage_pack(attacker, victims, sort_before=genuine[0])
    attacker.store.put(f"packs/{name}", data)
    # Segments that say the genuine packs hold nothing and the planted one everything.
    write_segment(attacker.store, attacker.cipher, {p: [] for p in genuine})
    write_segment(attacker.store, attacker.cipher, {name: entries})
    attacker.close()

    r = hutch("check", repo)
    assert r.rc == 2
    assert "does not match the chunk's id" in r.err and name in r.err
    r = hutch("compact", "--threshold", "0", repo)
    assert r.rc in (0, 1), r.err
    assert_history_intact(hutch, repo, expected, tmp_path)
    assert not (repo / "packs" / name[:2] / name).exists()  # the planted copies are gone
    admin_routine(hutch, repo)
    assert_history_intact(hutch, repo, expected, tmp_path)


def test_names_are_canonical_and_packs_are_their_hash(history):
    repo, _ = history
    client = RawClient("--append-only")
    assert "version" in client.hello(repo)
    real = (repo / "archives").iterdir().__next__().name
    refused = [
        ("put", [f"archives/{real.upper()}"], b"alias"),
        ("put", ["config/config\n"], b"x"),
        ("put", [f"archives/{real[:-1]}"], b"short"),
        ("put", ["packs/" + "0" * 64], b"not what the name says"),
        ("put", ["index/" + content_name(b"a")], b"b"),
        ("get", [f"archives/{real.upper()}"], None),
        ("put", ["arrivals/archives." + "0" * 64], b"forged"),
    ]
    for method, args, payload in refused:
        reply = client.call(method, args, payload)
        assert "e" in reply, (method, args)
    good = os.urandom(100)
    assert "e" not in client.call("put", ["packs/" + content_name(good)], good)
    assert client.close() == 0
    assert {p.name for p in (repo / "archives").iterdir()} == {
        p.name for p in (repo / "archives").iterdir() if p.name == p.name.lower()
    }


def test_a_planted_entry_with_an_existing_name_never_shadows_it(hutch, history, tmp_path):
    repo, expected = history
    attacker = keyholder(repo, "--append-only")
    genuine = ArchiveList(attacker).get("old1")
    # Its own file list under the genuine name, claiming to be the oldest archive.
    evil = ArchiveList(attacker).get("old2")
    forged = ArchiveEntry(name="old1", items=evil.items, time="1970-01-01T00:00:00+0000")
    forged_id = plant_entry(attacker, forged)
    attacker.close()

    r = hutch("list", repo, check=0)
    assert r.out.count("old1") == 2
    r = hutch("check", "--archives-only", repo)
    assert genuine.id.hex() in r.err and forged_id.hex() in r.err
    assert_history_intact(hutch, repo, expected, tmp_path)
    r = hutch("extract", "--dry-run", f"{repo}::old1", check=0)
    assert genuine.id.hex() in r.err and forged_id.hex() in r.err  # the warning names both
    # The admin removes the planted entry by its id; the genuine one stays.
    hutch("delete", f"{repo}::aid:{forged_id.hex()[:12]}", check=0)
    r = hutch("list", repo, check=0)
    assert r.out.count("old1") == 1 and genuine.id.hex() in r.out
    admin_routine(hutch, repo)
    assert_history_intact(hutch, repo, expected, tmp_path)


def test_prune_goes_by_arrival_not_by_the_time_an_archive_claims(hutch, tmp_path, tree):
    repo = tmp_path / "repo"
    hutch("repo-create", "-e", "repokey", repo, check=0)
    # Genuine backups on three earlier days (this process is the local witness).
    for days in (3, 2, 1):
        hutch("create", f"{repo}::real{days}", ".", cwd=tree, prefix=faketime(f"-{days}d"), check=0)
    attacker = keyholder(repo, "--append-only")
    for day in range(1, 8):
        claimed = f"2099-01-0{day}T12:00:00+0000"  # newer than anything genuine
        plant_entry(attacker, ArchiveEntry(name=f"fake{day}", items=[], time=claimed))
    attacker.close()

    def pruned(*options) -> set[str]:
        r = hutch("prune", "--dry-run", "--list", *options, "--keep-daily", "3", repo, check=0)
        return {w for line in r.err.splitlines() if "Would prune" in line for w in line.split()}

    # Trusting the times archives claim, the fakes take every daily slot.
    assert {"real1", "real2", "real3"} <= pruned("--by-archive-time")
    # By arrival, the fakes all arrived today: they take one slot.
    assert not {"real1", "real2"} & pruned()
    hutch("prune", "--keep-daily", "3", repo, check=0)
    r = hutch("list", "--short", repo, check=0)
    assert {"real1", "real2"} <= set(r.out.split())


def test_the_attacker_cannot_touch_arrival_records(history):
    repo, _ = history
    client = RawClient("--permissions", "no-delete")
    client.hello(repo)
    records = client.call("list", ["arrivals"])["r"]
    assert records, "the server records arrivals"
    name = records[0][0]
    assert "e" in client.call("put", [name], b"\x80", None)
    assert "e" in client.call("delete", [name])
    assert client.close() == 0


def test_an_archive_id_used_before_cannot_be_taken_again(hutch, history):
    repo, _ = history
    hutch("delete", f"{repo}::old2", check=0)
    (deleted,) = [p.name for p in (repo / "deleted").iterdir()]
    client = RawClient("--append-only")
    client.hello(repo)
    planted = pack_archive_object({"series": b"", "items": [], "refs": []}, b"its place")
    reply = client.call("put", [f"archives/{deleted}"], planted)
    assert reply["e"]["type"] == "ObjectExists"
    assert client.close() == 0
    r = hutch("undelete", f"{repo}::old2", check=0)
    assert_clean_error(r)
