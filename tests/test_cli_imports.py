"""What a process loads: ``import modelreg`` loads no submodule, and a local read command loads neither the
server, the HTTP client, the exports' toolchains, S3 nor Alembic. A test of structure, not of timing
(``bench/bench_cli.py`` measures the time).

Also: the CLI's table of which module holds which command (``cli.main.GROUPS``) is exact, and loading the
commands lazily builds the same command tree, in the same order, as adding every group up front.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import typer
import typer.main

import modelreg
from modelreg.cli import main as cli_main

# Never loaded by a read on the embedded registry (SQLite + local files).
HEAVY = ("fastapi", "starlette", "uvicorn", "httpx", "torch", "numpy", "onnx", "boto3", "botocore", "alembic",
         "psycopg", "jinja2", "sqlalchemy.orm", "sqlalchemy.dialects.postgresql", "modelreg.server",
         "modelreg.client.http", "modelreg.export.runner", "modelreg.cli.server", "modelreg.cli.exports")
CLEARED = ("MODELREG_URL", "MODELREG_TOKEN", "MODELREG_DATABASE_URL", "MODELREG_ARTIFACTS", "MODELREG_CACHE",
           "MODEL_ENVIRONMENT", "MODELREG_DEBUG")

# Runs the console script's entry point in a fresh interpreter and reports what it loaded: run() ends the
# process itself, still running the exit functions, the last of which (the first registered) is this report.
PROBE = textwrap.dedent("""
    import atexit, gc, json, sys
    from modelreg.cli.main import run
    sys.argv = ["modelreg", *json.loads(sys.argv[1])]
    atexit.register(lambda: print(json.dumps({"gc": gc.isenabled(), "modules": sorted(sys.modules)}),
                                  file=sys.stderr))
    run()
""")


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A registry with model ``m``: v1 (production) and v2, made through the SDK."""
    home = tmp_path_factory.mktemp("home")
    files = tmp_path_factory.mktemp("run") / "weights"
    files.mkdir()
    (files / "best.pt").write_bytes(b"weights")
    with modelreg.connect(home=home) as reg:
        reg.register_version("m", files=str(files), metrics={"map50": 0.5})
        reg.register_version("m", files=str(files), metrics={"map50": 0.6})
    environ = {k: v for k, v in os.environ.items() if k not in CLEARED}
    environ.update(MODELREG_HOME=str(home), COLUMNS="120")
    return environ


def probe(args: list[str], environ: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(args)], env=environ, capture_output=True,
                          text=True, timeout=120)
    *said, last = done.stderr.strip().splitlines() or [""]
    assert last.startswith("{"), done.stderr
    assert done.returncode == 0, "\n".join(said)
    report: dict[str, Any] = json.loads(last)
    return report


@pytest.mark.parametrize("args", [["versions", "m"], ["info", "m:1"], ["info", "m@production", "--json"],
                                  ["resolve", "m@production"], ["resolve", "m:2", "weights/best.pt"]], ids=" ".join)
def test_a_local_read_loads_nothing_heavy(env: dict[str, str], args: list[str]) -> None:
    report = probe(args, env)
    modules = set(report["modules"])
    loaded = sorted(name for name in HEAVY if name in modules)
    hint = " (Alembic: is HEAD_REVISION in metadata/sql/schema.py the newest migration?)" if "alembic" in loaded else ""
    assert loaded == [], f"modelreg {' '.join(args)} imported {loaded}{hint}"
    groups = {name for name in modules if name.startswith("modelreg.cli.")}
    command_modules = {f"modelreg.cli.{g.module}" for g in cli_main.GROUPS}
    assert len(groups & command_modules) == 1, f"more than the command's own module was loaded: {sorted(groups)}"
    assert report["gc"] is True, "the console script left the garbage collector off"


def test_import_modelreg_loads_no_submodule() -> None:
    code = "import json, sys, modelreg; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    modules = json.loads(done.stdout)
    assert [m for m in modules if m.startswith("modelreg.")] == []
    assert [m for m in ("pydantic", "sqlalchemy", "typer", "rich") if m in modules] == []


def _type_checking_names(init: Path) -> set[str]:
    tree = ast.parse(init.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            return {alias.asname or alias.name for stmt in node.body if isinstance(stmt, ast.ImportFrom)
                    for alias in stmt.names}
    raise AssertionError("modelreg/__init__.py has no TYPE_CHECKING block")


def test_lazy_names_match_all_and_the_type_checking_imports() -> None:
    lazy = set(modelreg._LAZY)
    assert lazy | {"__version__"} == set(modelreg.__all__)
    assert _type_checking_names(Path(modelreg.__file__)) == lazy
    for name, module in modelreg._LAZY.items():  # each name lives where the table says
        assert getattr(__import__(module, fromlist=[name]), name) is getattr(modelreg, name), name


def test_groups_name_every_command_where_it_lives() -> None:
    for group in cli_main.GROUPS:
        assert list(cli_main.build_group(group)) == list(group.provides), (
            f"cli.main.GROUPS: modelreg.cli.{group.module}.{group.attr} provides "
            f"{list(cli_main.build_group(group))}; update its entry")


def _eager_tree() -> typer.Typer:
    """The root as it was built before the commands were loaded lazily: every group added up front."""
    eager = typer.Typer(name="modelreg", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                        rich_markup_mode=None, context_settings={"help_option_names": ["-h", "--help"]})
    eager.callback()(cli_main.root)
    for group in cli_main.GROUPS:
        sub = getattr(__import__(f"modelreg.cli.{group.module}", fromlist=[group.attr]), group.attr)
        eager.add_typer(sub, name=group.name)
    return eager


def _walk(command: object, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], str]]:
    found = [(path, getattr(command, "help", None) or "")]
    for name, sub in (getattr(command, "commands", None) or {}).items():
        found.extend(_walk(sub, (*path, name)))
    return found


def test_lazy_root_builds_the_same_tree_as_adding_every_group() -> None:
    lazy = typer.main.get_command(cli_main.app)
    assert _walk(lazy) == _walk(typer.main.get_command(_eager_tree()))


def test_a_command_missing_from_groups_is_still_found(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli_main, "_PROVIDER", {})
    root = typer.main.get_command(cli_main.app)
    with typer.Context(root) as ctx:
        found = root.get_command(ctx, "resolve")  # type: ignore[attr-defined]
    assert found is not None and found.name == "resolve"
