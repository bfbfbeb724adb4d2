"""schemathesis against our own OpenAPI spec, on a real `modelreg serve`: no 500s, responses match the schema."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from tests._processes import free_port

import modelreg
from modelreg.config import Settings
from modelreg.service import Service

pytestmark = pytest.mark.slow


CHECKS = "not_a_server_error,response_schema_conformance,content_type_conformance"
# The alias watch is a long poll that answers only when the alias moves or after its timeout (30 s by default),
# longer than a fuzzer waits for a reply; tests/test_live.py drives it, bad parameters included.
LONG_POLLS = ("--exclude-path-regex", "/watch$")


@contextmanager
def serving(env: dict[str, str]) -> Iterator[str]:
    """``modelreg serve`` on a free loopback port with ``env``; yields its base URL."""
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "modelreg", "serve", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/v1/health", timeout=2):
                    break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, "the server did not start"
                time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)


def run_schemathesis(base: str, cwd: Path, env: dict[str, str], *extra: str) -> str:
    st = shutil.which("st") or str(Path(sys.executable).with_name("st"))
    assert Path(st).exists(), "schemathesis is part of the test extra: pip install -e '.[test]'"
    result = subprocess.run([st, "run", f"{base}/api/v1/openapi.json", "--checks", CHECKS, "--seed", "1", *LONG_POLLS,
                             *extra],
                            capture_output=True, text=True, timeout=600, env=env, cwd=cwd)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert " passed" in result.stdout
    return result.stdout


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELREG_")}
    env["MODELREG_HOME"] = str(home)
    return env


def test_schemathesis_finds_no_server_errors_and_no_schema_violations(tmp_path: Path) -> None:
    env = _env(tmp_path / "home")
    with serving(env) as base:
        # Tokens are left out: one created by the fuzzer would switch authentication on for the rest.
        run_schemathesis(base, tmp_path, env, "--max-examples", "10", "--exclude-path", "/api/v1/tokens")


def test_schemathesis_as_a_viewer_finds_no_server_error_and_no_write_that_succeeds(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with modelreg.connect(settings=Settings(home=home, actor="seed")) as reg:
        reg.register_version("det", files={"w.pt": b"weights 1"}, metrics={"map50": 0.5})
        reg.register_version("det", files={"w.pt": b"weights 2"}, metrics={"map50": 0.6})
        reg.set_alias("det:2", "staging")
        reg.create_token("root", "admin")
        _, viewer = reg.create_token("fuzz", "viewer")
        before = _everything(reg)
    env = _env(home)
    with serving(env) as base:
        run_schemathesis(base, tmp_path, env, "--max-examples", "8", "-H", f"Authorization: Bearer {viewer}")
    with modelreg.connect(settings=Settings(home=home, actor="seed")) as reg:
        assert _everything(reg) == before, "a viewer's request changed the registry"


def _everything(reg: Service) -> tuple[object, ...]:
    """All a write could change: events (every change records one), versions, aliases, tokens, blobs."""
    events = [e.id for e in reg.events(limit=1000).items]
    versions = [v.model_dump(mode="json") for v in reg.iter_versions()]
    tokens = [(t.name, t.revoked_at) for t in reg.list_tokens()]
    return events, versions, tokens, sorted(reg.ctx.blobs.iter_digests()), [p.name for p in reg.list_projects()]
