"""Pure domain code: keys, ids, catalog records and errors. No I/O lives here."""
