"""Manual pages generated from the argparse definition: hutch.1 for the
program and its common options, hutch-COMMAND.1 for each command (and
hutch-key-export.1 for subcommands), so that they cannot drift from
--help. `make man` writes them to docs/man/; a test fails when the
committed pages differ from what the parser gives.

    python -m hutch.cli.manpage DIRECTORY
"""

import argparse
import itertools
import os
import re
import sys
import textwrap

from .. import __version__
from .commands.help import exit_codes_text
from .main import build_parser

COMMON_GROUP = "common options"

ENVIRONMENT = [
    ("HUTCH_REPO", "the repository, where a command takes REPO"),
    ("HUTCH_PASSPHRASE", "the passphrase of the repository's key"),
    ("HUTCH_PASSCOMMAND", "a command that prints the passphrase"),
    ("HUTCH_PASSPHRASE_FD", "a file descriptor to read the passphrase from"),
    ("HUTCH_NEW_PASSPHRASE", "the new passphrase for key change-passphrase"),
    ("HUTCH_RSH", "how to reach a remote server (default: ssh)"),
    ("HUTCH_REMOTE_PATH", "the hutch command on the remote server (default: hutch)"),
    ("HUTCH_SOCKET", "the socket of hutch serve --socket"),
    ("HUTCH_REPO_PERMISSIONS", "permissions that hutch serve enforces"),
    ("HUTCH_CACHE_DIR", "caches (default: ~/.cache/hutch)"),
    ("HUTCH_CONFIG_DIR", "configuration and key files (default: ~/.config/hutch)"),
    ("HUTCH_KEYS_DIR", "key files of keyfile repositories (default: $HUTCH_CONFIG_DIR/keys)"),
    ("HUTCH_KEY_FILE", "the key file to use, wherever it lies"),
    ("HUTCH_DELETE_I_KNOW_WHAT_I_AM_DOING", "YES: repo-delete asks no question"),
]


def escape(text: str) -> str:
    """Text as roff shows it literally: backslashes and hyphens escaped, no
    line starting with a control character."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\n".join("\\&" + line if line[:1] in (".", "'") else line for line in text.split("\n"))


def _paragraphs(text: str) -> list[str]:
    """Description text as roff: a paragraph per block; its lines are
    filled, except indented ones (examples, tables), which are kept."""
    out = []
    for block in re.split(r"\n\s*\n", text.strip("\n")):
        parts = [".PP"]
        for indented, run in itertools.groupby(block.split("\n"), lambda s: s[:1] == " "):
            lines = list(run)
            if indented:
                body = textwrap.dedent("\n".join(lines))
                parts.append(f".RS 4\n.nf\n{escape(body)}\n.fi\n.RE")
            else:
                parts.append(escape(" ".join(line.strip() for line in lines)))
        out.append("\n".join(parts))
    return out


def _flags(action: argparse.Action) -> str:
    if not action.option_strings:
        return f"\\fI{escape(_metavar(action, action.dest))}\\fR"
    names = ", ".join(f"\\fB{escape(s)}\\fR" for s in action.option_strings)
    if action.nargs == 0:
        return names
    choices = "{" + ",".join(map(str, action.choices)) + "}" if action.choices else None
    return f"{names} \\fI{escape(_metavar(action, choices or action.dest.upper()))}\\fR"


def _metavar(action: argparse.Action, default: str) -> str:
    # argparse takes a tuple of names for an argument with several values.
    metavar = action.metavar or default
    return " ".join(metavar) if isinstance(metavar, tuple) else metavar


def _options(parser: argparse.ArgumentParser, common: bool) -> list[str]:
    """.SH sections for the parser's argument groups; `common`: whether
    to include the common options (only hutch.1 does)."""
    out = []
    for group in parser._action_groups:
        actions = [
            a
            for a in group._group_actions
            if a.help != argparse.SUPPRESS and not isinstance(a, argparse._SubParsersAction)
        ]
        if not actions or (group.title == COMMON_GROUP) != common:
            continue
        title = {"positional arguments": "ARGUMENTS", "options": "OPTIONS"}.get(
            group.title or "", (group.title or "options").upper()
        )
        out.append(f".SH {escape(title)}")
        for action in actions:
            text = (action.help or "") % {"default": action.default, "prog": parser.prog}
            out.append(f".TP\n{_flags(action)}\n{escape(text)}")
    return out


def subcommands(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.ArgumentParser, str]]:
    """(name, parser, one-line help) of each subcommand, aliases left out."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            parsers = list(action.choices.items())  # first: this registers every command
            helps = {a.dest: a.help for a in action._choices_actions}
            seen: set[int] = set()
            result = []
            for name, sub in parsers:
                if id(sub) not in seen:
                    seen.add(id(sub))
                    result.append((name, sub, helps.get(name) or ""))
            return result
    return []


