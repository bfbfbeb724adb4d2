"""Import boundaries, read from the source (ast): imports point down only.

Every import counts, including those under ``TYPE_CHECKING`` and inside functions: a boundary that holds
only at run time still ties the layers together for the reader and for mypy.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import modelreg

PACKAGE = Path(modelreg.__file__).parent
FACES = ("modelreg.service", "modelreg.server", "modelreg.cli", "modelreg.client")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(name: str) -> bool:
    base = PACKAGE.parent.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def imports_of(path: Path) -> set[str]:
    """Every module ``path`` imports (``from a import b`` counts ``a``, and ``a.b`` when that is a module)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names if _is_module(f"{module}.{alias.name}"))
    return found


def modules_under(folder: str) -> Iterator[tuple[str, set[str]]]:
    root = PACKAGE / folder
    assert root.is_dir(), root
    for path in sorted(root.rglob("*.py")):
        yield _module_name(path), imports_of(path)


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _offending(folder: str, forbidden: tuple[str, ...], allowed: tuple[str, ...] = ()) -> list[str]:
    return [f"{module} imports {name}" for module, names in modules_under(folder) for name in sorted(names)
            if any(_within(name, f) for f in forbidden) and not any(_within(name, a) for a in allowed)]


def test_imports_are_read_from_every_form() -> None:
    """The reader itself: plain, from, relative, and function-level imports are all seen."""
    names = imports_of(PACKAGE / "client" / "local.py")
    assert "modelreg.service" in names and "modelreg.client.http" in names


def test_the_http_client_does_not_import_the_service() -> None:
    names = imports_of(PACKAGE / "client" / "http.py")
    offending = sorted(n for n in names if _within(n, "modelreg.service"))
    assert not offending, f"modelreg.client.http imports {offending}: put shared logic in modelreg.local"


def test_the_client_uses_only_the_service_package_surface() -> None:
    """``connect()`` builds the in-process ``Service`` from the package's public names; no client module
    reaches into the service's modules."""
    offending = [f"{module} imports {name}" for module, names in modules_under("client") for name in sorted(names)
                 if name.startswith("modelreg.service.")]
    assert not offending, offending


def test_local_logic_imports_no_face() -> None:
    assert not _offending("local", FACES)


@pytest.mark.parametrize("folder", ["metadata", "blobs"])
def test_stores_import_no_face(folder: str) -> None:
    assert not _offending(folder, FACES)


def test_the_sql_store_does_not_import_the_memory_fake() -> None:
    assert not _offending("metadata/sql", ("modelreg.metadata.memory",))


def _private_calls(path: Path) -> list[str]:
    """Calls of a ``_private`` method on anything (``reg._finish_run(...)``, ``ui.reg.ctx._x``) in one module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [f"{path.relative_to(PACKAGE)}:{node.lineno} {node.func.attr}" for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr.startswith("_") and not node.func.attr.startswith("__")]


def test_no_route_or_page_calls_a_private_service_method() -> None:
    """Transports translate: every rule is behind a public service operation (permission checks included)."""
    offending = [call for folder in ("server/routes", "server/ui") for path in sorted((PACKAGE / folder).rglob("*.py"))
                 for call in _private_calls(path)]
    assert offending == []


def test_importers_import_no_face() -> None:
    """Importers work through the ``Registry`` contract, so the same code imports locally and into a server."""
    assert not _offending("importers", FACES)


def _package(name: str) -> str:
    """``modelreg.blobs.local`` → ``modelreg.blobs``: the part of modelreg a module belongs to."""
    return ".".join(name.split(".")[:2])


def package_graph() -> dict[str, set[str]]:
    """Which part of modelreg imports which (every import, as above; a part's imports of itself left out)."""
    graph: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        source = _package(_module_name(path))
        targets = {_package(name) for name in imports_of(path) if _within(name, "modelreg")}
        graph.setdefault(source, set()).update(targets - {source, "modelreg"})
    return graph


def cycle_through(graph: dict[str, set[str]], start: str) -> list[str] | None:
    """A path of imports from ``start`` back to itself, or None."""
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    seen: set[str] = set()
    while stack:
        node, path = stack.pop()
        for target in sorted(graph.get(node, ())):
            if target == start:
                return [*path, start]
            if target not in seen:
                seen.add(target)
                stack.append((target, [*path, target]))
    return None


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycle_through(graph, "a") == ["a", "b", "c", "a"]
    assert cycle_through(graph, "d") is None


@pytest.mark.parametrize("part", ["modelreg.blobs", "modelreg.importers", "modelreg.metadata", "modelreg.local"])
def test_no_import_cycle_runs_through(part: str) -> None:
    graph = package_graph()
    assert part in graph
    cycle = cycle_through(graph, part)
    assert cycle is None, " → ".join(cycle or [])
