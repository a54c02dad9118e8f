"""tallyho: small, dependency-free helpers for text, numbers, versions and dates."""

__version__ = "0.1.0"