def _header(name: str, summary: str) -> list[str]:
    return [
        f'.TH "{name.upper()}" "1" "" "hutch {__version__}" "hutch manual"',
        ".SH NAME",
        f"{escape(name)} \\- {escape(summary.rstrip('.'))}",
    ]


def _synopsis(parser: argparse.ArgumentParser) -> list[str]:
    usage = parser.format_usage().removeprefix("usage: ").strip()
    usage = re.sub(r"\s+", " ", usage)
    return [".SH SYNOPSIS", escape(usage)]


def command_page(page: str, parser: argparse.ArgumentParser, summary: str) -> str:
    lines = _header(page, summary) + _synopsis(parser)
    lines += [".SH DESCRIPTION", *_paragraphs(parser.description or summary)]
    children = subcommands(parser)
    if children:
        lines.append(".SH COMMANDS")
        for name, _, text in children:
            lines.append(f".TP\n\\fB{escape(name)}\\fR\n{escape(text)}\n(see {page}\\-{name}(1))")
    lines += _options(parser, common=False)
    lines += [
        ".SH SEE ALSO",
        "\\fBhutch\\fR(1)"
        + "".join(f", \\fB{escape(page)}\\-{escape(n)}\\fR(1)" for n, _, _ in children),
    ]
    return "\n".join(lines) + "\n"


def main_page(parser: argparse.ArgumentParser) -> str:
    commands = subcommands(parser)
    lines = _header("hutch", parser.description or "") + _synopsis(parser)
    lines += [".SH DESCRIPTION", *_paragraphs(parser.description or "")]
    lines += _paragraphs(
        "REPO is a local folder, file:///path, ssh://[user@]host[:port]/path or "
        "socket:///path ('hutch help repo-urls'); REPO::ARCHIVE names an archive in it, "
        "and --repo REPO ARCHIVE does too. Every command has --help."
    )
    lines.append(".SH COMMANDS")
    for name, _, text in commands:
        lines.append(f".TP\n\\fBhutch\\-{escape(name)}\\fR(1)\n{escape(text)}")
    lines += _options(parser, common=True)
    lines.append(".SH ENVIRONMENT")
    for name, text in ENVIRONMENT:
        lines.append(f".TP\n\\fB{escape(name)}\\fR\n{escape(text)}")
    lines += [".SH EXIT STATUS", ".nf", escape(exit_codes_text()), ".fi"]
    lines += [
        ".SH SEE ALSO",
        ", ".join(f"\\fBhutch\\-{escape(n)}\\fR(1)" for n, _, _ in commands),
    ]
    return "\n".join(lines) + "\n"


def all_pages(parser: argparse.ArgumentParser | None = None) -> dict[str, str]:
    """File name -> roff text, for every page."""
    parser = parser or build_parser()
    pages = {"hutch.1": main_page(parser)}

    def add(prefix: str, p: argparse.ArgumentParser) -> None:
        for name, sub, text in subcommands(p):
            page = f"{prefix}-{name}"
            pages[f"{page}.1"] = command_page(page, sub, text)
            add(page, sub)

    add("hutch", parser)
    return pages


def write_pages(directory: str) -> list[str]:
    """Write every page into `directory`, removing pages of commands that
    are gone; returns the file names written."""
    os.makedirs(directory, exist_ok=True)
    pages = all_pages()
    for old in os.listdir(directory):
        if old.endswith(".1") and old not in pages:
            os.unlink(os.path.join(directory, old))
    for name, text in pages.items():
        with open(os.path.join(directory, name), "w", encoding="utf-8") as f:
            f.write(text)
    return sorted(pages)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m hutch.cli.manpage DIRECTORY")
    print(f"{len(write_pages(sys.argv[1]))} pages written to {sys.argv[1]}")
