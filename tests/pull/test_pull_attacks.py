"""`hutch pull` against a compromised client: a program in place of the
client's hutch (evil_client.py) plays each attack. The operator's terminal
gets no control characters, the exit code is what the server observed,
silence and endless sessions are cut off, a quota holds, and no secret
leaves that should not."""

import os
import sys
import threading
import time

import pytest

from ..conftest import HUTCH, assert_clean_error

EVIL = os.path.join(os.path.dirname(__file__), "evil_client.py")
# An "ssh" that runs the client's command on this machine: $2 is the command line.
PULL_PIPE_RSH = "sh -c 'exec sh -c \"$2\"' pull-rsh"
CONTROL = ("\x1b", "\x07", "\x9b")


@pytest.fixture
def evil(tmp_path):
    """The client's hutch, replaced."""
    path = tmp_path / "evil-hutch"
    path.write_text(f'#!/bin/sh\nexec {sys.executable} {EVIL} "$@"\n')
    path.chmod(0o755)
    return str(path)


def pull(hutch, repo, remote, *options, env=None, name="a", paths=("/etc/hostname",)):
    return hutch(
        "pull",
        "--rsh",
        PULL_PIPE_RSH,
        "--remote-path",
        remote,
        *options,
        "web1",
        f"{repo}::{name}",
        *paths,
        env=env,
        timeout=120,
    )


def test_the_terminal_gets_no_control_characters_and_no_false_success(hutch, repo, evil):
    r = pull(hutch, repo, evil, env={"EVIL": "terminal"})
    assert r.rc == 2
    assert not any(c in r.err for c in CONTROL), repr(r.err)
    assert "web1: \\x1b]0;OWNED" in r.err  # shown, escaped, attributed
    assert "web1: Archive name: fake" in r.err
    assert "reported success but committed no archive" in r.err
    assert hutch("list", "--short", repo, check=0).out == ""


@pytest.mark.parametrize("attack", ["garbage", "quit_at_hello"])
def test_a_client_that_speaks_nonsense_or_nothing_fails_the_pull(hutch, repo, evil, attack):
    r = pull(hutch, repo, evil, env={"EVIL": attack})
    assert r.rc == 2
    assert_clean_error(r, "committed no archive")


def test_a_silent_client_is_cut_off(hutch, repo, evil):
    started = time.monotonic()
    r = pull(hutch, repo, evil, "--idle-timeout", "2", env={"EVIL": "silent"})
    assert r.rc == 2
    assert time.monotonic() - started < 60


def test_an_endless_client_is_stopped_by_max_duration(hutch, repo, evil):
    started = time.monotonic()
    r = pull(hutch, repo, evil, "--max-duration", "3", env={"EVIL": "busy"})
    assert r.rc == 2
    assert_clean_error(r, "max-duration")
    assert time.monotonic() - started < 60


def test_the_storage_quota_holds(hutch, repo, evil, tree):
    r = pull(hutch, repo, evil, "--storage-quota", "2M", env={"EVIL": "fill"})
    assert r.rc == 2
    assert "storage quota exceeded" in r.err
    size = sum(f.stat().st_size for f in repo.rglob("*") if f.is_file())
    assert size <= 2_000_000
    assert not list(repo.rglob(".tmp-*"))  # nothing half-written
    # The repository stays usable; the junk is found and removed by the admin.
    r = pull(hutch, repo, HUTCH, "--storage-quota", "100M", paths=(tree,))
    assert r.rc == 0, r.err
    assert hutch("check", repo).rc == 2
    hutch("check", "--repair", repo, input="YES\n")
    hutch("check", "--verify-data", repo, check=0)


def test_an_honest_pull_goes_on_while_a_client_idles(hutch, repo, evil, tree):
    results = {}

    def idle():
        results["evil"] = pull(hutch, repo, evil, "--idle-timeout", "3", env={"EVIL": "silent"})

    thread = threading.Thread(target=idle)
    thread.start()
    honest = pull(hutch, repo, HUTCH, name="honest", paths=(tree,))
    thread.join()
    assert honest.rc == 0, honest.err
    assert results["evil"].rc == 2
    assert hutch("list", "--short", repo, check=0).out == "honest\n"


def test_honest_names_with_escape_sequences_are_shown_escaped(hutch, repo, tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    (source / "x\x1b]0;OWNED\x07\x1b[2K\x1b[1Ay").write_bytes(b"data")
    r = pull(hutch, repo, HUTCH, paths=(source, "--list"))
    assert r.rc == 0, r.err
    assert not any(c in r.err for c in CONTROL), repr(r.err)
    assert "x\\x1b]0;OWNED\\x07\\x1b[2K\\x1b[1Ay" in r.err
    local = hutch("list", "--short", f"{repo}::a", check=0)
    assert not any(c in local.out for c in CONTROL)
    exact = hutch("list", "--json-lines", f"{repo}::a", check=0)
    assert "\\u001b]0;OWNED" in exact.out  # exact in JSON


def test_no_send_passphrase_keeps_the_key_too(hutch, tmp_path, evil):
    repo = tmp_path / "repo"
    hutch("repo-create", "-e", "keyfile", repo, check=0)
    log = tmp_path / "received"
    r = pull(
        hutch, repo, evil, "--no-send-passphrase", env={"EVIL": "terminal", "EVIL_LOG": str(log)}
    )
    assert r.rc == 2
    received = log.read_text()
    assert "passphrase" not in received and "key" not in received
    pull(hutch, repo, evil, env={"EVIL": "terminal", "EVIL_LOG": str(log)})
    assert "'key'" in log.read_text() and "'passphrase'" in log.read_text()


@pytest.mark.parametrize("client", ["-oProxyCommand=touch /tmp/owned", "root@-oFoo", "a b"])
def test_client_names_that_are_options_are_refused(hutch, repo, client):
    r = hutch("pull", "--", client, f"{repo}::a", "/etc")
    assert r.rc == 2
    assert_clean_error(r, "invalid client")
