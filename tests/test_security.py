"""Attacks on a real server, each from the adversarial review, on SQLite and PostgreSQL: each must now fail.

Roles and scopes (a scoped admin making itself global, a viewer writing, a scoped maintainer running gc,
blobs read across projects), poison text (lone surrogates, NUL), stalled uploads, cross-site requests and
DNS rebinding, token mode after the last token goes, and internals in replies. Every attack checks that
nothing changed. The other findings have their own files: tests/test_security_input.py (parsers and
limits of the wire), test_security_blobs.py (corrupt blobs), test_security_limits.py (sizes of a
request's work) and test_security_export.py (zip bombs and children's memory).
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from modelreg.service import Service
from test_server import assert_error, digest_of, register, upload

_OPEN: list[httpx.Client] = []


def as_token(api: httpx.Client, secret: str | None, **headers: str) -> httpx.Client:
    """A client of the same server sending ``secret`` as its bearer token (closed after the test)."""
    sent = {"Authorization": f"Bearer {secret}"} if secret else {}
    client = httpx.Client(base_url=api.base_url, headers={**sent, **headers}, timeout=30)
    _OPEN.append(client)
    return client


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _OPEN:
        _OPEN.pop().close()


def token(state: Any, name: str, role: str, project: str | None = None) -> str:
    """A token made by the local admin (the server's own CLI), as its secret."""
    _, secret = state.service().create_token(name, role, project=project)  # type: ignore[arg-type]
    return str(secret)


def snapshot(state: Any) -> tuple[Any, ...]:
    """Everything an attack could change, read as the local admin: versions, aliases, events, tokens, projects."""
    reg: Service = state.service()
    versions = [(v.ref, v.status, v.archived, v.pinned, tuple(v.aliases), v.metrics) for v in reg.iter_versions()]
    events = reg.events(limit=1000).items
    return (versions, [e.id for e in events], [(t.name, t.revoked_at) for t in reg.list_tokens()],
            [(p.name, tuple(p.labels)) for p in reg.list_projects()])


@pytest.fixture
def two_projects(backend_api: httpx.Client) -> dict[str, str]:
    """Projects alpha and beta, each with a model ``det`` of two versions (v1 production) and a blob each."""
    digests = {}
    for project in ("alpha", "beta"):
        register(backend_api, f"{project}/det", project.encode() * 3)
        body = register(backend_api, f"{project}/det", project.encode() * 5)
        digests[project] = body["artifacts"][0]["digest"]
    return digests


# ---- 1. a project-scoped admin stays in its project


def test_a_scoped_admin_cannot_make_itself_global(backend_api: httpx.Client, backend_state: Any,
                                                  two_projects: dict[str, str]) -> None:
    root = token(backend_state, "root", "admin")
    scoped = as_token(backend_api, token(backend_state, "alpha-admin", "admin", "alpha"))
    created = scoped.post("/tokens", json={"name": "esc", "role": "admin"})
    assert created.status_code == 201, created.text
    assert created.json()["token"]["project"] == "alpha"  # a token of its own project, never a global one
    esc = as_token(backend_api, created.json()["secret"])
    assert_error(esc.get("/projects/beta/models/det/versions"), 403, "permission_denied")
    before = snapshot(backend_state)
    assert_error(scoped.post("/tokens", json={"name": "esc2", "role": "admin", "project": "beta"}), 403,
                 "permission_denied")
    assert [t["name"] for t in scoped.get("/tokens").json()] == ["alpha-admin", "esc"]
    assert_error(scoped.delete("/tokens/root"), 404, "not_found")
    assert_error(scoped.post("/tokens/purge"), 403, "permission_denied")
    assert snapshot(backend_state) == before
    assert as_token(backend_api, root).get("/tokens").status_code == 200  # the global admin still works


# ---- 2. a viewer only reads

VIEWER_WRITES: list[tuple[str, str, Any]] = [
    ("PUT", "/projects/alpha/models/det/aliases/staging", {"version": 2}),
    ("PUT", "/projects/alpha/models/det/aliases/production", {"version": 2}),
    ("DELETE", "/projects/alpha/models/det/aliases/production", None),
    ("POST", "/projects/alpha/models/det/promote", {"src": "v2", "dst": "candidate"}),
    ("POST", "/projects/alpha/models/det/promote", {"src": "v2", "dst": "production", "force": True}),
    ("POST", "/projects/alpha/models/det/aliases/production/rollback", {}),
    ("POST", "/projects/alpha/models/det/versions/2/activate", {}),
    ("POST", "/projects/alpha/models/det/versions/1/archive", None),
    ("POST", "/projects/alpha/models/det/versions/1/pin", None),
    ("POST", "/projects/alpha/models/det/versions/1/mark-best", None),
    ("PATCH", "/projects/alpha/models/det/versions/1", {"notes": "mine"}),
    ("DELETE", "/projects/alpha/models/det/versions/2", None),
    ("POST", "/projects", {"name": "gamma"}),
    ("POST", "/versions", {"model": "alpha/det"}),
    ("POST", "/runs", {"model": "alpha/det"}),
    ("POST", "/maintenance/gc", {"dry_run": False}),
    ("POST", "/tokens", {"name": "x", "role": "viewer"}),
]


@pytest.mark.parametrize(("method", "path", "body"), VIEWER_WRITES, ids=[f"{m} {p}" for m, p, _ in VIEWER_WRITES])
def test_a_viewer_cannot_write(backend_api: httpx.Client, backend_state: Any, two_projects: dict[str, str],
                               method: str, path: str, body: Any) -> None:
    backend_api.post("/projects/alpha/models/det/versions/1/archive")  # something to unarchive
    viewer = as_token(backend_api, token(backend_state, "dash", "viewer"))
    before = snapshot(backend_state)
    response = viewer.request(method, path, json=body)
    assert_error(response, 403, "permission_denied")
    assert "viewer" in response.json()["error"]["message"]
    assert snapshot(backend_state) == before


def test_a_viewer_cannot_unarchive_or_upload(backend_api: httpx.Client, backend_state: Any,
                                             two_projects: dict[str, str]) -> None:
    backend_api.post("/projects/alpha/models/det/versions/1/archive")
    viewer = as_token(backend_api, token(backend_state, "dash", "viewer"))
    before = snapshot(backend_state)
    assert_error(viewer.post("/projects/alpha/models/det/versions/1/unarchive"), 403, "permission_denied")
    data = b"new content"
    assert_error(viewer.put(f"/blobs/{digest_of(data)}", content=data), 403, "permission_denied")
    assert backend_state.blobs.size(digest_of(data)) is None
    assert snapshot(backend_state) == before


def test_every_mutation_of_the_service_declares_a_role_above_viewer() -> None:
    from modelreg.service.permissions import OPERATIONS

    for name in ("set_alias", "delete_alias", "rollback", "promote", "activate", "archive", "unarchive", "pin",
                 "unpin", "mark_best", "update_version", "register_version", "upload_blob", "gc", "fsck"):
        assert OPERATIONS[name].mutates or OPERATIONS[name].registry_wide, name


# ---- 3. text that cannot be stored never reaches a store

POISON = [
    ("/versions", {"model": "p", "params": {"a": "x\ud800y"}}, "params.a"),
    ("/versions", {"model": "p", "params": {"k\udfff": 1}}, "params"),
    ("/versions", {"model": "p", "changelog": ["ok", "bad \ud800"]}, "changelog[1]"),
    ("/versions", {"model": "p", "class_metrics": [{"class_name": "fi\ud800re", "ap": 0.5}]}, "class_metrics"),
    ("/versions", {"model": "p", "notes": "a\u0000b"}, "notes"),
    ("/versions", {"model": "p", "tags": {"k": "v\u0000"}}, "tags.k"),
    ("/versions", {"model": "p", "metrics": {"m\ud800": 1.0}}, "metrics"),
    ("/versions", {"model": "p", "dataset": {"name": "d", "classes": ["a\ud800"]}}, "dataset"),
    ("/projects", {"name": "q", "labels": ["fire", "smo\ud800ke"]}, "labels"),
    ("/projects", {"name": "q", "description": "x\u0000"}, "description"),
    ("/models", {"name": "q/m", "description": "x\ud800"}, "model.description"),
]


@pytest.mark.parametrize(("path", "body", "field"), POISON, ids=[f for _, _, f in POISON])
def test_text_that_cannot_be_stored_is_refused_and_nothing_is_kept(
        backend_api: httpx.Client, backend_state: Any, path: str, body: dict[str, Any], field: str) -> None:
    register(backend_api, "p", b"weights")
    before = snapshot(backend_state)
    raw = json.dumps(body).encode()  # keeps the lone surrogates as \ud800 escapes, as an attacker sends them
    response = backend_api.post(path, content=raw, headers={"Content-Type": "application/json"})
    error = assert_error(response, 422, "invalid_metadata")
    assert error["details"]["field"].startswith(field), error
    assert snapshot(backend_state) == before
    for read in ("/versions", "/events", "/projects", "/projects/-/models/p/versions"):
        assert backend_api.get(read).status_code == 200, read


def test_poison_in_a_filter_is_a_clear_error(backend_api: httpx.Client) -> None:
    register(backend_api, "p", b"weights")
    for q in ('params.a = "x\ud800"', 'notes = "a\u0000"'):
        response = backend_api.post("/versions/search", content=json.dumps({"query": q}).encode(),
                                    headers={"Content-Type": "application/json"})
        assert_error(response, 422, "invalid_filter")
    assert_error(backend_api.get("/versions", params={"q": 'notes = "a\u0000"'}), 422, "invalid_filter")


def test_a_failed_run_keeps_an_error_message_whatever_it_holds(reg: Service) -> None:
    name = b"caf\xe9.pt".decode("utf-8", "surrogateescape")  # how Python decodes a non-UTF-8 file name
    with pytest.raises(OSError), reg.start_run("m") as run:
        raise OSError("cannot open " + name + "\x00")
    version = reg.get_version(run.ref)
    assert version.status == "failed" and version.error is not None and "caf\ufffd.pt\ufffd" in version.error


# ---- 4. stalled uploads do not freeze the API


def _stalled_put(url: str, digest: str, length: int) -> socket.socket:
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port))
    head = (f"PUT /api/v1/blobs/{digest} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Length: {length}\r\n"
            "Content-Type: application/octet-stream\r\n\r\n")
    sock.sendall(head.encode() + b"0123456789")  # ten bytes, then silence
    return sock


