"""End to end: keys, the ways to give a passphrase, and how hutch ends
(--show-rc, --log-json, signals)."""

import json
import os
import signal
import subprocess
import time

import pytest

import hutch.cli.main as hutch_main
from hutch.crypto.key import kdf_inputs
from hutch.repo import kdfhints
from hutch.repo.cache import CacheDir

from ..conftest import HUTCH, PASSPHRASE, assert_clean_error, snapshot
from .conftest import record_derivations


@pytest.mark.parametrize("mode", ["keyfile", "repokey"])
def test_key_export_and_import_bring_a_lost_key_back(hutch, tmp_path, tree, mode):
    repo = tmp_path / "repo"
    hutch("init", "-e", mode, repo, check=0)
    hutch("create", f"{repo}::a", ".", cwd=tree, check=0)
    exported = tmp_path / "key.txt"
    hutch("key", "export", repo, exported, check=0)
    assert exported.read_text().startswith("HUTCH_KEY ")
    assert hutch("key", "export", repo, check=0).out == exported.read_text()
    if mode == "keyfile":
        keys = tmp_path / "config" / "keys"
        for name in os.listdir(keys):
            os.unlink(keys / name)
    else:
        os.unlink(repo / "keys" / "repokey")
    assert_clean_error(hutch("list", repo, check=2), "key")
    # A wrong passphrase does not get a key imported.
    r = hutch("key", "import", repo, exported, env={"HUTCH_PASSPHRASE": "nope"}, check=2)
    assert_clean_error(r, "passphrase")
    hutch("list", repo, check=2)
    hutch("key", "import", repo, exported, check=0)
    out = tmp_path / "out"
    out.mkdir()
    hutch("extract", f"{repo}::a", cwd=out, check=0)
    assert snapshot(out) == snapshot(tree)


