"""The remote layer: the RPC protocol, its client (a store backend), the
server loop of `hutch serve`, and `open_store`, which composes stores."""