@pytest.fixture
def stalled(remote_server: Any) -> Iterator[list[socket.socket]]:
    sockets: list[socket.socket] = []
    yield sockets
    for s in sockets:
        s.close()


def test_reads_keep_answering_while_100_uploads_are_stalled(remote_server: Any, backend_api: httpx.Client,
                                                            stalled: list[socket.socket]) -> None:
    register(backend_api, "p", b"weights")
    digest = "sha256:" + "ab" * 32
    for i in range(100):  # small declared bodies (read on the event loop) and large ones (the upload pool)
        stalled.append(_stalled_put(remote_server.url, digest, 1_000_000 if i % 2 else 10_000_000_000))
    time.sleep(0.5)
    quick = as_token(backend_api, None)
    for _ in range(3):
        for path in ("/projects", "/versions", "/projects/-/models/p/versions"):
            assert quick.get(path).status_code == 200, path
    other = b"an upload that is not stalled"
    assert quick.put(f"/blobs/{digest_of(other)}", content=other).status_code == 201


def test_a_stalled_body_gets_408_and_its_connection_closes(remote_server: Any, backend_api: httpx.Client,
                                                           backend_state: Any,
                                                           stalled: list[socket.socket]) -> None:
    backend_state.body_timeout_s = 1.0
    for length in (1_000_000, 10_000_000_000):
        sock = _stalled_put(remote_server.url, "sha256:" + "cd" * 32, length)
        stalled.append(sock)
        sock.settimeout(15)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
        assert reply.startswith(b"HTTP/1.1 408"), reply[:200]
        assert b'"code":"invalid_input"' in reply or b"request_timeout" in reply
    stalled_json = socket.create_connection((urlsplit(remote_server.url).hostname, urlsplit(remote_server.url).port))
    stalled.append(stalled_json)
    stalled_json.sendall(b"POST /api/v1/projects HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 100\r\n\r\n{\"name\":")
    stalled_json.settimeout(15)
    assert stalled_json.recv(65536).startswith(b"HTTP/1.1 408")
    assert [p.name for p in backend_state.service().list_projects()] == []
    assert list(backend_state.blobs.iter_digests()) == []


