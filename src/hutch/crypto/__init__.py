"""Keys, keyed ids and authenticated encryption of repository objects."""
