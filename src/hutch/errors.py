"""Errors a user can meet: each class carries its message and its exit code.

`cli.main` renders them as one line on stderr and exits with `exit_code`;
nothing else needs to know how an error is shown.
"""

EXIT_OK = 0
EXIT_WARNING = 1
EXIT_ERROR = 2


class HutchError(Exception):
    """Base of every error meant for a user. The message says what to do."""

    exit_code = EXIT_ERROR


class UsageError(HutchError):
    """The command line asks for something that cannot be done."""


class StoreError(HutchError):
    """A store operation failed."""


class ObjectNotFound(StoreError):
    """The named object does not exist in the store."""


class ObjectExists(StoreError):
    """The named object exists and the caller may not overwrite it."""


class PermissionDenied(StoreError):
    """The store's permissions forbid this operation."""


class StoreUnavailable(StoreError):
    """The store failed in a way that may pass: retried, then given up."""


class RepositoryNotFound(HutchError):
    """No repository at the given location."""


class RepositoryExists(HutchError):
    """A repository (or other data) already occupies the location."""


class UnsupportedRepository(HutchError):
    """The repository's format is newer or other than this hutch knows."""


class PassphraseWrong(HutchError):
    """The passphrase does not unlock the key."""


class KeyInvalid(HutchError):
    """The key is missing, invalid or does not belong to this repository."""


class IntegrityError(HutchError):
    """Data read from the repository failed authentication or is malformed."""


class ArchiveNotFound(HutchError):
    """No archive of that name."""


class ArchiveExists(HutchError):
    """An archive of that name exists already."""


class LockTimeout(HutchError):
    """The repository lock could not be acquired in time."""


class TarFileError(HutchError):
    """A tar file (or the filter command around it) cannot be read or written."""


class LockLost(HutchError):
    """Our lock was removed while we held it."""


class ConnectionClosed(HutchError):
    """The remote side went away."""


class Cancelled(HutchError):
    """The user did not confirm a destructive command."""
