"""Security review, issue 8, findings 7 and 8: corrupt blobs, attacked through a real server.

7. A corrupt blob is repaired by storing the original again: a ``PUT`` of the right bytes, a local
   registration of the same file, or ``modelreg fsck --repair DIR`` (embedded, or against a server,
   where the folder is on the client's machine and the files are uploaded). Before, ``put`` compared
   sizes only, answered ``created: false`` and kept the damaged copy.
8. A plain HTTP ``GET`` of a corrupt blob fails: a small one is a 500 ``integrity_error`` reply, a large
   one is cut off before its Content-Length (the last chunk is held back until the digest verified),
   so ``curl -f`` exits non-zero instead of saving corrupt bytes.

Each attack runs against ``remote_server`` (a real uvicorn server) on SQLite and PostgreSQL
(``backend_state``); the damage is done the way an attacker or a failing disk would: one byte
flipped, or the file truncated, in the blob folder behind the registry's back.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from typer.testing import CliRunner, Result

import modelreg
from modelreg.blobs.base import BlobStore
from modelreg.cli.errors import ExitCode
from modelreg.cli.main import app
from modelreg.client.http import HttpRegistry
from modelreg.config import Settings
from modelreg.service import Context, Service

API = "/api/v1"
MiB = 1024 * 1024
SMALL, LARGE = 3000, 3 * MiB + 5  # one read of the blob, and several (only the last one is held back)
CLEARED = ("MODELREG_URL", "MODELREG_TOKEN", "MODELREG_DATABASE_URL", "MODELREG_ARTIFACTS", "MODELREG_CACHE",
           "MODEL_ENVIRONMENT", "MODELREG_DEBUG", "NO_COLOR", "FORCE_COLOR")


def sha(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def content(size: int, seed: int = 0) -> bytes:
    block = hashlib.sha256(f"{seed}".encode()).digest()
    return (block * (size // len(block) + 1))[:size]


def damage(blobs: BlobStore, digest: str, how: str = "flip") -> None:
    """Flip one byte in the middle of the stored file, or cut its second half off."""
    path = blobs.local_path(digest)
    assert path is not None, "these attacks need the blob folder"
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    if how == "flip":
        data[len(data) // 2] ^= 0xFF
    else:
        del data[len(data) // 2:]
    path.write_bytes(bytes(data))
    path.chmod(0o444)


@pytest.fixture
def remote(remote_server: Any, backend_state: Any, tmp_path: Path) -> Iterator[HttpRegistry]:
    """The SDK through HTTP on ``backend_state`` (SQLite or PostgreSQL)."""
    registry = modelreg.connect(remote_server.url, settings=Settings(home=tmp_path / "client", actor="tester"))
    assert isinstance(registry, HttpRegistry)
    try:
        yield registry
    finally:
        registry.close()


@pytest.fixture
def api(remote_server: Any, backend_state: Any) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=remote_server.url + API, timeout=30) as client:
        yield client


def local_service(state: Any, tmp_path: Path) -> Service:
    """A registry in this process on the very stores the server serves (registering "locally")."""
    settings = Settings(home=tmp_path / "local", actor="tester")
    return Service(Context(meta=state.meta, blobs=state.blobs, settings=settings, actor="tester"))


def corrupt_version(remote: HttpRegistry, state: Any, data: bytes, how: str = "flip") -> str:
    """Register ``data`` as m:1 through the server, then damage its stored blob; return the digest."""
    remote.register_version("m", files={"w.pt": data})
    digest = sha(data)
    damage(state.blobs, digest, how)
    assert [(p.kind, p.digest) for p in remote.fsck().problems] == [("corrupt", digest)]
    return digest


def assert_healthy(remote: HttpRegistry, data: bytes, to: Path) -> None:
    assert remote.fsck().ok
    for version in remote.list_versions("m"):
        out = remote.pull(f"m:{version.number}", to / f"v{version.number}")
        assert (out / "w.pt").read_bytes() == data


# --- finding 7: storing the original again repairs a corrupt blob --------------------------------


@pytest.mark.parametrize("how", ["flip", "truncate"])
@pytest.mark.parametrize("size", [SMALL, 5 * MiB + 1])  # read whole by the route, and streamed to the store
def test_put_of_the_right_bytes_repairs_a_corrupt_blob(api: httpx.Client, remote: HttpRegistry, backend_state: Any,
                                                       tmp_path: Path, size: int, how: str) -> None:
    data = content(size, seed=size)
    digest = corrupt_version(remote, backend_state, data, how)
    with pytest.raises(modelreg.IntegrityError):
        remote.pull("m:1", tmp_path / "before")

    reply = api.put(f"/blobs/{digest}", content=data)
    assert reply.status_code == 201, reply.text
    assert reply.json() == {"digest": digest, "size": size, "created": True}  # written again
    assert_healthy(remote, data, tmp_path / "after")
    again = api.put(f"/blobs/{digest}", content=data)  # intact now: stored once, nothing rewritten
    assert again.status_code == 200 and again.json()["created"] is False


def test_a_new_version_over_a_corrupt_blob_is_not_published_broken(remote: HttpRegistry, backend_state: Any,
                                                                    tmp_path: Path) -> None:
    """Registering the same file again where the storage is local repairs the copy the new version uses."""
    data = content(LARGE, seed=1)
    corrupt_version(remote, backend_state, data)
    local = local_service(backend_state, tmp_path)
    v2 = local.register_version("m", files={"w.pt": data})
    assert v2.status == "ready" and v2.artifacts[0].digest == sha(data)
    assert_healthy(remote, data, tmp_path / "pulled")  # through the server: v1 and v2 pull again


def test_put_never_replaces_a_good_copy_with_bad_bytes(api: httpx.Client, remote: HttpRegistry, backend_state: Any,
                                                       tmp_path: Path) -> None:
    """The repair is no way in: an upload must still hash to its digest, and a good copy is kept as is."""
    data = content(SMALL, seed=2)
    remote.register_version("m", files={"w.pt": data})
    digest = sha(data)
    path = backend_state.blobs.local_path(digest)
    inode = path.stat().st_ino
    forged = bytearray(data)
    forged[0] ^= 0xFF
    reply = api.put(f"/blobs/{digest}", content=bytes(forged))
    assert reply.status_code == 422 and reply.json()["error"]["code"] == "integrity_error"
    assert api.put(f"/blobs/{digest}", content=data).json()["created"] is False
    assert path.stat().st_ino == inode
    assert_healthy(remote, data, tmp_path / "pulled")


def test_rest_fsck_reads_no_folder_of_the_server(api: httpx.Client) -> None:
    """Repairing over REST is uploading the files (PUT); the server never reads a folder a client names."""
    reply = api.post("/maintenance/fsck", json={"repair_from": "/etc"})
    assert reply.status_code == 422 and reply.json()["error"]["code"] == "invalid_input"


# --- finding 7: fsck --repair DIR ----------------------------------------------------------------


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """``modelreg`` in this process on an embedded registry in tmp_path/home."""
    for var in CLEARED:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MODELREG_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MODELREG_ACTOR", "tester")
    monkeypatch.setenv("COLUMNS", "250")
    runner = CliRunner()

    def invoke(*args: str, env: dict[str, str | None] | None = None) -> Result:
        return runner.invoke(app, list(args), env=env)

    yield invoke


@pytest.fixture
def originals(tmp_path: Path) -> Path:
    """A training folder; the fsck --repair folder holds the same contents under other names."""
    folder = tmp_path / "runs" / "train"
    (folder / "weights").mkdir(parents=True)
    (folder / "weights" / "best.pt").write_bytes(content(LARGE, seed=3))
    (folder / "weights" / "last.pt").write_bytes(content(SMALL, seed=4))
    (folder / "config.yaml").write_bytes(b"epochs: 3\n")
    return folder


def renamed_copy(originals: Path, to: Path) -> Path:
    """The originals under other names and nested deeper, plus files that match nothing."""
    (to / "deep" / "er").mkdir(parents=True)
    shutil.copy(originals / "weights" / "best.pt", to / "deep" / "er" / "model-final.bin")
    shutil.copy(originals / "weights" / "last.pt", to / "last-copy")
    (to / "unrelated.pt").write_bytes(content(LARGE, seed=99))  # a file of the right size, other content
    return to


def exit_code(result: Result) -> int:
    return int(result.exit_code or 0)


def test_fsck_repair_from_a_folder_on_the_embedded_registry(cli: Any, originals: Path, tmp_path: Path) -> None:
    v = json.loads(cli("register", "m", f"{originals}/", "--json").stdout)
    digests = {a["path"]: a["digest"] for a in v["artifacts"]}
    with modelreg.connect(settings=Settings(home=tmp_path / "home", actor="tester")) as reg:
        assert isinstance(reg, Service)
        damage(reg.ctx.blobs, digests["weights/best.pt"])
        reg.ctx.blobs.delete(digests["weights/last.pt"])
    broken = cli("fsck")
    assert exit_code(broken) == ExitCode.INTEGRITY and "fsck --repair DIR" in broken.stderr

    elsewhere = cli("fsck", "--repair", str(tmp_path / "runs" / "train" / "weights" / "nothing-here"))
    assert exit_code(elsewhere) == ExitCode.INVALID_INPUT  # not a folder: said so, nothing done
    empty = tmp_path / "empty"
    empty.mkdir()
    unrepaired = cli("fsck", "--repair", str(empty))
    assert exit_code(unrepaired) == ExitCode.INTEGRITY
    assert "holds no good copy" in unrepaired.stderr and "no file under" in unrepaired.stdout

    folder = renamed_copy(originals, tmp_path / "backup")
    repaired = cli("fsck", "--repair", str(folder), "--json")
    assert exit_code(repaired) == 0, repaired.stderr
    report = json.loads(repaired.stdout)
    assert report["ok"] is True and report["problems"] == []
    assert {(r["kind"], r["digest"], Path(r["source"]).name) for r in report["repaired"]} == {
        ("corrupt", digests["weights/best.pt"], "model-final.bin"),
        ("missing", digests["weights/last.pt"], "last-copy")}
    assert exit_code(cli("fsck")) == 0
    with modelreg.connect(settings=Settings(home=tmp_path / "home", actor="tester")) as reg:
        event = reg.events(action="blobs.repaired").items[0]  # the repair is in the events log
        assert {r["digest"] for r in event.after["repaired"]} == {digests["weights/best.pt"],
                                                                 digests["weights/last.pt"]}
    out = tmp_path / "pulled"
    assert exit_code(cli("pull", "m:1", "--to", str(out))) == 0
    assert (out / "weights" / "best.pt").read_bytes() == (originals / "weights" / "best.pt").read_bytes()


def test_fsck_repair_against_a_server_uploads_from_this_machine(cli: Any, remote_server: Any, remote: HttpRegistry,
                                                                 backend_state: Any, originals: Path,
                                                                 tmp_path: Path) -> None:
    version = remote.register_version("m", files=f"{originals}/")
    digests = {a.path: a.digest for a in version.artifacts}
    damage(backend_state.blobs, digests["weights/best.pt"], "truncate")
    damage(backend_state.blobs, digests["weights/last.pt"])
    server = {"MODELREG_URL": remote_server.url}
    before = cli("fsck", env=server)
    assert exit_code(before) == ExitCode.INTEGRITY and before.stdout.count("corrupt") == 2

    result = cli("fsck", "--repair", str(renamed_copy(originals, tmp_path / "backup")), env=server)
    assert exit_code(result) == 0, result.stderr
    assert "repaired 2 blob(s)" in result.stdout and "model-final.bin" in result.stdout
    assert_healthy_folder(remote, originals, tmp_path / "pulled")


def assert_healthy_folder(remote: HttpRegistry, originals: Path, to: Path) -> None:
    assert remote.fsck().ok
    out = remote.pull("m:1", to)
    for name in ("weights/best.pt", "weights/last.pt", "config.yaml"):
        assert (out / name).read_bytes() == (originals / name).read_bytes()


def test_sdk_fsck_repair_from_reports_what_is_still_broken(remote: HttpRegistry, backend_state: Any,
                                                           tmp_path: Path) -> None:
    good, lost = content(LARGE, seed=5), content(SMALL, seed=6)
    remote.register_version("m", files={"a.pt": good, "b.pt": lost})
    damage(backend_state.blobs, sha(good))
    damage(backend_state.blobs, sha(lost))
    folder = tmp_path / "only-one"
    folder.mkdir()
    (folder / "a.pt").write_bytes(good)
    report = remote.fsck(repair_from=folder)
    assert [(r.digest, r.kind) for r in report.repaired] == [(sha(good), "corrupt")]
    assert [(p.digest, p.kind) for p in report.problems] == [(sha(lost), "corrupt")]
    assert f"no file under {folder}" in report.problems[0].detail
    assert [(p.digest, p.kind) for p in remote.fsck().problems] == [(sha(lost), "corrupt")]


# --- finding 8: a raw GET of a corrupt blob fails ------------------------------------------------


def raw_get(base_url: str, path: str, extra: str = "") -> tuple[int, dict[str, str], bytes]:
    """GET over a bare socket, reading until the server closes: (status, headers, every body byte received)."""
    parts = urlsplit(base_url)
    received = b""
    request = f"GET {API}{path} HTTP/1.1\r\nHost: {parts.netloc}\r\nConnection: close\r\n{extra}\r\n"
    with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=30) as sock:
        sock.sendall(request.encode())
        try:
            while chunk := sock.recv(1 << 16):
                received += chunk
        except ConnectionResetError:  # an abort may come as a reset: what arrived is what counts
            pass
    head, _, body = received.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def curl(url: str, dest: Path) -> int:
    """``curl -f`` (fail on HTTP errors) to a file; its exit status."""
    return subprocess.run(["curl", "-sSf", "-o", str(dest), url], capture_output=True, timeout=60).returncode


def test_raw_get_of_a_large_corrupt_blob_ends_before_its_content_length(remote_server: Any, remote: HttpRegistry,
                                                                        backend_state: Any, api: httpx.Client,
                                                                        tmp_path: Path) -> None:
    data = content(LARGE, seed=7)
    digest = corrupt_version(remote, backend_state, data)
    status, headers, body = raw_get(remote_server.url, f"/blobs/{digest}")
    assert status == 200 and int(headers["content-length"]) == LARGE
    assert len(body) < LARGE  # cut off: no client can mistake it for a whole file
    assert LARGE - len(body) <= MiB  # only the last chunk is held back until the digest verified

    resumed, headers, rest = raw_get(remote_server.url, f"/blobs/{digest}", f"Range: bytes={len(body)}-\r\n")
    assert resumed == 206 and len(rest) < int(headers["content-length"])  # a resume is verified too

    with api.stream("GET", f"/blobs/{digest}") as response, pytest.raises(httpx.RemoteProtocolError):
        response.read()
    url = f"{remote_server.url}{API}/blobs/{digest}"
    if shutil.which("curl"):
        assert curl(url, tmp_path / "curl.bin") == 18  # transfer closed with outstanding read data
    if shutil.which("wget"):  # wget resumes a cut-off download with a Range: that one is verified as well
        wget = subprocess.run(["wget", "-q", "--tries=3", "--waitretry=0", "-O", str(tmp_path / "wget.bin"), url],
                              capture_output=True, timeout=60)
        assert wget.returncode != 0 and (tmp_path / "wget.bin").stat().st_size < LARGE

    with pytest.raises(modelreg.IntegrityError):  # the SDK asks for the digest up front after a cut-off
        remote.pull("m:1", tmp_path / "pulled")
    assert not (tmp_path / "pulled" / "w.pt").exists()
    verified_first = api.get(f"/blobs/{digest}", headers={"Want-Repr-Digest": "sha-256=10"})
    assert verified_first.status_code == 500 and verified_first.json()["error"]["code"] == "integrity_error"


def test_raw_get_of_a_small_corrupt_blob_is_an_error_reply(remote_server: Any, remote: HttpRegistry,
                                                           backend_state: Any, tmp_path: Path) -> None:
    data = content(SMALL, seed=8)
    digest = corrupt_version(remote, backend_state, data, "truncate")
    status, _, body = raw_get(remote_server.url, f"/blobs/{digest}")
    assert status == 500 and json.loads(body)["error"]["code"] == "integrity_error"
    if shutil.which("curl"):
        assert curl(f"{remote_server.url}{API}/blobs/{digest}", tmp_path / "curl.bin") == 22  # -f: HTTP error


@pytest.mark.parametrize("size", [0, SMALL, MiB, MiB + 1, LARGE])
def test_raw_get_of_a_good_blob_is_whole_with_its_digest(remote_server: Any, api: httpx.Client,
                                                         tmp_path: Path, size: int) -> None:
    """Holding the last chunk back costs nothing to a good blob: every byte arrives, and Repr-Digest says
    what they hash to (RFC 9530), for clients that check it."""
    data = content(size, seed=size)
    digest = sha(data)
    assert api.put(f"/blobs/{digest}", content=data).status_code == 201
    status, headers, body = raw_get(remote_server.url, f"/blobs/{digest}")
    assert (status, int(headers["content-length"]), body) == (200, size, data)
    assert headers["repr-digest"] == f"sha-256=:{base64.b64encode(hashlib.sha256(data).digest()).decode()}:"
    if size:  # a range to the end (verified) comes whole too
        start = size // 2
        status, headers, body = raw_get(remote_server.url, f"/blobs/{digest}", f"Range: bytes={start}-\r\n")
        assert (status, headers["content-range"], body) == (206, f"bytes {start}-{size - 1}/{size}", data[start:])
    if shutil.which("curl"):
        assert curl(f"{remote_server.url}{API}/blobs/{digest}", tmp_path / "curl.bin") == 0
        assert (tmp_path / "curl.bin").read_bytes() == data


def test_open_blob_of_a_corrupt_blob_over_http_raises_a_registry_error(remote: HttpRegistry,
                                                                        backend_state: Any) -> None:
    data = content(LARGE, seed=9)
    digest = corrupt_version(remote, backend_state, data)
    with remote.open_blob(digest) as f, pytest.raises(modelreg.StorageError) as e:
        while f.read(MiB):
            pass
    assert "fails verification" in (e.value.hint or "")


def test_re_registering_a_file_keeps_one_copy_and_repairs_none_when_intact(backend_state: Any, tmp_path: Path) -> None:
    """The price of finding 7's fix is a comparison, not a second copy: an intact blob is not rewritten."""
    local = local_service(backend_state, tmp_path)
    data = content(LARGE, seed=10)
    local.register_version("m", files={"w.pt": data})
    path = backend_state.blobs.local_path(sha(data))
    inode, mtime = path.stat().st_ino, path.stat().st_mtime_ns
    local.register_version("m", files={"w.pt": data})
    assert path.stat().st_ino == inode and path.stat().st_mtime_ns >= mtime
    assert local.fsck().ok
