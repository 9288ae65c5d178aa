"""Delegated administration (as in DHIS2): accounts and posts, granted only inside one's subtree."""
