"""Base registry of residents (issue #6): pure validation of identity numbers and phones."""
