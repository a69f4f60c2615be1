"""ssh puts AES-GCM first on a CPU with AES instructions, but only where ssh's
cipher list is its default; anything a user chose is left as it is."""

import shlex
import subprocess

import pytest

from hutch.remote import ssh_ciphers
from hutch.remote.transport import login_command

SSH = ["ssh", "-F", "/dev/null"]
HOST = "backup.example.org"


def default_ciphers() -> list[str]:
    out = subprocess.run(
        [*SSH, "-G", HOST],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return next(line.split()[1] for line in out.splitlines() if line.startswith("ciphers "))


@pytest.fixture
def aes_cpu(monkeypatch):
    monkeypatch.setattr(ssh_ciphers, "cpu_has_aes", lambda: True)


def test_default_list_gets_gcm_first_and_keeps_every_cipher(aes_cpu):
    options = ssh_ciphers.cipher_options(SSH, HOST)
    assert options[0] == "-o"
    chosen = options[1].removeprefix("Ciphers=").split(",")
    assert chosen[0] == "aes128-gcm@openssh.com"
    assert sorted(chosen) == sorted(default_ciphers().split(","))


@pytest.mark.parametrize(
    "choice",
    [
        ["-c", "aes256-ctr"],
        ["-o", "Ciphers=chacha20-poly1305@openssh.com,aes128-gcm@openssh.com"],
    ],
)
def test_a_chosen_cipher_list_is_left_alone(aes_cpu, choice):
    assert ssh_ciphers.cipher_options([*SSH, *choice], HOST) == []


def test_a_config_file_that_sets_ciphers_is_left_alone(aes_cpu, tmp_path):
    config = tmp_path / "ssh_config"
    config.write_text("Host *\n  Ciphers chacha20-poly1305@openssh.com,aes256-gcm@openssh.com\n")
    assert ssh_ciphers.cipher_options(["ssh", "-F", str(config)], HOST) == []


def test_no_aes_instructions_no_change(monkeypatch):
    monkeypatch.setattr(ssh_ciphers, "cpu_has_aes", lambda: False)
    assert ssh_ciphers.cipher_options(SSH, HOST) == []


@pytest.mark.parametrize(
    "body", ["exit 255", "echo 'nonsense here'", "printf 'ciphers \\377\\n'; exit 0", "sleep 30"]
)
def test_an_ssh_that_cannot_say_gets_nothing_added(aes_cpu, monkeypatch, tmp_path, body):
    monkeypatch.setattr(ssh_ciphers, "PROBE_TIMEOUT", 0.5)
    fake = tmp_path / "ssh"
    fake.write_text(f"#!/bin/sh\n{body}\n")
    fake.chmod(0o755)
    assert ssh_ciphers.cipher_options([str(fake)], HOST) == []


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ("flags\t\t: fpu vme sse2 aes avx2\n", True),
        ("flags\t\t: fpu vme sse2 avx2\n", False),
        ("Features\t: fp asimd aes pmull sha1\n", True),
        ("Features\t: fp asimd evtstrm crc32\n", False),
        ("processor\t: 0\n", False),
    ],
)
def test_cpu_flags(tmp_path, flags, expected):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(flags)
    assert ssh_ciphers.cpu_has_aes(str(cpuinfo)) is expected


def test_missing_cpuinfo_means_no():
    assert ssh_ciphers.cpu_has_aes("/nonexistent/cpuinfo") is False


def test_wrappers_get_the_destination_only(aes_cpu):
    rsh = shlex.split("sh -c 'exec socat STDIO UNIX-CONNECT:/run/hutch.sock'")
    assert login_command(rsh, "host", "alice", 2222) == [*rsh, "-p", "2222", "alice@host"]


@pytest.mark.skipif(not ssh_ciphers.cpu_has_aes(), reason="this CPU has no AES instructions")
def test_the_real_connection_uses_it(hutch, ssh_env, tmp_path, monkeypatch):
    """Through sshd, with an `ssh` that logs its arguments: the login carries
    the preference before `--` and the repository works."""
    log = tmp_path / "argv"
    wrapper = tmp_path / "bin" / "ssh"
    wrapper.parent.mkdir()
    wrapper.write_text(f'#!/bin/sh\necho "$*" >> {log}\nexec ssh "$@"\n')
    wrapper.chmod(0o755)
    rsh = ssh_env.rsh.replace("ssh ", f"{wrapper} ", 1)
    monkeypatch.setenv("HUTCH_RSH", rsh)
    url = ssh_env.url(tmp_path / "repo")
    hutch("init", "-e", "none", url, check=0)
    logins = [line for line in log.read_text().splitlines() if " -G " not in line]
    assert logins
    for line in logins:
        before, _, _ = line.partition(" -- ")
        assert "Ciphers=aes128-gcm@openssh.com," in before
