"""The README's quick starts run exactly as written, on a fresh machine, and print what they show.

Each quick start is the fenced block right after its marker (``<!-- quickstart:cli -->``,
``<!-- quickstart:python -->``). The CLI block runs with ``bash -e`` through the installed ``modelreg`` entry
point, the Python block with this interpreter, in an empty folder with ``MODELREG_HOME`` in a temp folder.
Lines starting with ``#>`` are output the README shows: each must be a line of what the block printed, in order.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import modelreg
from test_api_fuzz import serving

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SRC = Path(modelreg.__file__).resolve().parents[1]  # the code under test, also in the subprocesses


def quickstart(name: str) -> str:
    """The fenced block right after ``<!-- quickstart:NAME -->``."""
    text = README.read_text(encoding="utf-8")
    blocks = re.findall(rf"^<!-- quickstart:{name} -->\n```\w+\n(.*?)^```$", text, re.MULTILINE | re.DOTALL)
    assert len(blocks) == 1, f"README.md needs one <!-- quickstart:{name} --> before a fenced block"
    return str(blocks[0])


def shown_output(block: str) -> list[str]:
    return [line[3:] for line in block.splitlines() if line.startswith("#> ")]


def assert_prints_what_it_shows(block: str, output: str) -> None:
    printed = [line.rstrip() for line in output.splitlines()]
    at = 0
    for line in shown_output(block):
        assert line.rstrip() in printed[at:], f"the README shows {line!r}, which did not follow; it printed:\n{output}"
        at = printed.index(line.rstrip(), at) + 1


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A new user's shell: no modelreg settings but MODELREG_HOME, the entry point of this Python first."""
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("MODELREG_", "MODEL_ENVIRONMENT")) and k not in ("COLUMNS", "LINES")}
    modelreg_bin = shutil.which("modelreg", path=str(Path(sys.executable).parent)) or shutil.which("modelreg")
    assert modelreg_bin, "the modelreg entry point is not installed: pip install -e ."
    path = os.pathsep.join([str(Path(modelreg_bin).parent), clean.get("PATH", "")])
    pythonpath = os.pathsep.join(p for p in (str(SRC), clean.get("PYTHONPATH")) if p)
    return {**clean, "PATH": path, "PYTHONPATH": pythonpath, "PYTHONUNBUFFERED": "1",
            "MODELREG_HOME": str(tmp_path / "home")}


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    folder = tmp_path / "work"
    folder.mkdir()
    return folder


def run_cli_quickstart(env: dict[str, str], cwd: Path) -> None:
    block = quickstart("cli")
    result = subprocess.run(["bash", "-e", "-c", block], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, timeout=300)
    assert result.returncode == 0, f"the CLI quick start failed:\n{result.stdout}"
    assert_prints_what_it_shows(block, result.stdout)


def run_python_quickstart(env: dict[str, str], cwd: Path) -> None:
    block = quickstart("python")
    result = subprocess.run([sys.executable, "-c", block], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, timeout=300)
    assert result.returncode == 0, f"the Python quick start failed:\n{result.stdout}"
    assert_prints_what_it_shows(block, result.stdout)


def test_the_quick_starts_are_marked_and_show_output() -> None:
    for name in ("cli", "python"):
        assert shown_output(quickstart(name)), f"the {name} quick start shows no output to check"


def test_cli_quick_start_then_the_python_one(env: dict[str, str], workdir: Path) -> None:
    run_cli_quickstart(env, workdir)
    reg = modelreg.connect(home=env["MODELREG_HOME"])
    try:
        production = reg.get_version("fire-detector@production")
        assert production.number == 1
        assert [a.path for a in production.artifacts] == ["weights/best.pt", "weights/last.pt"]
        assert [v.number for v in reg.list_versions("smoke-detector")] == [1]
    finally:
        reg.close()
    assert (workdir / "models" / "production" / "weights" / "best.pt").read_text() == "train best\n"
    run_python_quickstart(env, workdir)  # in the README's order, on what the CLI one left


def test_python_quick_start_on_a_fresh_machine(env: dict[str, str], workdir: Path) -> None:
    run_python_quickstart(env, workdir)


@pytest.mark.slow
def test_quick_starts_against_modelreg_serve(env: dict[str, str], workdir: Path, tmp_path: Path) -> None:
    server_home = tmp_path / "server"
    with serving({**env, "MODELREG_HOME": str(server_home)}) as url:
        client = {**env, "MODELREG_URL": url}
        run_cli_quickstart(client, workdir)
        run_python_quickstart(client, workdir)
    assert not (Path(env["MODELREG_HOME"]) / "registry.db").exists(), "the client opened a registry of its own"
    reg = modelreg.connect(home=server_home)
    try:
        assert [v.number for v in reg.list_versions("fire-detector")] == [4, 3, 2, 1]
    finally:
        reg.close()
