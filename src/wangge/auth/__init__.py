"""Accounts, passwords, sessions/tokens, and turning an account into a ``Subject``."""
