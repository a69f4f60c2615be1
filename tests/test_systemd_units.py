"""The systemd units in docs/systemd/: systemd-analyze verify accepts them
(with their man pages found), every hutch command line in them parses,
and the socket unit serves a real client the way the socat recipe does."""

import configparser
import os
import shlex
import shutil
import signal
import subprocess
import time

import pytest

from hutch.cli.main import build_parser

from .conftest import HUTCH, ROOT, run_hutch

UNITS_DIR = os.path.join(ROOT, "docs", "systemd")
MAN_DIR = os.path.join(ROOT, "docs", "man")
INSTALLED_AS = "/usr/local/bin/hutch"
UNITS = sorted(
    n for n in os.listdir(UNITS_DIR) if n.rsplit(".", 1)[-1] in ("service", "timer", "socket")
)


def _unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    with open(os.path.join(UNITS_DIR, name)) as f:
        parser.read_string(f.read().replace("\\\n", " "))
    return parser


def _exec_lines(name: str) -> list[list[str]]:
    """Every ExecStart and ExecStartPost command line of a unit, as words
    (configparser would keep only the last of several)."""
    with open(os.path.join(UNITS_DIR, name)) as f:
        text = f.read().replace("\\\n", " ")
    return [
        shlex.split(line.split("=", 1)[1])
        for line in text.splitlines()
        if line.startswith(("ExecStart=", "ExecStartPost="))
    ]


def test_the_units_are_there():
    assert {
        "hutch-create.service",
        "hutch-create.timer",
        "hutch-serve.socket",
        "hutch-serve@.service",
        "hutch-pull@.service",
        "hutch-pull@.timer",
    } <= set(UNITS)


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd is not installed")
def test_systemd_analyze_verify_accepts_them(tmp_path):
    # The units name hutch where `pip install` puts it for the system; here it
    # is this checkout's. Their man pages must be found as well.
    for name in os.listdir(UNITS_DIR):
        text = open(os.path.join(UNITS_DIR, name)).read()
        (tmp_path / name).write_text(text.replace(INSTALLED_AS, HUTCH))
    man1 = tmp_path / "man" / "man1"
    man1.mkdir(parents=True)
    for page in os.listdir(MAN_DIR):
        shutil.copy(os.path.join(MAN_DIR, page), man1)
    units = [str(tmp_path / n) for n in UNITS] + [
        str(tmp_path / "hutch-pull@web1.service"),
        str(tmp_path / "hutch-pull@web1.timer"),
    ]
    shutil.copy(tmp_path / "hutch-pull@.service", tmp_path / "hutch-pull@web1.service")
    shutil.copy(tmp_path / "hutch-pull@.timer", tmp_path / "hutch-pull@web1.timer")
    r = subprocess.run(
        ["systemd-analyze", "verify", *units],
        capture_output=True,
        text=True,
        env={**os.environ, "MANPATH": str(tmp_path / "man"), "SYSTEMD_LOG_LEVEL": "notice"},
    )
    if "Failed to initialize" in r.stderr or "Operation not permitted" in r.stderr:
        pytest.skip(f"systemd-analyze cannot run here: {r.stderr.strip()[:200]}")
    assert r.returncode == 0, r.stderr
    assert r.stderr.strip() == "", r.stderr


@pytest.mark.parametrize(
    "words",
    [words for n in UNITS if n.endswith(".service") for words in _exec_lines(n)],
    ids=lambda words: " ".join(words[1:3]),
)
def test_every_hutch_command_line_parses(words):
    assert words[0] == INSTALLED_AS
    # What systemd would put in: %% is %, %i the instance, variables their values.
    sample = {
        "${HUTCH_REPO}": "ssh://backup@backuphost/~/repo",
        "$HUTCH_BACKUP_PATHS": "/etc",
        "${HUTCH_PULL_CLIENT}": "root@web1",
        "$HUTCH_PULL_PATHS": "/etc",
        "$HUTCH_PRUNE_RULES": "--keep-daily 7",
    }
    argv = []
    for word in words[1:]:
        for name, value in sample.items():
            word = word.replace(name, value)
        argv += word.replace("%%", "%").replace("%i", "web1").split()
    assert "$" not in " ".join(argv), argv
    args = build_parser().parse_args(argv)  # exits (fails the test) on a wrong option
    assert args.func
    if args.command == "pull":  # the rest is the client's create
        build_parser().parse_args(["create", args.location, *args.rest])


@pytest.mark.skipif(
    shutil.which("systemd-socket-activate") is None or shutil.which("socat") is None,
    reason="systemd-socket-activate or socat missing",
)
def test_socket_unit_serves_the_socat_recipe(tmp_path, tree):
    """The socket and its service as systemd runs them (a process per
    connection, the connection as stdin and stdout), the client as the
    socat recipe has it: backups arrive, deletes are refused."""
    repo = tmp_path / "reponame"
    run_hutch("repo-create", "-e", "repokey", repo, check=0)
    listen = _unit("hutch-serve.socket")["Socket"]["ListenStream"]
    sock = str(tmp_path / os.path.basename(listen))
    command = [
        HUTCH if w == INSTALLED_AS else w.replace("/srv/hutch/reponame", str(repo))
        for w in _exec_lines("hutch-serve@.service")[0]
    ]
    server = subprocess.Popen(
        ["systemd-socket-activate", "--accept", "--inetd", "-l", sock, *command],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 10
        while not os.path.exists(sock) and time.monotonic() < deadline:
            time.sleep(0.05)
        env = {"HUTCH_RSH": f"sh -c 'exec socat STDIO UNIX-CONNECT:{sock}'"}
        url = f"ssh://backupserver{repo}"
        run_hutch("create", f"{url}::a", tree, env=env, check=0)
        assert run_hutch("list", "--short", url, env=env, check=0).out.split() == ["a"]
        r = run_hutch("delete", f"{url}::a", env=env)
        assert r.rc == 2 and "permission" in r.err.lower()
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=10)
