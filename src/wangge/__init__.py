"""Wangge (网格): grid-based grassroots governance platform."""

__version__ = "0.1.0"
