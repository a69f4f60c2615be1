"""The store layer: a flat key-value store of opaque blobs in namespaces."""