# ---- 9. cross-site requests and DNS rebinding


def test_cross_site_writes_are_refused(backend_api: httpx.Client, backend_state: Any) -> None:
    register(backend_api, "p", b"1")
    register(backend_api, "p", b"2")
    before = snapshot(backend_state)
    for path in ("/projects/-/models/p/versions/2/mark-best", "/projects/-/models/p/versions/1/pin",
                 "/projects/-/models/p/versions/1/archive"):
        assert_error(backend_api.post(path, headers={"Origin": "http://evil.example", "Content-Type": "text/plain"}),
                     403, "permission_denied")
        assert_error(backend_api.post(path, headers={"Content-Type": "text/plain"}), 415, "invalid_input")
        assert_error(backend_api.post(path, headers={"Content-Type": "application/x-www-form-urlencoded"},
                                      content=b"a=1"), 415, "invalid_input")
        assert_error(backend_api.post(path, headers={"Origin": "null"}), 403, "permission_denied")
        assert_error(backend_api.post(path, headers={"Sec-Fetch-Site": "cross-site"}), 403, "permission_denied")
    assert snapshot(backend_state) == before
    own = urlsplit(str(backend_api.base_url))
    same = backend_api.post("/projects/-/models/p/versions/1/pin",
                            headers={"Origin": f"{own.scheme}://{own.netloc}"})
    assert same.status_code == 200 and same.json()["pinned"] is True
    assert backend_api.get("/versions", headers={"Origin": "http://evil.example"}).status_code == 200  # reads


