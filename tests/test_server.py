"""The REST API: error envelopes and statuses, auth, blobs, the docs, and a real `modelreg serve`.

Most tests talk HTTP to the session's in-process uvicorn server (conftest ``remote_server``) serving
fresh stores (``remote_state``). The last ones start ``modelreg serve`` as a subprocess on a free port.
No test asserts a timing: bench/bench_server.py measures latency and start-up.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from tests._processes import MODELREG, free_port

from modelreg import connect
from modelreg.config import Settings
from modelreg.service import Context, Service

API = "/api/v1"


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.fixture
def api(remote_server: Any, remote_state: Any) -> Iterator[httpx.Client]:
    """An HTTP client for the API of a fresh registry (no tokens: open, acting as "tester")."""
    with httpx.Client(base_url=remote_server.url + API, timeout=30) as client:
        yield client


def as_token(api: httpx.Client, secret: str) -> httpx.Client:
    return httpx.Client(base_url=api.base_url, headers={"Authorization": f"Bearer {secret}"}, timeout=30)


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The reply is the error envelope with this status and code, a message and details; return the error."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}, body
    error: dict[str, Any] = body["error"]
    assert error["code"] == code, error
    assert error["message"] and isinstance(error["details"], dict)
    return error


def upload(api: httpx.Client, data: bytes) -> str:
    digest = digest_of(data)
    assert api.put(f"/blobs/{digest}", content=data).status_code in (200, 201)
    return digest


def register(api: httpx.Client, model: str, data: bytes, **fields: Any) -> dict[str, Any]:
    digest = upload(api, data)
    body = {"model": model, "artifacts": [{"path": "w.pt", "digest": digest, "size": len(data)}], **fields}
    response = api.post("/versions", json=body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def blob_files(state: Any) -> list[Path]:
    """Every file under the server's blob folder (blobs and temporary files)."""
    root = Path(state.blobs.root)
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


# ---- health, docs


