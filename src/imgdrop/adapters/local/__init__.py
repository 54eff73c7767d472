"""The local edition: filesystem blobs, a SQLite catalog and a durable in-process worker."""