def test_a_server_without_tokens_answers_only_its_own_host_names(backend_api: httpx.Client,
                                                                 backend_state: Any) -> None:
    port = urlsplit(str(backend_api.base_url)).port
    for host in ("evil.example", f"evil.example:{port}", "192.168.1.5", "127.0.0.1.nip.io"):
        assert_error(backend_api.get("/projects", headers={"Host": host}), 403, "permission_denied")
        assert_error(backend_api.post("/projects", json={"name": "x"}, headers={"Host": host}), 403,
                     "permission_denied")
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}", "localhost"):
        assert backend_api.get("/projects", headers={"Host": host}).status_code == 200, host
    backend_state.allowed_hosts = ("registry.lan",)
    assert backend_api.get("/projects", headers={"Host": f"registry.lan:{port}"}).status_code == 200
    assert [p.name for p in backend_state.service().list_projects()] == []
    secret = token(backend_state, "admin", "admin")  # with tokens, the token is what counts
    assert as_token(backend_api, secret, Host="evil.example").get("/projects").status_code == 200
    assert_error(backend_api.get("/projects", headers={"Host": "evil.example"}), 401, "unauthenticated")


# ---- 10. gc and fsck see every project: not for a token limited to one


def test_scoped_maintainers_cannot_run_gc_or_fsck(backend_api: httpx.Client, backend_state: Any,
                                                  two_projects: dict[str, str]) -> None:
    stray = upload(backend_api, b"an upload no version references yet")
    scoped = as_token(backend_api, token(backend_state, "lead", "maintainer", "alpha"))
    for path, body in (("/maintenance/gc", {"dry_run": False, "grace_s": 0}), ("/maintenance/fsck", {})):
        error = assert_error(scoped.post(path, json=body), 403, "permission_denied")
        assert "alpha" in error["message"]
    assert backend_state.blobs.size(stray) is not None
    maintainer = as_token(backend_api, token(backend_state, "ops", "maintainer"))
    assert maintainer.post("/maintenance/fsck", json={}).json()["problems"] == []


# ---- 11. blobs are read and registered only within a token's project


