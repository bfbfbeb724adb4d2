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


def test_the_permissions_table_is_generated_from_the_code() -> None:
    from modelreg.service.permissions import permissions_table

    page = (DOCS / "security.md").read_text(encoding="utf-8")
    block = page.split("<!-- permissions:start -->\n", 1)[1].split("<!-- permissions:end -->", 1)[0]
    assert block == permissions_table(), (
        "docs/security.md's table is stale: paste the output of python -c 'from modelreg.service.permissions "
        "import permissions_table as t; print(t(), end=\"\")'")


def test_every_public_operation_of_the_service_declares_its_permission() -> None:
    import inspect

    from modelreg.service import Service
    from modelreg.service.permissions import OPERATIONS, permission_of

    not_operations = {"url", "close"}  # the connection itself
    public = {name for name, _ in inspect.getmembers(Service) if not name.startswith("_")} - not_operations
    undeclared = sorted(name for name in public if permission_of(getattr(Service, name)) is None)
    assert undeclared == [], f"declare the least role of {undeclared} with @operation"
    assert set(OPERATIONS) == public


def test_every_event_action_is_documented() -> None:
    from modelreg.types import EVENT_ACTIONS

    concepts = (DOCS / "concepts.md").read_text(encoding="utf-8")
    section = concepts.split("## Events", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"`([a-z_]+\.[a-z_]+)`", section))
    missing, unknown = set(EVENT_ACTIONS) - documented, documented - set(EVENT_ACTIONS)
    assert not missing and not unknown, (sorted(missing), sorted(unknown))


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
