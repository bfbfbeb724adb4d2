"""The ``modelreg`` command line: Typer + Rich over the SDK, one module per command group.

``main`` holds the root app and the error handling, ``errors`` the one table of exit codes and hints,
``output`` the tables, JSON and the one-line version summary; the groups are ``projects``, ``models``,
``versions``, ``aliases``, ``insights``, ``transfer`` and ``maintenance``.
"""
