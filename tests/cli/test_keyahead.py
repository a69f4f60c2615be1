"""The key of a local repository is derived before the rest of hutch loads
(cli/keyahead.py): only for what the command would derive anyway, and
never changing what opens a repository."""

import subprocess
import sys

import pytest

import hutch.cli.keyahead as keyahead
import hutch.cli.main as hutch_main
import hutch.crypto.key as key_module
from hutch.cli.commands import MODULES

from ..conftest import PASSPHRASE, assert_clean_error
from .conftest import record_derivations


@pytest.fixture(autouse=True)
def nothing_derived_yet(monkeypatch):
    monkeypatch.setattr(keyahead, "_derived", None)


@pytest.fixture
def derivations(monkeypatch) -> list[str]:
    """Where a key is derived from now on: "ahead" or "command"."""
    calls: list[str] = []
    ahead, command = keyahead.derive, key_module.derive
    monkeypatch.setattr(keyahead, "derive", lambda *a: calls.append("ahead") or ahead(*a))
    monkeypatch.setattr(key_module, "derive", lambda *a: calls.append("command") or command(*a))
    return calls


def test_a_local_repository_is_derived_ahead_and_not_again(repo, derivations):
    keyahead.derive_ahead(["--lock-wait", "5", "list", "--short", f"{repo}::nothing"])
    assert derivations == ["ahead"]
    assert hutch_main.run(["list", str(repo)]) == 0
    assert derivations == ["ahead"]


def test_another_repository_is_derived_while_it_is_reached(
    hutch, repo, tmp_path, derivations, monkeypatch
):
    other = tmp_path / "other"
    hutch("init", "-e", "repokey", other, check=0)
    keyahead.derive_ahead(["list", str(repo)])
    threads = record_derivations(monkeypatch)
    assert hutch_main.run(["list", str(other)]) == 0
    assert derivations == ["ahead", "command"]
    assert threads == ["early-kdf"]


def test_hutch_repo_names_the_repository(repo, derivations, monkeypatch):
    monkeypatch.setenv("HUTCH_REPO", str(repo))
    keyahead.derive_ahead(["list"])
    assert derivations == ["ahead"]


@pytest.mark.parametrize(
    "argv",
    [
        ["repo-list", "{repo}"],  # the operator's commands need no key
        ["compact", "{repo}"],
        ["list", "{repo}/elsewhere"],  # no salt remembered for it
        ["list", "ssh://host/{repo}"],  # derived during the login instead
    ],
)
def test_nothing_is_derived_that_the_command_would_not_derive(repo, derivations, argv):
    keyahead.derive_ahead([word.format(repo=repo) for word in argv])
    assert derivations == []
    assert keyahead.derived() is None


def test_no_passphrase_is_asked_for_ahead(repo, derivations, monkeypatch):
    monkeypatch.delenv("HUTCH_PASSPHRASE")
    keyahead.derive_ahead(["list", str(repo)])
    assert derivations == []


def test_a_failing_passcommand_is_left_to_the_command(repo, derivations, monkeypatch):
    monkeypatch.delenv("HUTCH_PASSPHRASE")
    monkeypatch.setenv("HUTCH_PASSCOMMAND", "false")
    keyahead.derive_ahead(["list", str(repo)])
    assert derivations == []


def test_a_key_derived_ahead_from_a_wrong_passphrase_opens_nothing(hutch, repo):
    r = hutch("list", repo, env={"HUTCH_PASSPHRASE": "wrong"}, check=2)
    assert_clean_error(r, "passphrase is wrong")
    hutch("list", repo, check=0)


def test_a_passcommand_runs_once_for_both(hutch, repo, tmp_path):
    runs = tmp_path / "runs"
    command = f"sh -c 'echo run >> {runs}; echo \"{PASSPHRASE}\"'"
    hutch("list", repo, env={"HUTCH_PASSPHRASE": None, "HUTCH_PASSCOMMAND": command}, check=0)
    assert runs.read_text() == "run\n"


def test_the_derivation_comes_before_the_heavy_modules():
    """What the executable loads before deriving stays small: the derivation
    holds 64 MiB, and everything loaded by then adds to that peak."""
    code = "import sys; import hutch.cli.launch; print(' '.join(sys.modules))"
    loaded = set(
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.split()
    )
    heavy = {
        "cryptography",
        "argparse",
        "logging",
        "concurrent.futures",
        "typing",
        "subprocess",
        "tempfile",
        "dataclasses",
        "hutch.cli.main",
        "zstandard",
    }
    assert loaded & heavy == set()


def test_the_keyed_commands_are_commands():
    assert keyahead.KEYED_COMMANDS <= set(MODULES)
