"""The table of commands (cli/commands/__init__.py): every command is in
it under the names its module registers, and a command line imports its own
command's module only."""

import os
import subprocess
import sys

from hutch.cli import commands
from hutch.cli.main import build_parser


def _top_commands(parser):
    (action,) = [a for a in parser._actions if isinstance(a, commands.Commands)]
    return action


def test_the_table_names_every_command_as_its_module_registers_it():
    folder = os.path.dirname(commands.__file__)
    files = {n[:-3] for n in os.listdir(folder) if n.endswith(".py") and n != "__init__.py"}
    assert set(commands.MODULES.values()) == files
    action = _top_commands(build_parser())
    names = set(action.choices)  # registers all of them
    assert names == set(commands.MODULES)
    for name, module in commands.MODULES.items():
        assert action.choices[name].prog == f"hutch {_main_name(name)}", module


def _main_name(name: str) -> str:
    return "repo-create" if name == "init" else name


def test_help_lists_every_command_in_the_tables_order(hutch):
    out = hutch("--help", check=0).out
    listed = [line.split()[0] for line in out.splitlines() if line.startswith("    ")]
    firsts = [n for n in commands.MODULES if n != "init"]
    assert [n for n in listed if n in commands.MODULES] == firsts


def test_a_command_line_imports_its_own_command_only():
    code = (
        "import sys\n"
        "from hutch.cli.main import build_parser\n"
        "build_parser().parse_args(sys.argv[1:])\n"
        "print(' '.join(sorted(m.rsplit('.', 1)[1] for m in sys.modules"
        " if m.startswith('hutch.cli.commands.'))))\n"
    )
    for argv, expected in (
        (["list", "repo"], "list_archives"),
        (["init", "-e", "none", "repo"], "repo_create"),
        (["--lock-wait", "3", "serve", "--append-only"], "serve"),
    ):
        out = subprocess.run(
            [sys.executable, "-c", code, *argv], capture_output=True, text=True, check=True
        ).stdout
        assert out.split() == [expected], argv


def test_a_local_backup_imports_no_server_ssh_client_or_compaction(hutch, tmp_path):
    repo, data = tmp_path / "repo", tmp_path / "data"
    data.mkdir()
    (data / "file").write_bytes(b"content")
    hutch("init", "-e", "repokey", repo, check=0)
    code = (
        "import atexit, sys\n"
        "from hutch.cli.main import main\n"
        "atexit.register(lambda: print(' '.join(sorted(sys.modules)), file=sys.stderr))\n"
        "main(sys.argv[1:])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, "create", f"{repo}::one", str(data)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    loaded = set(done.stderr.split())
    assert "hutch.archive.create" in loaded
    unneeded = {
        "hutch.remote.server",
        "hutch.remote.client",
        "hutch.repo.compact",
        "hutch.repo.keyless",
    }
    assert not unneeded & loaded
