"""Tamper-evident audit: append-only, hash-chained records of every named action."""
