"""Errors carry their next step as facts; the SDK, the CLI and the REST API each write it in their own words."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from modelreg.cli.errors import classify
from modelreg.cli.steps import CLI_WORDS
from modelreg.config import Settings
from modelreg.errors import GateFailed, ModelNotFound, ProjectNotFound, VersionInUse, VersionNotFound, error_from_dict
from modelreg.server.errors import rest_words
from modelreg.server.steps import REST_WORDS
from modelreg.service import Service
from modelreg.steps import PYTHON_WORDS, STEP_ACTIONS, STEP_OPTIONS, Words, next_step, pass_option

SRC = Path(__file__).parent.parent / "src" / "modelreg"
FACES = {"sdk": PYTHON_WORDS, "cli": CLI_WORDS, "rest": REST_WORDS}
CORE = [p for d in ("service", "metadata", "blobs", "export", "local") for p in (SRC / d).rglob("*.py")] + [
    SRC / name for name in ("types.py", "filters.py", "refs.py", "text.py", "errors.py")]
# A CLI command, a CLI option or a REST route: words only a face may write (the aws CLI's --endpoint-url, in how
# to create a bucket, is another tool's).
FACE_WORDS = re.compile(r"modelreg (?:projects|models|versions|register|alias|activate|export|tokens|unpin|pin|"
                        r"mark-best|fsck|gc|pull|serve)\b|(?<![\w-])--(?!endpoint-url)[a-z]|/api/v1|"
                        r"\b(?:PUT|POST|PATCH|DELETE) /")


@pytest.mark.parametrize("face", FACES)
def test_every_face_has_words_for_every_step(face: str) -> None:
    words = FACES[face]
    assert set(words.actions) == set(STEP_ACTIONS)
    assert set(words.options) == set(STEP_OPTIONS)


def _steps_in_core() -> list[dict[str, Any]]:
    """Every next_step/pass_option call in the core, with placeholder values for its arguments."""
    found = []
    for path in CORE:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
                continue
            if node.func.id not in ("next_step", "pass_option") or not node.args:
                continue
            first = node.args[0]
            assert isinstance(first, ast.Constant), f"{path}:{node.lineno}: name the step literally"
            args = {kw.arg: "x" for kw in node.keywords if kw.arg}
            step = next_step(first.value, **args) if node.func.id == "next_step" else pass_option(first.value, **args)
            found.append(step)
    return found


def test_the_core_uses_steps_and_each_renders_in_every_face() -> None:
    steps = _steps_in_core()
    assert len(steps) >= 20
    assert {s["action"] for s in steps} == set(STEP_ACTIONS), "a declared step no code uses"
    for step in steps:
        for face, words in FACES.items():
            assert words.render(step), f"{face} cannot write {step}"


def _literal_texts(node: ast.AST) -> list[ast.Constant]:
    return [c for c in ast.walk(node) if isinstance(c, ast.Constant) and isinstance(c.value, str)]


def test_no_core_error_names_a_command_option_or_route() -> None:
    offenders = []
    for path in CORE:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            texts: list[ast.Constant] = []
            if isinstance(node, ast.Call):
                texts += [c for kw in node.keywords if kw.arg == "hint" for c in _literal_texts(kw.value)]
                name = getattr(node.func, "id", getattr(node.func, "attr", ""))
                if name[:1].isupper() or name == "failure":  # an error's message
                    texts += [c for a in node.args[:3] for c in _literal_texts(a)]
            if isinstance(node, ast.Assign) and any(getattr(t, "id", "").endswith("HINT") for t in node.targets):
                texts += _literal_texts(node.value)
            offenders += [f"{path.relative_to(SRC)}:{c.lineno}: {c.value!r}" for c in texts
                          if FACE_WORDS.search(c.value)]
    assert offenders == []


def test_words_render_arguments_and_lead() -> None:
    step = next_step("list_versions", model="det", lead="its newest is v3")
    assert PYTHON_WORDS.render(step) == "its newest is v3; list them: reg.list_versions('det')"
    assert CLI_WORDS.render(step) == "its newest is v3; list them: modelreg versions det"
    assert "GET /api/v1/projects/-/models/det/versions" in (REST_WORDS.render(step) or "")
    assert CLI_WORDS.render(pass_option("force")) == "pass --force (it is recorded)"
    assert PYTHON_WORDS.render(pass_option("force")) == "pass force=True (it is recorded)"


def test_a_step_a_face_does_not_know_falls_back_to_the_hint() -> None:
    words = Words({"a": "do {thing}"}, {})
    assert words.render({"action": "b"}) is None
    assert words.render({"action": "a"}) is None  # an argument missing: no half-written sentence
    error = VersionNotFound("gone", hint="plain words", step={"action": "from_a_newer_server"})
    assert error.hint == "plain words"


def test_an_error_has_sdk_words_and_each_face_writes_its_own() -> None:
    error = ProjectNotFound("project 'vision' does not exist", step=next_step("create_project", project="vision"),
                            project="vision")
    assert error.hint == "create it: reg.create_project('vision')"
    assert classify(error)[2] == "create it: modelreg projects create vision"
    body = rest_words(error)
    assert body["details"]["hint"] == 'create it: POST /api/v1/projects {"name": "vision"}'
    assert body["details"]["step"] == {"action": "create_project", "project": "vision"}
    again = error_from_dict(body)  # the HTTP client: the SDK's words again, from the facts
    assert isinstance(again, ProjectNotFound) and again.hint == error.hint


def test_through_the_registry(reg: Service, tmp_path: Path) -> None:
    reg.register_version("m", files={"w.pt": b"w"})
    reg.set_alias("m:1", "production")
    with pytest.raises(VersionInUse) as held:
        reg.delete_version("m:1")
    assert held.value.details["step"]["action"] == "move_or_delete_alias"
    assert "reg.delete_alias('m', 'production')" in (held.value.hint or "")
    assert "modelreg alias rm m production" in (classify(held.value)[2] or "")
    reg.update_model("m", promotion_gate="metrics.map50 >= 0.9")
    reg.register_version("m", files={"w.pt": b"w2"}, metrics={"map50": 0.1})
    with pytest.raises(GateFailed) as gate:
        reg.promote("m:2", "production")
    assert "force=True" in (gate.value.hint or "") and "--force" in (classify(gate.value)[2] or "")


def test_each_face_end_to_end(remote_state: Any, remote_server: Any, tmp_path: Path) -> None:
    reply = httpx.get(f"{remote_server.url}/api/v1/projects/nope/models/m/versions/1")
    details = reply.json()["error"]["details"] if "error" in reply.json() else reply.json()["details"]
    assert reply.status_code == 404 and details["step"]["action"] == "list_projects"
    assert details["hint"] == "list them: GET /api/v1/projects"

    import modelreg

    with modelreg.connect(remote_server.url, settings=Settings(home=tmp_path / "home")) as remote, \
            pytest.raises(ModelNotFound) as caught:
        remote.get_version("m:1")
    assert caught.value.hint == "list them: reg.search_models(project='default')"

    cli = subprocess.run([sys.executable, "-m", "modelreg", "info", "nope/m:1"], capture_output=True, text=True,
                         env={"MODELREG_URL": remote_server.url, "MODELREG_HOME": str(tmp_path / "cli"),
                              "PATH": "/usr/bin:/bin"}, timeout=60)
    assert cli.returncode == 3 and "hint: list them: modelreg projects list" in cli.stderr
