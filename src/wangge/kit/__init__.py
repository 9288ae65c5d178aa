"""Shared infrastructure: database, errors, progress."""
