"""`hutch completion bash|zsh|fish`: a shell completion script, generated
from the same argparse definition as the commands themselves (shtab)."""

import shtab

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
    return shtab.complete(parser, shell=shell)


def run(args) -> int:
    print(script(args.root_parser, args.shell))
    return 0