def test_blobs_are_project_scoped(backend_api: httpx.Client, backend_state: Any,
                                  two_projects: dict[str, str]) -> None:
    beta_blob, alpha_blob = two_projects["beta"], two_projects["alpha"]
    viewer = as_token(backend_api, token(backend_state, "alpha-viewer", "viewer", "alpha"))
    assert viewer.get(f"/blobs/{alpha_blob}").status_code == 200
    assert viewer.head(f"/blobs/{alpha_blob}").status_code == 200
    assert_error(viewer.get(f"/blobs/{beta_blob}"), 404, "blob_not_found")
    assert viewer.head(f"/blobs/{beta_blob}").status_code == 404
    assert_error(viewer.get(f"/blobs/{beta_blob}", headers={"Range": "bytes=0-1"}), 404, "blob_not_found")
    editor = as_token(backend_api, token(backend_state, "alpha-editor", "editor", "alpha"))
    before = snapshot(backend_state)
    body = {"model": "alpha/det", "artifacts": [{"path": "w.pt", "digest": beta_blob, "size": 20}]}
    error = assert_error(editor.post("/versions", json=body), 404, "blob_not_found")
    assert error["details"]["missing"] == [beta_blob]
    assert snapshot(backend_state) == before
    files_before = sorted(backend_state.blobs.iter_digests())
    assert editor.put(f"/blobs/{beta_blob}", content=b"beta" * 5).status_code == 200  # proves it has the bytes
    assert sorted(backend_state.blobs.iter_digests()) == files_before  # stored once across projects
    assert editor.head(f"/blobs/{beta_blob}").status_code == 200
    assert editor.post("/versions", json=body).status_code == 201
    other = as_token(backend_api, token(backend_state, "gamma-viewer", "viewer", "gamma"))
    assert other.head(f"/blobs/{beta_blob}").status_code == 404  # still not for a third project


def test_project_scoped_clients_register_and_pull_through_the_sdk(
        remote_server: Any, backend_state: Any, tmp_path: Any, two_projects: dict[str, str]) -> None:
    import modelreg

    secret = token(backend_state, "alpha-ci", "editor", "alpha")
    with modelreg.connect(remote_server.url, token=secret) as reg:
        (tmp_path / "w.pt").write_bytes(b"beta" * 5)  # beta's content: the client uploads it, then registers
        version = reg.register_version("alpha/det", files=[tmp_path / "w.pt"])
        assert version.number == 3
        assert reg.pull(version.ref, tmp_path / "out").joinpath("w.pt").read_bytes() == b"beta" * 5
        with reg.open_blob(version.artifacts[0].digest) as f:
            assert f.read() == b"beta" * 5
        with pytest.raises(modelreg.BlobNotFound):
            reg.blob_size(digest_of(b"unknown"))


# ---- 15. token mode survives the last token


def test_revoking_the_last_token_never_reopens_the_server(backend_api: httpx.Client, backend_state: Any) -> None:
    secret = token(backend_state, "only", "admin")
    assert_error(backend_api.get("/projects"), 401, "unauthenticated")
    assert as_token(backend_api, secret).delete("/tokens/only").status_code == 200
    assert_error(backend_api.get("/projects"), 401, "unauthenticated")
    assert_error(backend_api.post("/projects", json={"name": "x"}), 401, "unauthenticated")
    assert backend_api.get("/auth").json() == {"tokens_required": True}
    assert backend_state.service().purge_tokens() == ["only"]  # the explicit way back (modelreg tokens purge)
    assert backend_api.get("/projects").status_code == 200


# ---- 16. no internals in replies, the same answer on both backends


def test_a_cross_project_promote_is_a_clear_422(backend_api: httpx.Client, two_projects: dict[str, str]) -> None:
    error = assert_error(backend_api.post("/projects/alpha/models/det/promote",
                                          json={"src": "beta/det:2", "dst": "staging"}), 422, "invalid_input")
    assert "#" not in error["message"] and "id" not in json.dumps(error["details"])
    ok = backend_api.post("/projects/alpha/models/det/promote", json={"src": "det:2", "dst": "staging"})
    assert ok.status_code == 200 and ok.json()["to_number"] == 2


@pytest.mark.parametrize("body", [{"grace_s": -1}, {"temp_grace_s": -5}, {"grace_s": 1e30}])
def test_gc_refuses_negative_or_absurd_grace(backend_api: httpx.Client, body: dict[str, Any]) -> None:
    assert_error(backend_api.post("/maintenance/gc", json={"dry_run": True, **body}), 422, "invalid_input")


