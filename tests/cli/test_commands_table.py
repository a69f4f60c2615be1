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
