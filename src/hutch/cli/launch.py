"""The `hutch` executable: the allocator's settings before any thread
starts (Argon2id starts some), the key (see keyahead), then the rest of
hutch, imported only now so that it does not sit beside Argon2id's memory."""

import sys

from .allocator import tune as tune_allocator
from .keyahead import derive_ahead


def main() -> None:
    tune_allocator()
    derive_ahead(sys.argv[1:])
    from .main import main as run_command

    run_command()
