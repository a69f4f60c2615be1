"""`hutch help TOPIC`: documentation that is not one command's --help."""

import inspect

from ... import errors
from ...archive import patterns
from ...errors import UsageError
from ...remote import urls
from ..args import add_command

HELP = "Show a help topic: repo-urls, exit-codes, patterns, or a command's help."


def exit_codes_text() -> str:
    """Generated from the error classes, so it cannot drift from the code."""
    lines = [
        "Exit codes: 0 success, 1 warning (finished, but something was skipped or",
        "changed while read), 2 error, 128+N killed by signal N.",
        "",
        "Errors and their exit codes:",
    ]
    for name, cls in inspect.getmembers(errors, inspect.isclass):
        if issubclass(cls, errors.HutchError) and cls is not errors.HutchError:
            doc = (cls.__doc__ or "").strip().splitlines()[0]
            lines.append(f"  {cls.exit_code}  {name:<22} {doc}")
    return "\n".join(lines)


def _repo_urls() -> str:
    return "Repository locations:\n" + urls.__doc__.split("\n", 1)[1].rstrip()


def _patterns() -> str:
    text = patterns.__doc__.split("\n\n", 1)[1].strip()
    return "Include and exclude patterns (--exclude, --pattern, ...):\n\n" + text


TOPICS = {"exit-codes": exit_codes_text, "repo-urls": _repo_urls, "patterns": _patterns}


def register(sub, common):
    p = add_command(sub, common, "help", HELP)
    p.add_argument("topic", metavar="TOPIC", nargs="?", help=", ".join(TOPICS))
    p.set_defaults(func=run, parser=sub)


def run(args) -> int:
    if args.topic is None:
        print("Help topics: " + ", ".join(TOPICS) + "; 'hutch COMMAND --help' for a command.")
        return 0
    if args.topic in TOPICS:
        print(TOPICS[args.topic]())
        return 0
    if args.topic in args.parser.choices:
        args.parser.choices[args.topic].print_help()
        return 0
    raise UsageError(
        f"no help topic {args.topic!r}; topics: {', '.join(TOPICS)}, or a command's name"
    )