# ---- runs: the service checks the role and the state of every step, whichever face calls it


def test_a_viewer_cannot_log_finish_or_fail_a_run(backend_api: httpx.Client, backend_state: Any) -> None:
    started = backend_api.post("/runs", json={"model": "p"})
    assert started.status_code == 201
    path = f"/projects/default/models/p/versions/{started.json()['number']}"
    viewer = as_token(backend_api, token(backend_state, "dash", "viewer"))
    before = snapshot(backend_state)
    for step, body in (("/epochs", {"epoch": 1, "metrics": {"loss": 1.0}}), ("/finish", {}),
                       ("/fail", {"error": "no"})):
        assert_error(viewer.post(path + step, json=body), 403, "permission_denied")
    assert snapshot(backend_state) == before
    assert backend_state.service().history("p:1") == []


def test_a_run_goes_on_and_ends_from_another_client(remote_server: Any, backend_state: Any) -> None:
    import modelreg

    with modelreg.connect(remote_server.url) as first, modelreg.connect(remote_server.url) as second:
        run = first.start_run("p", params={"lr": 0.01})
        second.resume_run(run.ref).log_epoch(1, loss=0.5)
        digest = upload_bytes(second, b"weights")
        later = second.resume_run(run.ref)
        later.log_blob("weights/best.pt", digest, 7)
        later.log_metrics(map50=0.7)
        version = later.finish()
        assert version.status == "ready" and version.metrics == {"map50": 0.7}
        assert [a.path for a in version.artifacts] == ["weights/best.pt"]
        assert [e.metrics for e in first.history(run.ref)] == [{"loss": 0.5}]
        with pytest.raises(modelreg.InvalidState):
            first.resume_run(run.ref)
        failing = first.start_run("p")
        assert second.resume_run(failing.ref).fail("out of memory").status == "failed"


def upload_bytes(reg: Any, data: bytes) -> str:
    import io

    digest = digest_of(data)
    reg.upload_blob(io.BytesIO(data), digest)
    return digest


def test_deeply_nested_metadata_is_a_clear_422(backend_api: httpx.Client, backend_state: Any) -> None:
    register(backend_api, "p", b"weights")
    before = snapshot(backend_state)
    for depth in (65, 300, 900):
        deep: Any = "x"
        for _ in range(depth):
            deep = [deep]
        error = assert_error(backend_api.post("/versions", json={"model": "p", "params": {"a": deep}}), 422,
                             "invalid_metadata")
        assert error["details"]["field"] == "params" and "64" in error["message"]
    assert snapshot(backend_state) == before


@pytest.mark.parametrize("version", ["999999999999", "0", "1" + "0" * 22])
def test_an_out_of_range_events_version_is_422_on_both_backends(backend_api: httpx.Client, version: str) -> None:
    assert_error(backend_api.get("/events", params={"version": version}), 422, "invalid_input")


def test_storage_failures_name_no_paths_addresses_or_errno(backend_api: httpx.Client, backend_state: Any,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from modelreg.errors import StorageError

    def disk_full(*_: Any, **__: Any) -> Any:
        raise StorageError("could not write /srv/modelreg/blobs/tmp/put-x.part: No space left on device",
                           path="/srv/modelreg/blobs/tmp/put-x.part", errno=28)

    def database_down(*_: Any, **__: Any) -> Any:
        raise StorageError("connection to postgresql://registry@10.0.0.5:5432/prod failed: password rejected",
                           url="postgresql://registry@10.0.0.5:5432/prod", retryable=True)

    monkeypatch.setattr(backend_state.blobs, "put", disk_full)
    data = b"bytes"
    for response in (backend_api.put(f"/blobs/{digest_of(data)}", content=data),):
        error = assert_error(response, 503, "storage_error")
        assert "/srv" not in response.text and "errno" not in response.text and error["details"]["request_id"]
    monkeypatch.setattr(backend_state.meta, "read", database_down)
    response = backend_api.get("/ready")
    error = assert_error(response, 503, "storage_error")
    assert "10.0.0.5" not in response.text and "registry@" not in response.text and "prod" not in response.text
    assert error["details"]["retryable"] is True