def test_health_ready_openapi_and_docs(api: httpx.Client, remote_server: Any) -> None:
    assert api.get("/health").json()["status"] == "ok"
    assert api.get("/ready").json()["status"] == "ready"
    spec = api.get("/openapi.json").json()
    paths = spec["paths"]
    for path in ("/api/v1/blobs/{digest}", "/api/v1/versions", "/api/v1/versions/compare", "/api/v1/events",
                 "/api/v1/projects/{project}/models/{model}/versions/{version}", "/api/v1/maintenance/gc",
                 "/api/v1/tokens"):
        assert path in paths, path
    docs = httpx.get(remote_server.url + "/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


# ---- the error envelope, one status per error class


def test_not_found_envelopes(api: httpx.Client) -> None:
    error = assert_error(api.get("/projects/-/models/nope"), 404, "model_not_found")
    assert error["details"]["model"] == "nope" and error["details"]["hint"]
    register(api, "m", b"weights")
    assert_error(api.get("/projects/-/models/m/versions/9"), 404, "version_not_found")
    assert_error(api.get("/projects/-/models/m/versions/@staging"), 404, "alias_not_found")
    assert_error(api.get("/projects/elsewhere/models/m"), 404, "project_not_found")
    assert_error(api.get("/no/such/endpoint"), 404, "not_found")


def test_deleting_production_is_a_conflict(api: httpx.Client) -> None:
    register(api, "m", b"weights")
    error = assert_error(api.delete("/projects/-/models/m/versions/1"), 409, "version_in_use")
    assert error["details"]["aliases"] == ["production"]
    assert error["details"]["step"] == {"action": "move_or_delete_alias", "model": "m", "alias": "production"}
    assert "PUT /api/v1/projects/-/models/m/aliases/production" in error["details"]["hint"]  # REST words
    assert api.get("/projects/-/models/m/versions/1").status_code == 200


@pytest.mark.parametrize("name", ["../etc", "a/b", "fіre", "with space", "x" * 300, "-lead"])
def test_bad_names_are_422(api: httpx.Client, remote_state: Any, name: str) -> None:
    assert_error(api.post("/projects", json={"name": name}), 422, "invalid_name")
    error = api.post("/models", json={"name": f"{name}:1" if name == "a/b" else name}).json()["error"]
    assert error["code"] in ("invalid_name", "invalid_reference")
    assert api.get("/projects").json()["total"] == 0 and blob_files(remote_state) == []


@pytest.mark.parametrize("path", ["../../etc/passwd", "/etc/passwd", "a/../../b", "C:/x", "a\\b"])
def test_artifact_path_tricks_are_422(api: httpx.Client, path: str) -> None:
    digest = upload(api, b"evil")
    body = {"model": "m", "artifacts": [{"path": path, "digest": digest, "size": 4}]}
    assert_error(api.post("/versions", json=body), 422, "invalid_artifact_path")
    assert_error(api.get("/projects/-/models/m"), 404, "model_not_found")


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", '"high"', "true"])
def test_bad_metrics_are_422(api: httpx.Client, value: str) -> None:
    raw = '{"model": "m", "metrics": {"map50": ' + value + "}}"
    error = assert_error(api.post("/versions", content=raw, headers={"Content-Type": "application/json"}),
                         422, "invalid_metadata")
    assert "map50" in error["message"]
    assert_error(api.get("/projects/-/models/m"), 404, "model_not_found")


@pytest.mark.parametrize("q", ["name = 'x'; DROP TABLE versions; --", "1 = 1", "(pinned", "metrics.map50 >="])
def test_filters_with_sql_are_422(api: httpx.Client, q: str) -> None:
    register(api, "m", b"weights")
    assert_error(api.get("/versions", params={"q": q}), 422, "invalid_filter")
    assert api.get("/versions").json()["total"] == 1


def test_unknown_fields_and_malformed_json_are_422(api: httpx.Client) -> None:
    error = assert_error(api.post("/projects", json={"name": "p", "colour": "red"}), 422, "invalid_input")
    assert "colour" in error["message"]
    error = assert_error(api.post("/projects", content=b'{"name": "p",', headers={"Content-Type": "application/json"}),
                         422, "invalid_input")
    assert "JSON" in error["message"]
    assert_error(api.post("/projects", json=["not", "an", "object"]), 422, "invalid_input")
    assert_error(api.get("/events", params={"limit": "many"}), 422, "invalid_input")
    assert api.get("/projects").json()["total"] == 0


def test_bodies_over_the_limit_are_413(api: httpx.Client, remote_state: Any) -> None:
    remote_state.max_body_bytes = 1024
    big = {"name": "p", "description": "x" * 2000}
    error = assert_error(api.post("/projects", json=big), 413, "invalid_input")
    assert "1024" in error["message"]

    def chunked() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'{"name": "p", "description": "'
        for _ in range(4):
            yield b"x" * 600
        yield b'"}'

    assert_error(api.post("/projects", content=chunked(), headers={"Content-Type": "application/json"}),
                 413, "invalid_input")
    assert api.get("/projects").json()["total"] == 0
    data = os.urandom(64 * 1024)  # blobs are streamed: the JSON limit does not apply
    assert api.put(f"/blobs/{digest_of(data)}", content=data).status_code == 201


class _Exploding:
    """A metadata store whose reads fail with an unexpected error (a bug, as the server sees it)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def read(self) -> Any:
        raise RuntimeError("boom at /srv/secret/path")


def test_unknown_errors_are_500_with_a_request_id_and_no_traceback(api: httpx.Client, remote_state: Any,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    remote_state.meta = _Exploding(remote_state.meta)
    with caplog.at_level(logging.ERROR, logger="modelreg.server"):
        response = api.get("/projects")
    error = assert_error(response, 500, "internal")
    assert error["message"] == "internal error"
    request_id = error["details"]["request_id"]
    assert response.headers["X-Request-ID"] == request_id
    assert "boom" not in response.text and "Traceback" not in response.text and "/srv" not in response.text
    logged = [r for r in caplog.records if request_id in r.getMessage()]
    assert logged and logged[0].exc_info is not None


# ---- auth


def test_without_tokens_the_server_is_open_and_acts_as_the_local_user(api: httpx.Client) -> None:
    assert api.get("/auth").json() == {"tokens_required": False}
    assert api.get("/auth/whoami").json() == {"actor": "tester", "role": "admin", "project": None}
    register(api, "m", b"weights")
    assert api.get("/events", params={"action": "version.registered"}).json()["items"][0]["actor"] == "tester"


def test_tokens_are_required_once_one_exists(api: httpx.Client, remote_state: Any) -> None:
    admin = remote_state.service()
    _, viewer = admin.create_token("viewer-bot", "viewer")
    _, editor = admin.create_token("ci", "editor")
    _, revoked = admin.create_token("old", "admin")
    admin.revoke_token("old")
    past = Service(Context(meta=remote_state.meta, blobs=remote_state.blobs, settings=remote_state.settings,
                           clock=lambda: admin.ctx.now() - timedelta(days=2)))
    _, expired = past.create_token("short", "admin", expires_in_s=3600)
    assert api.get("/auth").json() == {"tokens_required": True}

    assert_error(api.get("/projects"), 401, "unauthenticated")
    for secret, reason in ((revoked, "revoked"), (expired, "expired"), ("mr_" + "x" * 43, "not known"),
                           ("garbage", "not a modelreg token")):
        with as_token(api, secret) as client:
            error = assert_error(client.get("/projects"), 401, "unauthenticated")
            assert reason in error["message"]
    with httpx.Client(base_url=api.base_url, headers={"Authorization": "Basic dXNlcjpwdw=="}) as client:
        assert_error(client.get("/projects"), 401, "unauthenticated")

    data = b"weights"
    digest = digest_of(data)
    artifacts = [{"path": "w.pt", "digest": digest, "size": len(data)}]
    with as_token(api, viewer) as client:
        assert client.get("/projects").status_code == 200
        assert_error(client.put(f"/blobs/{digest}", content=data), 403, "permission_denied")
        assert_error(client.post("/versions", json={"model": "m", "artifacts": artifacts}), 403,
                     "permission_denied")
        assert_error(client.get("/tokens"), 403, "permission_denied")
    with as_token(api, editor) as client:
        assert client.put(f"/blobs/{digest}", content=data).status_code == 201
        assert client.post("/versions", json={"model": "m", "artifacts": artifacts}).status_code == 201
        assert client.post("/versions", json={"model": "m", "artifacts": artifacts}).status_code == 201
        error = assert_error(client.put("/projects/-/models/m/aliases/production", json={"version": 2}), 403,
                             "permission_denied")
        assert "maintainer" in error["message"]
        assert client.put("/projects/-/models/m/aliases/staging", json={"version": 2}).status_code == 200
        assert client.get("/auth/whoami").json() == {"actor": "ci", "role": "editor", "project": None}
        events = client.get("/events", params={"model": "m"}).json()["items"]
    assert {e["actor"] for e in events if e["action"] in ("version.registered", "alias.set")} == {"ci"}


def test_a_server_started_for_other_hosts_never_falls_back_to_open(api: httpx.Client, remote_state: Any) -> None:
    remote_state.require_auth = True
    assert api.get("/auth").json() == {"tokens_required": True}
    assert_error(api.get("/projects"), 401, "unauthenticated")
    assert api.get("/health").status_code == 200


def test_project_tokens_stay_in_their_project(api: httpx.Client, remote_state: Any) -> None:
    admin = remote_state.service()
    admin.create_project("a")
    admin.create_project("b")
    _, secret = admin.create_token("a-bot", "editor", project="a")
    with as_token(api, secret) as client:
        assert [p["name"] for p in client.get("/projects").json()["items"]] == ["a"]
        assert client.post("/models", json={"name": "a/m"}).status_code == 201
        assert_error(client.post("/models", json={"name": "b/m"}), 403, "permission_denied")


# ---- blobs


def test_blob_upload_head_and_download(api: httpx.Client) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    digest = digest_of(data)
    head = api.head(f"/blobs/{digest}")
    assert head.status_code == 404
    created = api.put(f"/blobs/{digest}", content=data)
    assert created.status_code == 201 and created.json() == {"digest": digest, "size": len(data), "created": True}
    again = api.put(f"/blobs/{digest}", content=data)
    assert again.status_code == 200 and again.json()["created"] is False
    head = api.head(f"/blobs/{digest}")
    assert head.status_code == 200 and head.headers["Content-Length"] == str(len(data))
    full = api.get(f"/blobs/{digest}")
    assert full.status_code == 200 and full.content == data
    assert full.headers["ETag"] == f'"{digest}"' and full.headers["Accept-Ranges"] == "bytes"
    assert api.get(f"/blobs/{digest}", headers={"If-None-Match": f'"{digest}"'}).status_code == 304
    part = api.get(f"/blobs/{digest}", headers={"Range": "bytes=10-19"})
    assert part.status_code == 206 and part.content == data[10:20]
    assert part.headers["Content-Range"] == f"bytes 10-19/{len(data)}"
    tail = api.get(f"/blobs/{digest}", headers={"Range": "bytes=-5"})
    assert tail.status_code == 206 and tail.content == data[-5:]
    rest = api.get(f"/blobs/{digest}", headers={"Range": f"bytes={len(data) - 3}-"})
    assert rest.content == data[-3:]
    stale = api.get(f"/blobs/{digest}", headers={"Range": "bytes=0-1", "If-Range": '"sha256:other"'})
    assert stale.status_code == 200 and len(stale.content) == len(data)
    outside = api.get(f"/blobs/{digest}", headers={"Range": f"bytes={len(data)}-"})
    assert_error(outside, 416, "invalid_input")
    assert outside.headers["Content-Range"] == f"bytes */{len(data)}"
    assert_error(api.get(f"/blobs/{digest_of(b'absent')}"), 404, "blob_not_found")


def test_a_blob_that_does_not_match_its_digest_is_refused_and_not_kept(api: httpx.Client, remote_state: Any) -> None:
    data = os.urandom(2 * 1024 * 1024)
    wrong = digest_of(b"something else")
    error = assert_error(api.put(f"/blobs/{wrong}", content=data), 422, "integrity_error")
    assert error["details"]["expected"] == wrong and error["details"]["actual"] == digest_of(data)
    assert blob_files(remote_state) == []
    assert api.head(f"/blobs/{wrong}").status_code == 404


@pytest.mark.parametrize("digest", ["sha256:" + "g" * 64, "sha256:" + "A" * 64, "md5:" + "0" * 32, "sha256:abc",
                                    "sha256:" + "0" * 63 + "%0A"])
def test_a_digest_that_is_not_hex_is_422(api: httpx.Client, remote_state: Any, digest: str) -> None:
    assert_error(api.put(f"/blobs/{digest}", content=b"data"), 422, "invalid_input")
    assert_error(api.get(f"/blobs/{digest}"), 422, "invalid_input")
    assert blob_files(remote_state) == []


def test_a_truncated_upload_keeps_nothing(api: httpx.Client, remote_server: Any, remote_state: Any) -> None:
    data = os.urandom(1000)
    host, port = remote_server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as conn:
        conn.sendall(f"PUT {API}/blobs/{digest_of(data)} HTTP/1.1\r\nHost: {host}\r\n"
                     f"Content-Length: {len(data)}\r\nContent-Type: application/octet-stream\r\n\r\n".encode())
        conn.sendall(data[:500])  # half of it, then the connection drops
    deadline = time.monotonic() + 10
    while (leftovers := blob_files(remote_state)) and time.monotonic() < deadline:
        time.sleep(0.05)  # the server notices the disconnect on its own time
    assert leftovers == []
    assert api.head(f"/blobs/{digest_of(data)}").status_code == 404


def test_registration_lists_the_blobs_to_upload_and_changes_nothing_until_then(api: httpx.Client) -> None:
    data = b"new weights"
    body = {"model": "m", "metrics": {"map50": 0.9},
            "artifacts": [{"path": "weights/best.pt", "digest": digest_of(data), "size": len(data)}]}
    bad = {**body, "epochs": [{"epoch": -1}]}  # bad input is refused before the blobs are asked for
    assert_error(api.post("/versions", json=bad), 422, "invalid_metadata")
    error = assert_error(api.post("/versions", json=body), 404, "blob_not_found")
    assert error["details"]["missing"] == [digest_of(data)]
    assert_error(api.get("/projects/-/models/m"), 404, "model_not_found")
    upload(api, data)
    version = api.post("/versions", json=body).json()
    assert version["number"] == 1 and version["artifacts"][0]["media_type"] == "application/x-pytorch"
    assert version["aliases"] == ["production"]


def test_training_run_endpoints(api: httpx.Client) -> None:
    register(api, "trm", b"v1", metrics={"accuracy": 0.8}, epochs=[{"epoch": 1, "loss": 1.0}])
    register(api, "trm", b"v2", metrics={"accuracy": 0.9}, parent="trm:1")
    versions = api.get("/projects/-/models/trm/versions").json()
    assert [v["number"] for v in versions["items"]] == [2, 1] and versions["total"] == 2
    assert api.post("/projects/-/models/trm/versions/1/mark-best").json()["is_best"] is True
    assert api.get("/projects/-/models/trm/versions/best").json()["number"] == 1
    assert api.get("/projects/-/models/trm/versions/1/history").json()[0]["metrics"] == {"loss": 1.0}
    assert api.get("/projects/-/models/trm/versions/v2/lineage").json()["ancestors"][0]["number"] == 1
    report = api.get("/projects/-/models/trm/versions/2/report")
    assert report.headers["content-type"].startswith("application/json") and report.json()["version"]["number"] == 2
    markdown = api.get("/projects/-/models/trm/versions/2/report", params={"format": "markdown"})
    assert markdown.text.startswith("# default/trm:v2")
    comparison = api.post("/versions/compare", json={"version_ids": ["trm:1", "trm:2"]}).json()
    assert comparison["metrics"][0]["deltas"][1] == pytest.approx(0.1)
    assert api.delete("/projects/-/models/trm/versions/2").status_code == 204


def test_pages_use_keyset_cursors(api: httpx.Client) -> None:
    for i in range(5):
        register(api, "m", bytes([i]))
    first = api.get("/projects/-/models/m/versions", params={"limit": 2}).json()
    second = api.get("/projects/-/models/m/versions", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert [v["number"] for v in first["items"] + second["items"]] == [5, 4, 3, 2]
    assert first["total"] == second["total"] == 5
    assert_error(api.get("/versions", params={"cursor": "not-a-cursor"}), 422, "invalid_filter")


@pytest.mark.parametrize("path", ["/versions", "/models", "/events"])
def test_listings_across_every_project_answer_with_an_empty_cursor(api: httpx.Client, path: str) -> None:
    """The listings that no model narrows come from the store's own pages; each serializes (an empty cursor is the
    first page)."""
    register(api, "m", b"one")
    body = api.get(path, params={"cursor": "", "limit": 50})
    assert body.status_code == 200, body.text
    assert body.json()["total"] >= 1 and body.json()["items"]
    searched = api.post("/versions/search", json={"cursor": "", "filter": None, "limit": 50, "model": None})
    assert searched.status_code == 200 and searched.json()["items"][0]["model"] == "m", searched.text


def test_store_pages_serialize_in_a_fresh_process(tmp_path: Path) -> None:
    """A page that no model narrows comes from the store as it is: in a process that never validated a page before
    (a new ``modelreg serve``), its serializer must be built, not pydantic's deferred placeholder."""
    with connect(settings=Settings(home=tmp_path, actor="t")) as reg:
        reg.register_version("m", files={"w.pt": b"one"})
    script = (
        "import pathlib, modelreg\n"
        "from modelreg.config import Settings\n"
        "from modelreg.server.wire import reply\n"
        f"with modelreg.connect(settings=Settings(home=pathlib.Path({str(tmp_path)!r}), actor='t')) as reg:\n"
        "    for page in (reg.search_versions(None), reg.search_models(None), reg.events()):\n"
        "        print(len(reply(page).body))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert all(int(n) > 20 for n in done.stdout.split()) and len(done.stdout.split()) == 3


# ---- keep-alive without Nagle


def _accepted_nodelay(server: Any) -> list[int]:
    """TCP_NODELAY of each connection the uvicorn server holds."""
    return [c.transport.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
            for c in list(server.server_state.connections)]


def test_every_accepted_connection_has_nagle_off(remote_server: Any, remote_state: Any) -> None:
    # The session server runs on asyncio's loop with a socket created with proto 0 and passed in, the way
    # uvicorn's multi-worker supervisor binds: the case where asyncio leaves Nagle on (uvicorn issue 3149).
    with httpx.Client(base_url=remote_server.url) as client:
        for _ in range(3):
            assert client.get(API + "/health").status_code == 200
        flags = _accepted_nodelay(remote_server.server)
    assert flags and all(flags), flags


@pytest.mark.skipif(sys.platform != "linux", reason="the lost TCP_NODELAY shows on Linux only")
def test_without_our_protocol_uvicorn_leaves_nagle_on(remote_server: Any) -> None:
    import uvicorn

    stock = uvicorn.Server(uvicorn.Config(remote_server.app, http="httptools", loop="asyncio", ws="none",
                                          lifespan="off", log_level="warning", access_log=False))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    thread = threading.Thread(target=stock.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not stock.started:
            time.sleep(0.01)
        with httpx.Client(base_url=f"http://127.0.0.1:{sock.getsockname()[1]}") as client:
            client.get(API + "/health")
            flags = _accepted_nodelay(stock)
    finally:
        stock.should_exit = True
        thread.join(10)
        sock.close()
    assert flags == [0]  # the bug this server works around


def test_set_nodelay_turns_nagle_off_on_a_socket_that_inherited_proto_0() -> None:
    from modelreg.server.runner import set_nodelay

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        with socket.create_connection(listener.getsockname()) as _client:
            accepted, _ = listener.accept()
            with accepted:
                set_nodelay(SimpleNamespace(get_extra_info=lambda name: accepted))  # type: ignore[arg-type]
                assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1


# ---- `modelreg serve` for real, and the CLI through MODELREG_URL




def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*MODELREG, *args], env=env, capture_output=True, text=True, timeout=60)


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELREG_", "MODEL_ENVIRONMENT"))}
    env.update({"MODELREG_HOME": str(tmp_path / "home"), "MODELREG_ACTOR": "alice", "COLUMNS": "200"})
    return env