def test_key_import_refuses_another_repositorys_key(hutch, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    hutch("init", "-e", "keyfile", one, check=0)
    hutch("init", "-e", "keyfile", two, check=0)
    key = tmp_path / "key-one"
    hutch("key", "export", one, key, check=0)
    assert_clean_error(hutch("key", "import", two, key, check=2), "another repository")
    garbage = tmp_path / "garbage"
    garbage.write_text("this is no key\n")
    assert_clean_error(hutch("key", "import", two, garbage, check=2), "not a hutch key")


@pytest.mark.parametrize("mode", ["repokey", "keyfile-chacha20-poly1305"])
def test_change_passphrase(hutch, tmp_path, tree, mode):
    repo = tmp_path / "repo"
    hutch("init", "-e", mode, repo, check=0)
    hutch("create", f"{repo}::a", "dir", cwd=tree, check=0)
    hutch("key", "change-passphrase", repo, env={"HUTCH_NEW_PASSPHRASE": "fresh one"}, check=0)
    assert_clean_error(hutch("list", repo, check=2), "passphrase")
    r = hutch("list", "--short", repo, env={"HUTCH_PASSPHRASE": "fresh one"}, check=0)
    assert r.out.split() == ["a"]


def _key_salt(repo) -> bytes:
    return kdf_inputs((repo / "keys" / "repokey").read_bytes())[0]


def _remembered_salt(tmp_path, repo) -> bytes | None:
    hints = CacheDir(str(tmp_path / "cache" / kdfhints.FOLDER))
    kdf = kdfhints.remembered(hints, str(repo))
    return kdf[0] if kdf else None


def test_the_key_is_derived_while_connecting_from_the_salt_seen_last(
    hutch, repo, tmp_path, monkeypatch
):
    assert _remembered_salt(tmp_path, repo) == _key_salt(repo)  # since repo-create
    hints = tmp_path / "cache" / kdfhints.FOLDER
    for name in os.listdir(hints):
        os.unlink(hints / name)
    hutch("list", repo, check=0)
    assert _remembered_salt(tmp_path, repo) == _key_salt(repo)  # and again by any command
    derived_in = record_derivations(monkeypatch)
    assert hutch_main.run(["list", str(repo)]) == 0
    assert derived_in == ["early-kdf"]
    # A new passphrase means a new salt, remembered by the change itself.
    hutch("key", "change-passphrase", repo, env={"HUTCH_NEW_PASSPHRASE": "fresh one"}, check=0)
    assert _remembered_salt(tmp_path, repo) == _key_salt(repo)
    assert_clean_error(hutch("list", repo, check=2), "passphrase is wrong")
    monkeypatch.setenv("HUTCH_PASSPHRASE", "fresh one")
    assert hutch_main.run(["list", str(repo)]) == 0
    assert derived_in == ["early-kdf", "early-kdf"]


def test_change_passphrase_without_a_new_one_changes_nothing(hutch, repo):
    r = hutch("key", "change-passphrase", repo, new_session=True, check=2)
    assert_clean_error(r, "HUTCH_PASSPHRASE")
    hutch("list", repo, check=0)


def test_passcommand(hutch, repo):
    env = {"HUTCH_PASSPHRASE": None, "HUTCH_PASSCOMMAND": f"echo '{PASSPHRASE}'"}
    hutch("list", repo, env=env, check=0)
    env["HUTCH_PASSCOMMAND"] = "echo wrong"
    assert_clean_error(hutch("list", repo, env=env, check=2), "passphrase")
    env["HUTCH_PASSCOMMAND"] = "false"
    assert_clean_error(hutch("list", repo, env=env, check=2), "HUTCH_PASSCOMMAND")


def test_a_passcommand_runs_once_and_its_key_is_derived_while_connecting(
    hutch, repo, tmp_path, monkeypatch
):
    hutch("list", repo, check=0)  # the key's salt is remembered
    runs = tmp_path / "runs"
    monkeypatch.delenv("HUTCH_PASSPHRASE")
    monkeypatch.setenv("HUTCH_PASSCOMMAND", f"sh -c 'echo run >> {runs}; echo \"{PASSPHRASE}\"'")
    derived_in = record_derivations(monkeypatch)
    assert hutch_main.run(["list", str(repo)]) == 0
    assert derived_in == ["early-kdf"]
    assert runs.read_text() == "run\n"


def test_passphrase_fd(hutch, repo):
    """Read once, although the key is derived before the command loads (keyahead)."""
    read_end, write_end = os.pipe()
    os.write(write_end, PASSPHRASE.encode() + b"\n")
    os.close(write_end)
    try:
        env = {"HUTCH_PASSPHRASE": None, "HUTCH_PASSPHRASE_FD": str(read_end)}
        hutch("list", repo, env=env, pass_fds=(read_end,), check=0)
    finally:
        os.close(read_end)
    env = {"HUTCH_PASSPHRASE": None, "HUTCH_PASSPHRASE_FD": "77"}
    assert_clean_error(hutch("list", repo, env=env, check=2), "HUTCH_PASSPHRASE_FD")


def test_show_rc(hutch, repo, tree, tmp_path):
    r = hutch("--show-rc", "list", repo, check=0)
    assert "rc 0" in r.err
    r = hutch("create", "--show-rc", f"{repo}::a", tree, tmp_path / "missing", check=1)
    assert "rc 1" in r.err.splitlines()[-1]
    r = hutch("list", "--show-rc", tmp_path / "nothing", check=2)
    assert "rc 2" in r.err.splitlines()[-1]


def test_log_json(hutch, repo, tmp_path):
    r = hutch("--log-json", "list", tmp_path / "nothing", check=2)
    records = [json.loads(line) for line in r.err.splitlines()]
    assert records and all(rec["type"] == "log_message" for rec in records)
    assert any(rec["levelname"] == "ERROR" and "no repository" in rec["message"] for rec in records)
    r = hutch("create", "--log-json", "--list", f"{repo}::a", tmp_path / "missing", check=1)
    records = [json.loads(line) for line in r.err.splitlines()]
    assert any("missing" in rec["message"] for rec in records)


def test_sigterm_exits_with_143_and_leaves_no_lock(repo, tmp_path):
    proc = subprocess.Popen(
        [HUTCH, "create", f"{repo}::a", "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        proc.stdin.write(os.urandom(1024 * 1024))
        proc.stdin.flush()
        deadline = time.monotonic() + 30
        while not os.listdir(repo / "locks"):  # it has the lock: it is working
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 128 + signal.SIGTERM
    assert b"Traceback" not in err
    assert os.listdir(repo / "locks") == []
    assert subprocess.run([HUTCH, "list", "--short", repo], capture_output=True).stdout == b""
