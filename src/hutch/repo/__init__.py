"""The repository layer: config, keys, packs, index, archives, locks."""
