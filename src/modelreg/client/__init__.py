"""Connecting to a registry: embedded (in-process) today; a server over HTTP with the server release."""

from modelreg.client.local import connect

__all__ = ["connect"]
