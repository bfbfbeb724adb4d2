"""The CLI reference (docs/cli.md), generated from the commands' own ``--help``.

    python -m modelreg.cli.reference > docs/cli.md

``tests/test_docs.py`` fails when docs/cli.md is not what this renders, so the reference never drifts.
"""

from __future__ import annotations

from typing import Any

import typer

from modelreg.cli.errors import __doc__ as EXIT_CODES_DOC
from modelreg.cli.main import app

HEADER = """# CLI reference

Generated from `--help` by `python -m modelreg.cli.reference > docs/cli.md`; do not edit by hand.

`modelreg` works on the embedded registry in `$MODELREG_HOME` (default `~/.modelreg`); see
[deployment](deployment.md) for the settings. Every read command takes `--json`.
"""


def _walk(command: Any, path: list[str]) -> list[tuple[list[str], Any]]:
    """The command and its subcommands, in the order ``--help`` lists them (Typer vendors its click)."""
    found = [(path, command)]
    for name, sub in (getattr(command, "commands", None) or {}).items():
        found.extend(_walk(sub, [*path, name]))
    return found


def command_paths() -> list[str]:
    """Every command as typed, e.g. ``modelreg alias set``."""
    root = typer.main.get_command(app)
    return [" ".join(["modelreg", *path]) for path, _ in _walk(root, [])]


def render() -> str:
    root = typer.main.get_command(app)
    parts = [HEADER]
    exit_codes = (EXIT_CODES_DOC or "").split("\n\n", 1)[-1].strip()
    parts.append("## Exit codes\n\n" + exit_codes + "\n")
    for path, command in _walk(root, []):
        name = " ".join(["modelreg", *path])
        ctx = command.context_class(command, info_name=name, terminal_width=100, max_content_width=100)
        with ctx:
            text = command.get_help(ctx)
        parts.append(f"## `{name}`\n\n```text\n{text.rstrip()}\n```\n")
    return "\n".join(parts)


if __name__ == "__main__":
    print(render(), end="")
