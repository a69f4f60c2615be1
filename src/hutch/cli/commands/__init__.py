"""One module per command; each has `register(sub, common)` and `run(args)`."""

from . import (
    break_lock,
    create,
    delete,
    extract,
    info,
    key,
    list_archives,
    rename,
    repo_create,
    repo_info,
    serve,
)

COMMANDS = [
    repo_create,
    create,
    extract,
    list_archives,
    info,
    repo_info,
    rename,
    delete,
    key,
    break_lock,
    serve,
]
