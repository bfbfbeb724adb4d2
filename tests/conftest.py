"""Shared fixtures. Each block is owned by one part of the suite."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import _torchvision_nms
import modelreg
from modelreg.config import Settings
from modelreg.metadata.base import MetadataStore, open_metadata_store
from modelreg.service import Service

# ---- torchvision beside the CPU torch of these machines: before any test imports it (see _torchvision_nms)
_torchvision_nms.install()

# ---- registry fixtures


@pytest.fixture
def reg(metadata_url: str, tmp_path: Path) -> Iterator[Service]:
    """A registry on each metadata backend (memory, SQLite, PostgreSQL) with local blobs in tmp_path."""
    home = tmp_path / "home"
    settings = Settings(home=home, actor="tester")
    artifacts = "memory://" if metadata_url.startswith("memory") else str(home / "blobs")
    registry = modelreg.connect(metadata_url, artifacts=artifacts, settings=settings)
    try:
        yield registry
    finally:
        registry.close()


# ---- metadata store fixtures
# ``metadata_url`` runs a test on each metadata backend: memory, SQLite (in tmp_path) and PostgreSQL
# (127.0.0.1:5432, trust auth). PostgreSQL tests use one fresh database per session, emptied before each
# test; they are skipped with the reason when the server cannot be reached, unless CI is set (then they fail).

PG_HOST = "127.0.0.1:5432"


def _pg_admin_dsn() -> tuple[str | None, str]:
    """A DSN for the maintenance database, or None and why not."""
    import psycopg

    errors = []
    for user in ("postgres", "root"):
        dsn = f"postgresql://{user}@{PG_HOST}/test"
        try:
            with psycopg.connect(dsn, connect_timeout=3):
                return dsn, ""
        except psycopg.Error as exc:
            errors.append(f"{user}: {str(exc).strip().splitlines()[0]}")
    return None, "; ".join(errors)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """The URL of a fresh, uniquely named PostgreSQL database for this session (dropped at the end)."""
    import os
    import secrets

    import psycopg

    admin, why = _pg_admin_dsn()
    if admin is None:
        message = f"PostgreSQL at {PG_HOST} is not reachable ({why})"
        if os.environ.get("CI"):
            pytest.fail(message + "; CI requires it")
        pytest.skip(message)
    name = f"modelreg_t_{secrets.token_hex(6)}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _truncate_postgres(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'")]
        if tables:
            conn.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE")


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def metadata_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A metadata store URL per backend, each test on an empty store."""
    if request.param == "memory":
        return "memory://"
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'meta' / 'registry.db'}"
    url: str = request.getfixturevalue("postgres_url")
    _truncate_postgres(url)
    return url


@pytest.fixture
def metadata_store(metadata_url: str) -> Iterator[MetadataStore]:
    """The store for ``metadata_url``, closed after the test."""
    store = open_metadata_store(metadata_url)
    try:
        yield store
    finally:
        store.close()


# ---- remote registry fixtures
# ``remote_server``: one real uvicorn server per session, in a background thread on a free loopback port,
# serving ``create_app``. ``remote_server.use(state)`` points it at other stores (``open_state``), so each
# test gets a fresh registry without a new server. ``remote_state`` does that for one test: SQLite and
# local blobs in tmp_path/server, actor "tester", no tokens (open on loopback).


@dataclass
class RemoteServer:
    url: str
    app: Any  # the FastAPI app
    server: Any  # the uvicorn.Server (its server_state.connections are the open connections)

    def use(self, state: Any) -> Any:
        """Serve ``state`` (a ``ServerState``) from now on; return the one served before."""
        previous = self.app.state.server
        self.app.state.server = state
        return previous


@pytest.fixture(scope="session")
def remote_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RemoteServer]:
    import socket
    import threading
    import time

    import uvicorn

    from modelreg.server import create_app
    from modelreg.server.runner import http_protocol

    app = create_app(Settings(home=tmp_path_factory.mktemp("remote-home"), actor="tester"))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    # asyncio's loop and a socket created with proto 0, passed in: how uvicorn's multi-worker supervisor
    # runs, the case that loses TCP_NODELAY without modelreg's protocol class (uvicorn issue 3149)
    server = uvicorn.Server(uvicorn.Config(app, http=http_protocol(), loop="asyncio", ws="none", lifespan="off",
                                           log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="modelreg-test-server",
                              daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    try:
        yield RemoteServer(url=f"http://127.0.0.1:{port}", app=app, server=server)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        app.state.server.close()
        sock.close()


@pytest.fixture
def remote_state(remote_server: RemoteServer, tmp_path: Path) -> Iterator[Any]:
    """Fresh stores (SQLite + local blobs in tmp_path/server) served by ``remote_server`` for one test."""
    from modelreg.server.state import open_state

    state = open_state(Settings(home=tmp_path / "server", actor="tester"))
    previous = remote_server.use(state)
    try:
        yield state
    finally:
        remote_server.use(previous)
        state.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend_state(request: pytest.FixtureRequest, remote_server: RemoteServer, tmp_path: Path) -> Iterator[Any]:
    """Fresh stores served by ``remote_server`` for one test, on SQLite and on PostgreSQL (local blobs in
    tmp_path/server, actor "tester", no tokens): for attacks whose outcome may depend on the backend."""
    from modelreg.server.state import open_state

    settings = Settings(home=tmp_path / "server", actor="tester")
    if request.param == "postgres":
        url: str = request.getfixturevalue("postgres_url")
        _truncate_postgres(url)
        settings = settings.with_overrides(database_url=url)
    state = open_state(settings)
    previous = remote_server.use(state)
    try:
        yield state
    finally:
        remote_server.use(previous)
        state.close()


@pytest.fixture
def backend_api(remote_server: RemoteServer, backend_state: Any) -> Iterator[Any]:
    """An HTTP client for the API of ``backend_state`` (SQLite or PostgreSQL)."""
    import httpx

    with httpx.Client(base_url=remote_server.url + "/api/v1", timeout=30) as client:
        yield client


# ---- a registry of each kind, for rules every face must keep


@pytest.fixture
def http_registry(remote_server: RemoteServer, remote_state: Any, tmp_path: Path) -> Iterator[Any]:
    """The SDK's HTTP client (``HttpRegistry``) of the session's server, serving fresh stores (actor "tester")."""
    from modelreg.client.http import HttpRegistry

    registry = modelreg.connect(remote_server.url, settings=Settings(home=tmp_path / "http-client", actor="tester"))
    assert isinstance(registry, HttpRegistry)
    try:
        yield registry
    finally:
        registry.close()


@pytest.fixture(params=["memory", "sqlite", "remote"])
def every_registry(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """The service on the memory and SQLite stores, and the HTTP client of a real server (the session's)."""
    if request.param == "remote":
        yield request.getfixturevalue("http_registry")
        return
    url = "memory://" if request.param == "memory" else None
    registry = modelreg.connect(url, home=tmp_path / "registry", environ={})
    try:
        yield registry
    finally:
        registry.close()
