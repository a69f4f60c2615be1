"""The `hutch` executable: the key first, then the rest of hutch (see keyahead)."""

import sys

from .keyahead import derive_ahead


def main() -> None:
    derive_ahead(sys.argv[1:])
    from .main import main as run_command

    run_command()
