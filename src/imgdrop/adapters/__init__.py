"""Backends: `local` (filesystem + SQLite) and `aws` (S3 + DynamoDB)."""
