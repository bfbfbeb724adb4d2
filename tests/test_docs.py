"""The docs stay true: the CLI reference is generated, settings and links are checked."""

from __future__ import annotations

import re
from pathlib import Path

from modelreg.cli.reference import command_paths, render
from modelreg.config import SETTINGS_ENV

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def test_cli_reference_is_generated_from_help() -> None:
    current = (DOCS / "cli.md").read_text(encoding="utf-8")
    assert current == render(), "docs/cli.md is stale: run python -m modelreg.cli.reference > docs/cli.md"
    for path in command_paths():
        assert f"## `{path}`" in current


def test_every_setting_is_documented() -> None:
    deployment = (DOCS / "deployment.md").read_text(encoding="utf-8")
    for variable in SETTINGS_ENV.values():
        assert f"`{variable}`" in deployment, f"{variable} is not documented in docs/deployment.md"


def test_relative_links_resolve() -> None:
    for page in [ROOT / "README.md", *DOCS.glob("*.md")]:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text(encoding="utf-8")):
            if target.startswith(("http://", "https://", "mailto:")):
                continue
            assert (page.parent / target).exists(), f"{page.name} links to missing {target}"


def test_readme_starts_with_the_two_commands() -> None:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    block = lines[lines.index("```bash") + 1:]
    assert block[0] == "pip install -e . && modelreg serve"
    assert block[1] == ('pip install -c constraints.txt torch==2.13.0 && pip install -c constraints.txt -e ".[test]" '
                        '&& python -m pytest')
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "pip install --quiet --disable-pip-version-check -c constraints.txt torch==2.13.0" in ci
    assert 'pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[test]"' in ci
    assert "python -m pytest" in ci
