"""The user's directories for hutch: the cache and the configuration (with
the key files and what each repository was last seen as)."""

import os


def _xdg(var: str, fallback: str) -> str:
    return os.environ.get(var) or os.path.join(os.path.expanduser("~"), fallback)


class Dirs:
    def __init__(self, cache: str, config: str):
        self.cache = cache
        self.config = config

    @classmethod
    def from_environment(cls) -> "Dirs":
        cache = os.environ.get("HUTCH_CACHE_DIR") or os.path.join(
            _xdg("XDG_CACHE_HOME", ".cache"), "hutch"
        )
        config = os.environ.get("HUTCH_CONFIG_DIR") or os.path.join(
            _xdg("XDG_CONFIG_HOME", ".config"), "hutch"
        )
        return cls(cache, config)

    @property
    def keys(self) -> str:
        return os.environ.get("HUTCH_KEYS_DIR") or os.path.join(self.config, "keys")

    @property
    def security(self) -> str:
        return os.path.join(self.config, "security")
