"""Every command, walked from the parser, with closed stdin, stdout or
stderr, and with each of its path arguments (and the directories hutch
takes from the environment) pointing at a file, a folder, a missing path
and an unwritable one: whatever the outcome, never a traceback, never an
"internal error", never a hang.

Hundreds of runs: each is a fork of this process (hutch already imported)
running `hutch.cli.main.main`, so the walk takes seconds, not minutes. A
few cases also run as the real command, to show that the forks see what a
user sees."""

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import traceback
from dataclasses import dataclass, field

import pytest

import hutch.cli.main as hutch_main

from ..conftest import assert_clean_error

KINDS = ("file", "folder", "missing", "unwritable")
CASE_TIMEOUT = 30.0
PARALLEL = 4  # runs at a time: most of a run is waiting for the disk
# Positional arguments by metavar: how to fill them for a run that would work.
POSITIONAL = {
    "REPO": lambda w: [w.repo],
    "REPO::ARCHIVE": lambda w: [f"{w.repo}::a"],
    "REPO[::ARCHIVE]": lambda w: [f"{w.repo}::a"],
    "ARCHIVE": lambda w: [],
    "ARCHIVE2": lambda w: ["a"],
    "NEWNAME": lambda w: ["b"],
    "REPO COMMAND ARGS": lambda w: [w.repo, "true"],
    "[USER@]CLIENT[:PORT]": lambda w: ["client.invalid"],
    "PATH|OPTION": lambda w: ["."],
    "TOPIC": lambda w: [],
    "LOCATION": lambda w: ["keyfile"],
    "SHELL": lambda w: ["bash"],
}
# Arguments that name something on this machine, by metavar (positional or
# option); the value that works for each command that has one.
MAKERS = ("create", "import-tar", "pull")  # they name a new archive
PATHS = {"PATH", "FILE", "TARFILE", "MOUNTPOINT", "DIR", "TIMESTAMP", "REPO", "REPO::ARCHIVE"}
PATHS |= {"REPO[::ARCHIVE]", "REPO COMMAND ARGS"}
COMMON = {"--remote-path", "--rsh", "--socket", "--debug-topic"}  # for remote repositories
# Values that would start a long-running service (a socket server).
SERVES = {("serve", "--socket", "missing")}
# Directories and files hutch takes from the environment, and the key modes
# (repository or key file) for which each matters.
ENVIRONMENT = {
    "HUTCH_CACHE_DIR": ("repokey",),
    "HUTCH_CONFIG_DIR": ("repokey", "keyfile"),
    "HUTCH_KEYS_DIR": ("keyfile",),
    "HUTCH_KEY_FILE": ("keyfile",),
}


@dataclass
class Outcome:
    rc: int | None  # None: killed after CASE_TIMEOUT
    out: bytes
    err: str
    internal: str  # tracebacks that main() rendered as "internal error"


@dataclass
class Case:
    argv: list
    what: str
    env: dict = field(default_factory=dict)
    closed: tuple = ()

    @property
    def stderr_open(self) -> bool:
        return 2 not in self.closed


class _Running:
    """A child running one case, and the files that take its output."""

    def __init__(self, case: Case, cwd):
        self.files = [tempfile.TemporaryFile() for _ in range(3)]  # out, err, internal
        self.started = time.monotonic()
        self.pid = os.fork()
        if self.pid == 0:
            _child(case.argv, cwd, case.env, case.closed, *self.files)

    def outcome(self, rc: int | None) -> Outcome:
        texts = []
        for f in self.files:
            f.seek(0)
            texts.append(f.read())
            f.close()
        out, err, internal = texts
        return Outcome(rc, out, err.decode(errors="replace"), internal.decode())


