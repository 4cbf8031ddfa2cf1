"""Typed errors raised at the bridge's boundaries (config, catalog, locks)."""

from __future__ import annotations


class BridgeError(Exception):
    """Base for errors the bridge reports to a user by message."""


class ConfigError(BridgeError):
    """The configuration is invalid; the message names the key. Exit status 2."""


class CatalogSchemaError(BridgeError):
    """The catalog database lacks tables or columns the bridge needs. Exit status 3."""


class AlreadyRunningError(BridgeError):
    """Another bridge holds the lock on the same bridge database. Exit status 4."""


class RequestRejected(BridgeError):
    """A download request is invalid; the message is written to the request row."""


EXIT_OK = 0
EXIT_CRASH = 1
EXIT_CONFIG = 2
EXIT_SCHEMA = 3
EXIT_LOCKED = 4
