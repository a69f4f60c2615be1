"""`hutch repo-create` (alias `init`): make a new, empty repository."""

from ...crypto.key import MODES
from ...errors import EXIT_OK, EXIT_WARNING
from ...repo.repository import Repository
from ..args import add_command, add_location, resolve
from ..context import Context
from ..output import logger
from ..passphrase import PassphraseSource

HELP = """Create a new, empty repository.

Encryption modes: repokey and keyfile (AES-256-OCB), repokey-chacha20-poly1305
and keyfile-chacha20-poly1305, authenticated (no encryption, still
authenticated), none. With repokey modes the key is stored in the repository,
protected by your passphrase (Argon2id); with keyfile modes it is stored in
HUTCH_CONFIG_DIR/keys on this machine: back it up ('hutch key export')."""


def register(sub, common):
    p = add_command(sub, common, "repo-create", HELP, aliases=["init"])
    add_location(p, "none")
    p.add_argument(
        "-e",
        "--encryption",
        required=True,
        choices=list(MODES),
        metavar="MODE",
        help="encryption mode: " + ", ".join(MODES),
    )
    p.set_defaults(func=run)


def run(args) -> int:
    location, _ = resolve(args)
    ctx = Context(args)
    store = ctx.store(location)
    repo = Repository.create(
        store,
        args.encryption,
        PassphraseSource(confirm=True),
        ctx.dirs.keys,
        cache_dir=ctx.dirs.cache,
        security_dir=ctx.dirs.security,
        key_file=ctx.key_file,
    )
    ctx.remember_key_salt(location, repo.key_kdf)
    if repo.key.storage == "file":
        logger.warning("The key is in a file on this machine. Back it up: 'hutch key export'.")
    elif repo.key.storage == "repo":
        logger.info("The key is in the repository, protected by your passphrase.")
    if not store.write_once_enforced:
        logger.warning(
            f"{store.location} ignores conditional writes (If-None-Match): an object can be "
            "replaced there. hutch never does that itself, but give clients that back up "
            "through 'hutch serve --store-root' with restricted permissions their own bucket "
            "or prefix (README: Write once)."
        )
        return EXIT_WARNING
    return EXIT_OK
