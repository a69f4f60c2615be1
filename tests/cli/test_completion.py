"""Shell completion generated from the parser: the bash script is loaded
into a real bash and asked for completions as the shell would ask."""

import shutil
import subprocess

import pytest

from ..conftest import run_hutch

# Drives the completion function as bash does on TAB: the words typed so
# far, the word under the cursor last.
_ASK = """
source "$1"; shift
COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
COMP_LINE="${COMP_WORDS[*]}"; COMP_POINT=${#COMP_LINE}; COMPREPLY=()
_shtab_hutch
printf '%s\\n' "${COMPREPLY[@]}"
"""


@pytest.fixture(scope="module")
def bash_script(tmp_path_factory):
    path = tmp_path_factory.mktemp("completion") / "hutch.bash"
    path.write_bytes(run_hutch("completion", "bash", check=0).stdout_bytes)
    return path


def complete(script, *words: str) -> list[str]:
    r = subprocess.run(
        ["bash", "-c", _ASK, "ask", str(script), "hutch", *words],
        capture_output=True,
        text=True,
        check=True,
    )
    return r.stdout.split()


def test_commands_complete(bash_script):
    words = complete(bash_script, "re")
    assert {"rename", "repo-create", "repo-delete", "repo-info"} <= set(words)
    assert all(w.startswith("re") for w in words)
    assert "change-passphrase" in complete(bash_script, "key", "")


def test_options_complete(bash_script):
    assert complete(bash_script, "create", "--one-file") == ["--one-file-system"]
    assert "--storage-quota" in complete(bash_script, "serve", "--")


def test_choices_complete(bash_script):
    assert complete(bash_script, "repo-create", "--encryption", "") == [
        "repokey",
        "keyfile",
        "repokey-chacha20-poly1305",
        "keyfile-chacha20-poly1305",
        "authenticated",
        "none",
    ]
    assert complete(bash_script, "serve", "--permissions", "") == [
        "all",
        "no-delete",
        "write-only",
        "read-only",
    ]
    assert complete(bash_script, "pull", "--permissions", "w") == ["write-only"]


def test_paths_complete_as_files(bash_script, tmp_path):
    (tmp_path / "backup-me").mkdir()
    assert complete(bash_script, "create", "repo::a", f"{tmp_path}/back") == [
        f"{tmp_path}/backup-me"
    ]


@pytest.mark.parametrize("shell,check", [("zsh", ["zsh", "-n"]), ("fish", ["fish", "-n"])])
def test_zsh_and_fish_scripts(shell, check, tmp_path):
    r = run_hutch("completion", shell, check=0)
    assert "repo-create" in r.out and "--encryption" in r.out and "keyfile" in r.out
    if shutil.which(check[0]) is None:
        pytest.skip(f"{shell} is not installed")
    path = tmp_path / f"hutch.{shell}"
    path.write_text(r.out)
    subprocess.run([*check, str(path)], check=True)


def test_unknown_shell_is_refused():
    r = run_hutch("completion", "csh")
    assert r.rc == 2 and "invalid choice" in r.err