def run_forked(cases: list[Case], cwd, parallel: int = PARALLEL) -> list[Outcome]:
    """hutch's main(argv) for each case in a child process, a few at a
    time, with the standard descriptors in `closed` closed (and sys.stdin
    etc. None, as Python sets them)."""
    outcomes: list[Outcome | None] = [None] * len(cases)
    waiting = list(enumerate(cases))
    running: dict[int, tuple[int, _Running]] = {}
    while waiting or running:
        while waiting and len(running) < parallel:
            index, case = waiting.pop(0)
            child = _Running(case, cwd)
            running[child.pid] = (index, child)
        for pid, (index, child) in list(running.items()):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                outcomes[index] = child.outcome(os.waitstatus_to_exitcode(status))
            elif time.monotonic() - child.started > CASE_TIMEOUT:
                os.killpg(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                outcomes[index] = child.outcome(None)
            else:
                continue
            del running[pid]
        time.sleep(0.005)
    return outcomes


def _child(argv, cwd, env, closed, out, err, internal) -> None:
    try:
        os.setsid()  # a hang is killed with everything it started
        os.chdir(cwd)
        for name, value in env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(out.fileno(), 1)
        os.dup2(err.fileno(), 2)
        os.close(null)
        streams = {}
        for fd, name, mode in ((0, "stdin", "r"), (1, "stdout", "w"), (2, "stderr", "w")):
            if fd in closed:
                os.close(fd)
                streams[name] = None
            else:
                streams[name] = open(fd, mode, closefd=False)
        for name, stream in streams.items():
            setattr(sys, name, stream)
            setattr(sys, f"__{name}__", stream)
        real_format_exc = traceback.format_exc

        class _Recording:
            @staticmethod
            def format_exc():
                text = real_format_exc()
                os.write(internal.fileno(), text.encode())
                return text

        hutch_main.traceback = _Recording
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        try:
            hutch_main.main(argv)
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 2
        for stream in (sys.stdout, sys.stderr):
            try:
                if stream is not None:
                    stream.flush()
            except Exception:
                pass
        os._exit(code)
    except BaseException:
        os.write(internal.fileno(), traceback.format_exc().encode())
        os._exit(99)


class World:
    """Template repositories and paths of every kind, copied per run."""

    def __init__(self, tmp_path, hutch):
        self.tmp = tmp_path
        self.source = tmp_path / "source"
        (self.source / "dir").mkdir(parents=True)
        (self.source / "dir" / "file").write_bytes(b"content\n")
        self.hutch = hutch
        self.templates = {}
        self.tar = tmp_path / "a.tar"
        with tarfile.open(self.tar, "w") as tar:
            tar.add(self.source / "dir", "dir")
        self.kinds = {}
        self.file = tmp_path / "a-file"
        self.file.write_bytes(b"\xff\xfe not text, not a repository\n")
        self.folder = tmp_path / "a-folder"
        self.folder.mkdir()
        self.locked = tmp_path / "locked"
        self.locked.mkdir()
        self.immutable = subprocess.run(["chattr", "+i", self.locked]).returncode == 0
        if not self.immutable:
            os.chmod(self.locked, 0o555)
        self.frozen = tmp_path / "frozen-repo"  # a repository that cannot be written
        shutil.copytree(self.template("repokey"), self.frozen)
        self._freeze(self.frozen)
        self.repo = ""
        self.runs = 0
        self.missing = 0

    def _freeze(self, path) -> None:
        if self.immutable:
            subprocess.run(["chattr", "-R", "+i", path], check=True)
        else:
            for folder, _, _ in os.walk(path):
                os.chmod(folder, 0o555)

    def thaw(self) -> None:
        for path in (self.locked, self.frozen):
            if self.immutable:
                subprocess.run(["chattr", "-R", "-i", path], check=True)
            else:
                for folder, _, _ in os.walk(path):
                    os.chmod(folder, 0o755)

    def path(self, kind: str, repository: bool = False) -> str:
        if kind == "file":
            return str(self.file)
        if kind == "folder":
            return str(self.folder)
        if kind == "missing":  # a command may create it: new every time
            self.missing += 1
            return str(self.tmp / f"missing-{self.missing}" / "deeper")
        return str(self.frozen if repository else self.locked / "new")

    def template(self, mode: str):
        """A repository of that mode holding archive `a` of the source."""
        if mode not in self.templates:
            path = self.tmp / f"template-{mode}"
            self.hutch("repo-create", "-e", mode, path, check=0)
            self.hutch("create", f"{path}::a", ".", cwd=self.source, check=0)
            self.templates[mode] = path
        return self.templates[mode]

    def fresh_repo(self, mode: str = "repokey") -> str:
        self.runs += 1
        path = self.tmp / f"run-{self.runs}"
        shutil.copytree(self.template(mode), path)
        self.repo = str(path)
        return self.repo

    def case(self, argv, what: str, env=None, closed=()) -> Case:
        env = {"HUTCH_RSH": "false", **(env or {})}
        return Case([str(a) for a in argv], what, env, closed)

    def run(self, argv, env=None, closed=()) -> Outcome:
        return run_forked([self.case(argv, "", env, closed)], self.source)[0]

    def walk(self, cases: list[Case]) -> None:
        """Run every case; fail listing every case that went wrong."""
        found = []
        for case, outcome in zip(cases, run_forked(cases, self.source), strict=True):
            problem = _problem(outcome, case.stderr_open)
            if problem:
                found.append(f"{case.what}:\n    " + problem.strip().splitlines()[-1])
        assert not found, f"{len(found)} of {len(cases)} runs failed:\n" + "\n".join(found)


@pytest.fixture
def world(tmp_path, hutch):
    w = World(tmp_path, hutch)
    yield w
    w.thaw()


def commands() -> list[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """(command words, parser) of every command and key subcommand."""
    found = []

    def walk(parser, words):
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            found.append((tuple(words), parser))
            return
        seen = set()
        for name, sub in subs[0].choices.items():
            if id(sub) not in seen:  # aliases share their parser
                seen.add(id(sub))
                walk(sub, [*words, name])

    walk(hutch_main.build_parser(), [])
    return found


def _working_args(words, parser, world) -> tuple[list, list]:
    """A command line that would work, and its path arguments as
    (position in the line or option, metavar)."""
    argv = list(words)
    paths = []
    for action in parser._actions:
        if action.option_strings or action.dest in ("help", "command"):
            continue
        metavar = action.metavar
        if metavar in ("PATH", "FILE", "TARFILE", "MOUNTPOINT", "DIR"):
            values = [_working_path(words, metavar, world)]
            if action.nargs in ("*", "?") and words[0] not in ("create", "key", "export-tar"):
                values = []
        elif metavar in POSITIONAL:
            values = POSITIONAL[metavar](world)
            if metavar == "REPO::ARCHIVE" and words[0] in MAKERS:
                values = [f"{world.repo}::new"]
        else:
            raise AssertionError(f"teach this test the positional {metavar!r} of {words}")
        if metavar in PATHS and values:
            paths.append((len(argv), metavar))
        argv += values
    if words == ("repo-create",):
        argv[1:1] = ["-e", "repokey"]
        paths = [(i + 2, m) for i, m in paths]
    if words == ("mount",):
        # Everything is checked, the repository opened, then FUSE refuses:
        # nothing stays mounted.
        argv[1:1] = ["-o", "no_such_fuse_option"]
        paths = [(i + 2, m) for i, m in paths]
    for action in parser._actions:
        option = action.option_strings[0] if action.option_strings else None
        if option and action.metavar in PATHS and option not in COMMON:
            paths.append((option, action.metavar))
    if words == ("serve",):
        paths.append(("--socket", "PATH"))
    return argv, paths


def _working_path(words, metavar, world) -> str:
    if words[0] == "create":
        return "."
    if words[0] == "import-tar":
        return str(world.tar)
    if words[0] in ("export-tar", "key"):
        return str(world.tmp / f"out-{world.runs}")
    if metavar == "MOUNTPOINT":
        return str(world.folder)
    return "dir"


def _problem(outcome: Outcome, stderr_open: bool = True) -> str | None:
    """What is wrong with a run, or None."""
    if outcome.rc is None:
        return f"still running after {CASE_TIMEOUT}s"
    if outcome.internal:
        return "internal error: " + outcome.internal
    if outcome.rc not in (0, 1, 2):
        return f"exit code {outcome.rc}: {outcome.err}"
    if stderr_open and ("Traceback" in outcome.err or "internal error" in outcome.err):
        return outcome.err
    return None


def test_every_command_with_closed_standard_streams(world):
    cases = []
    for words, parser in commands():
        for closed in (0, 1, 2):
            world.fresh_repo()
            argv, _ = _working_args(words, parser, world)
            what = f"{' '.join(argv)} with fd {closed} closed"
            cases.append(world.case(argv, what, closed=(closed,)))
    world.walk(cases)


def test_every_path_argument_of_every_command(world):
    cases = []
    for words, parser in commands():
        _, paths = _working_args(words, parser, world)
        for where, metavar in paths:
            for kind in KINDS:
                if (words[0], metavar if isinstance(where, int) else where, kind) in SERVES:
                    continue
                world.fresh_repo()  # every run changes its own repository
                argv, _ = _working_args(words, parser, world)
                value = world.path(kind, repository=metavar.startswith("REPO"))
                if isinstance(where, int):
                    if metavar in ("REPO::ARCHIVE", "REPO[::ARCHIVE]"):
                        value += "::" + argv[where].rsplit("::", 1)[1]
                    argv[where] = value
                else:
                    argv += [where, value]
                cases.append(world.case(argv, f"{' '.join(argv)} ({kind})"))
    world.walk(cases)


def test_environment_directories_of_every_kind(world):
    checks = [
        ("list", "{repo}::a"),
        ("create", "{repo}::b", "."),
        ("extract", "--dry-run", "{repo}::a"),
        ("key", "export", "{repo}"),
        ("repo-create", "-e", "keyfile", "{new}"),
    ]
    cases = []
    for variable, modes in ENVIRONMENT.items():
        for kind in KINDS:
            for mode in modes:
                for words in checks:
                    repo = world.fresh_repo(mode)
                    argv = [w.format(repo=repo, new=f"{repo}-new") for w in words]
                    env = {variable: world.path(kind)}
                    cases.append(world.case(argv, f"{variable}={kind}: {' '.join(argv)}", env))
    world.walk(cases)


@pytest.mark.parametrize(
    "args,closed,words",
    [
        (("create", "{repo}::s", "-"), 0, ["standard input", "closed"]),
        (("list", "{repo}"), 1, ["standard output", "closed"]),
    ],
)
def test_closed_streams_as_a_user_meets_them(world, args, closed, words):
    """The real command, with the descriptor really closed (`<&-`, `>&-`)."""
    repo = world.fresh_repo()
    proc = subprocess.run(
        [hutch_main_path(), *[a.format(repo=repo) for a in args]],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        preexec_fn=lambda: os.close(closed),
        cwd=world.source,
    )
    err = proc.stderr.decode()
    assert proc.returncode == 2, err
    for word in words:
        assert word in err, err
    assert "Traceback" not in err and "internal error" not in err, err
    assert hutch_names(world, repo) == ["a"]


def hutch_names(world, repo) -> list[str]:
    outcome = world.run(["list", "--short", repo])
    return outcome.out.decode().split()


def hutch_main_path() -> str:
    return os.path.join(os.path.dirname(sys.executable), "hutch")


def test_key_export_to_a_folder_and_config_dir_a_file(world, hutch):
    repo = world.fresh_repo()
    r = hutch("key", "export", repo, world.folder, check=2)
    assert_clean_error(r, str(world.folder))
    r = hutch("list", repo, env={"HUTCH_CONFIG_DIR": str(world.file)}, check=2)
    assert_clean_error(r, str(world.file))
