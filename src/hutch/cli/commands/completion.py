"""`hutch completion bash|zsh|fish`: a shell completion script, generated
from the same argparse definition as the commands themselves (shtab).

A positional that names files or folders is marked `complete_as` "file" or
"directory" where it is defined; shtab's own markers are set here, so that
shtab is imported by this command only (it weighs several MiB)."""

import argparse

from ..args import add_command

SHELLS = ("bash", "zsh", "fish")

HELP = """Print a completion script for SHELL (bash, zsh or fish): commands,
options, and the choices of options such as --encryption and --permissions.

    bash: hutch completion bash > /etc/bash_completion.d/hutch
          (or ~/.local/share/bash-completion/completions/hutch)
    zsh:  hutch completion zsh > "${fpath[1]}/_hutch"
    fish: hutch completion fish > ~/.config/fish/completions/hutch.fish"""


def register(sub, common) -> None:
    p = add_command(sub, common, "completion", HELP)
    p.add_argument("shell", metavar="SHELL", choices=SHELLS, help=", ".join(SHELLS))
    p.set_defaults(func=run)


def script(parser, shell: str) -> str:
    """The completion script of `parser` for `shell`."""
    import shtab

    _mark_paths(parser, {"file": shtab.FILE, "directory": shtab.DIRECTORY})  # type: ignore[attr-defined]
    return shtab.complete(parser, shell=shell)


def _mark_paths(parser: argparse.ArgumentParser, markers: dict) -> None:
    for action in parser._actions:
        kind = getattr(action, "complete_as", None)
        if kind is not None:
            action.complete = markers[kind]  # type: ignore[attr-defined]
        if isinstance(action, argparse._SubParsersAction):
            for sub in set(action.choices.values()):
                _mark_paths(sub, markers)


def run(args) -> int:
    print(script(args.root_parser, args.shell))
    return 0