def test_serve_refuses_other_hosts_without_tokens(cli_env: dict[str, str]) -> None:
    result = _cli(cli_env, "serve", "--host", "0.0.0.0", "--port", str(free_port()))
    assert result.returncode == 2, result.stderr
    assert "modelreg tokens create" in result.stderr and "--insecure" in result.stderr


def test_modelreg_serve_and_the_cli_through_modelreg_url(cli_env: dict[str, str], tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen([*MODELREG, "serve", "--port", str(port), "--workers", "2", "--no-access-log"],
                              env=cli_env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + API + "/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, "modelreg serve did not become ready"
            time.sleep(0.05)
        with httpx.Client(base_url=url) as client:  # one reused connection, through either worker
            assert all(client.get(API + "/health").status_code == 200 for _ in range(50))

        remote = {**cli_env, "MODELREG_URL": url, "MODELREG_HOME": str(tmp_path / "client")}
        weights = tmp_path / "best.pt"
        weights.write_bytes(b"weights" * 1000)
        result = _cli(remote, "register", "fire-detector", str(weights), "-m", "map50=0.91", "--json")
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["created_by"] == "alice"  # the server's local user: no tokens yet
        listed = json.loads(_cli(remote, "versions", "fire-detector", "--json").stdout)
        assert [v["number"] for v in listed["items"]] == [1] and listed["items"][0]["aliases"] == ["production"]

        created = _cli(remote, "tokens", "create", "ci", "--role", "editor")
        assert created.returncode == 0, created.stderr
        secret = created.stdout.strip()
        assert secret.startswith("mr_") and "shown this once" in created.stderr
        refused = _cli(remote, "versions", "fire-detector")
        assert refused.returncode == 6 and "token" in refused.stderr
        with_token = {**remote, "MODELREG_TOKEN": secret}
        assert _cli(with_token, "register", "fire-detector", str(weights), "-m", "map50=0.95").returncode == 0
        moved = _cli(with_token, "activate", "fire-detector:2")
        assert moved.returncode == 6 and "maintainer" in moved.stderr
        pulled = _cli(with_token, "pull", "fire-detector:2", "--to", str(tmp_path / "out"))
        assert pulled.returncode == 0, pulled.stderr
        assert (tmp_path / "out" / "best.pt").read_bytes() == weights.read_bytes()
        tokens = json.loads(_cli(cli_env, "tokens", "list", "--json").stdout)  # the embedded store, directly
        assert [(t["name"], t["role"]) for t in tokens] == [("ci", "editor")]
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
    output = (tmp_path / "serve.log").read_text()
    assert "modelreg serving" in output and "Traceback" not in output, output
