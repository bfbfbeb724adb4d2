"""Connecting to a registry: embedded (in-process, ``Service``) or a server over HTTP (``HttpRegistry``)."""

from modelreg.client.local import connect

__all__ = ["connect"]
