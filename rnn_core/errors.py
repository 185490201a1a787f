"""Errors that carry one clear sentence for the user."""

__all__ = ["ConfigError", "DataError"]


class ConfigError(ValueError):
    """A bad option value or search space, found before any work starts."""


class DataError(ValueError):
    """A missing, empty or corrupt dataset file; the message names the file."""
