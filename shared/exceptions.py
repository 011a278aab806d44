"""Errors of the scoring contract, converted where they leave the package."""


class SharedError(Exception):
    """Base class of the contract's errors."""


class EncodingError(SharedError):
    """The encoding state does not match this code (wrong version, other features)."""


class BundleError(SharedError):
    """A model bundle is missing, incomplete or inconsistent."""


class ConfigurationError(SharedError):
    """A setting is missing or unsafe for the environment."""
