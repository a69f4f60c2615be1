"""The archive layer: where file systems meet repositories."""
