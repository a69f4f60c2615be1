"""One module per command; each has `register(sub, common)` and `run(args)`.

A command line needs one of them: importing all of them (and what they use)
and building their parsers was about a fifth of every start-up. `Commands`
is the parser's table of commands, which imports a command's module when the
parser first asks for it, and every module when it lists them (help, an
unknown name, completion, the manual pages)."""

import argparse
import importlib
from collections.abc import Iterator
from types import ModuleType

# Each name a command line may use (aliases too) and its module, in the order
# `hutch --help` lists them.
MODULES = {
    "repo-create": "repo_create",
    "init": "repo_create",
    "create": "create",
    "extract": "extract",
    "list": "list_archives",
    "info": "info",
    "repo-info": "repo_info",
    "rename": "rename",
    "recreate": "recreate",
    "delete": "delete",
    "key": "key",
    "break-lock": "break_lock",
    "serve": "serve",
    "pull": "pull",
    "export-tar": "export_tar",
    "import-tar": "import_tar",
    "prune": "prune",
    "repo-prune": "repo_prune",
    "repo-list": "repo_list",
    "undelete": "undelete",
    "compact": "compact",
    "check": "check",
    "with-lock": "with_lock",
    "repo-delete": "repo_delete",
    "diff": "diff",
    "mount": "mount",
    "umount": "umount",
    "completion": "completion",
    "help": "help",
}


def module(name: str) -> ModuleType:
    return importlib.import_module(f"{__name__}.{MODULES[name]}")


class Commands(argparse._SubParsersAction):
    """The subparsers of `hutch`, registered as they are needed. `choices`
    answers for every name; reading a parser from it registers its module."""

    # The options every command takes (set right after the action is made).
    common: argparse.ArgumentParser

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.choices = _Parsers(self)

    def register(self, name: str) -> None:
        """Register the command `name` (with its aliases) unless it is already."""
        if name not in self._name_parser_map:
            module(name).register(self, self.common)
            dict.update(self.choices, self._name_parser_map)

    def register_all(self) -> None:
        """Register every command, listed in the order of MODULES whichever
        came first (the command that runs, e.g. completion)."""
        if len(self._name_parser_map) == len(MODULES):
            return
        for name in MODULES:
            self.register(name)
        order = {name: place for place, name in enumerate(MODULES)}
        self._choices_actions.sort(key=lambda action: order[action.dest])
        parsers = sorted(self._name_parser_map.items(), key=lambda pair: order[pair[0]])
        for table in (self._name_parser_map, self.choices):
            dict.clear(table)
            dict.update(table, parsers)

    def _get_subactions(self):
        self.register_all()
        return super()._get_subactions()

    def __call__(self, parser, namespace, values, option_string=None):
        self.register(values[0])  # argparse checked the name against `choices`
        super().__call__(parser, namespace, values, option_string)


class _Parsers(dict):
    """Command name -> parser. It holds the commands registered so far, but
    answers for all of them: looking one up registers it, going through
    them registers them all. A dict, as completion (shtab) insists."""

    def __init__(self, commands: Commands):
        super().__init__()
        self._commands = commands

    def __contains__(self, name: object) -> bool:
        return name in MODULES

    def __missing__(self, name: str) -> argparse.ArgumentParser:
        if name not in MODULES:
            raise KeyError(name)
        self._commands.register(name)
        return dict.__getitem__(self, name)

    def get(self, name, default=None):
        return self[name] if name in MODULES else default

    def __iter__(self) -> Iterator[str]:
        self._commands.register_all()
        return super().__iter__()

    def __len__(self) -> int:
        return len(MODULES)

    def keys(self):
        self._commands.register_all()
        return super().keys()

    def values(self):
        self._commands.register_all()
        return super().values()

    def items(self):
        self._commands.register_all()
        return super().items()
