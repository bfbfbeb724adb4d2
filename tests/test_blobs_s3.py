"""The S3 blob store: the blob store contract of test_blobs.py, plus what is S3's own, against moto's server.

Every test runs on a fresh bucket of one moto server per session (``s3_server.py``), with the real boto3
client over HTTP on loopback. The store runs in two shapes: ``single`` (the defaults: sources under
16 MiB go up in one PutObject) and ``multipart`` (5 MiB threshold and parts, so the contract's
multi-MiB files take the multipart paths: direct to the final key, or staged and copied).
"""

from __future__ import annotations

import base64
import hashlib
import io
import socket
import tracemalloc
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import test_blobs as contract
from modelreg.blobs.s3 import S3BlobStore, parse_s3_url
from modelreg.errors import BlobNotFound, IntegrityError, InvalidInput, StorageError
from s3_server import S3Server, s3_bucket, s3_server, s3_url
from test_blobs import Interrupting, MiB, PatternStream, payload, sha

__all__ = ["s3_bucket", "s3_server", "s3_url"]  # the fixtures, re-exported for pytest

# The contract of test_blobs.py, run here on the ``store`` fixture below (the ones that look at a
# local folder are rewritten for S3 further down, or listed in test_every_contract_test_runs_here_too).
test_round_trip = contract.test_round_trip
test_put_file_and_small_reads_from_plain_read_streams = contract.test_put_file_and_small_reads_from_plain_read_streams
test_text_stream_is_refused = contract.test_text_stream_is_refused
test_declared_size_is_only_a_hint = contract.test_declared_size_is_only_a_hint
test_same_content_is_stored_once = contract.test_same_content_is_stored_once
test_racing_writers_of_one_content_create_it_once = contract.test_racing_writers_of_one_content_create_it_once
test_expected_digest = contract.test_expected_digest
test_interrupted_put_keeps_nothing = contract.test_interrupted_put_keeps_nothing
test_progress_adds_up_to_the_size = contract.test_progress_adds_up_to_the_size
test_empty_file = contract.test_empty_file
test_delete = contract.test_delete
test_iter_digests_lists_exactly_what_was_stored = contract.test_iter_digests_lists_exactly_what_was_stored
test_invalid_digests_are_refused = contract.test_invalid_digests_are_refused
test_clean_temp = contract.test_clean_temp

SHAPES: dict[str, dict[str, Any]] = {
    "single": {},
    "multipart": {"multipart_threshold": 5 * MiB, "part_size": 5 * MiB, "copy_part_size": 5 * MiB,
                  "max_concurrency": 2},
}


@pytest.fixture(params=sorted(SHAPES))
def store(request: pytest.FixtureRequest, s3_server: S3Server, s3_url: str) -> Iterator[S3BlobStore]:
    """The store the contract tests run on; afterwards no multipart upload or staging object is left."""
    opened = S3BlobStore(s3_url, client=s3_server.client, **SHAPES[request.param])
    yield opened
    assert s3_server.leftovers(opened.bucket, f"{opened.prefix}/") == []


@pytest.fixture
def multipart(s3_server: S3Server, s3_url: str) -> Iterator[S3BlobStore]:
    opened = S3BlobStore(s3_url, client=s3_server.client, **SHAPES["multipart"])
    yield opened
    assert s3_server.leftovers(opened.bucket, f"{opened.prefix}/") == []


class Unseekable(io.RawIOBase):
    """A stream of known bytes that cannot tell its size or seek (a pipe, a socket, a request body)."""

    def __init__(self, data: bytes) -> None:
        super().__init__()
        self.inner = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        return self.inner.readinto(buffer)


@pytest.fixture
def recorded(s3_server: S3Server) -> Iterator[list[str]]:
    """The names of the S3 operations the shared client makes during the test."""
    seen: list[str] = []

    def record(model: Any, **_: Any) -> None:
        seen.append(model.name)

    s3_server.client.meta.events.register("before-call.s3", record)
    try:
        yield seen
    finally:
        s3_server.client.meta.events.unregister("before-call.s3", record)


def flip_byte(s3: S3Server, store: S3BlobStore, digest: str, offset: int) -> None:
    """Overwrite a stored blob behind the store's back with one byte changed."""
    key = store._key(digest)
    data = bytearray(s3.client.get_object(Bucket=store.bucket, Key=key)["Body"].read())
    data[offset] ^= 0xFF
    s3.client.put_object(Bucket=store.bucket, Key=key, Body=bytes(data))


# --- layout, URLs, construction ------------------------------------------------------------------


def test_layout(store: S3BlobStore, s3_server: S3Server) -> None:
    digest = store.put(io.BytesIO(b"weights")).digest
    hexdigest = digest[7:]
    key = f"{store.prefix}/sha256/{hexdigest[:2]}/{hexdigest[2:4]}/{hexdigest}"
    assert s3_server.client.get_object(Bucket=store.bucket, Key=key)["Body"].read() == b"weights"
    assert store.url == f"s3://{store.bucket}/{store.prefix}"
    assert store.local_path(digest) is None
    assert store.modified_at(digest) is not None
    store.delete(digest)
    assert store.modified_at(digest) is None
    assert s3_server.client.list_objects_v2(Bucket=store.bucket, Prefix=store.prefix).get("KeyCount") == 0


@pytest.mark.parametrize(("url", "bucket", "prefix"), [
    ("s3://bucket", "bucket", ""),
    ("s3://bucket/", "bucket", ""),
    ("s3://my.bucket-1/a/b/", "my.bucket-1", "a/b"),
])
def test_parse_s3_url(url: str, bucket: str, prefix: str) -> None:
    assert parse_s3_url(url) == (bucket, prefix)


@pytest.mark.parametrize("url", ["s3://", "s3://B", "s3://Upper", "http://bucket/p", "s3://bucket/a//b",
                                 "s3://bucket/../b", "s3://bu..cket", "/srv/blobs"])
def test_bad_urls_are_refused(url: str) -> None:
    with pytest.raises(InvalidInput):
        S3BlobStore(url, check_bucket=False)


def test_no_prefix_and_two_prefixes_share_a_bucket(s3_server: S3Server, s3_bucket: str) -> None:
    root = S3BlobStore(f"s3://{s3_bucket}", client=s3_server.client)
    other = S3BlobStore(f"s3://{s3_bucket}/team-a", client=s3_server.client)
    a = root.put(io.BytesIO(b"a")).digest
    b = other.put(io.BytesIO(b"b")).digest
    assert root.url == f"s3://{s3_bucket}"
    assert list(root.iter_digests()) == [(a, 1)]
    assert list(other.iter_digests()) == [(b, 1)]
    assert not other.exists(a)


def test_store_from_endpoint_and_credentials(s3_server: S3Server, s3_url: str) -> None:
    store = S3BlobStore(s3_url, **s3_server.store_kwargs())
    info = store.put(io.BytesIO(b"through a client of its own"))
    assert store.exists(info.digest)
    assert "endpoint_url" in repr(store) and "secret" not in repr(store)


def test_missing_bucket_is_a_clear_storage_error(s3_server: S3Server) -> None:
    with pytest.raises(StorageError) as e:
        S3BlobStore("s3://no-such-bucket-here/p", **s3_server.store_kwargs())
    assert "does not exist" in e.value.message
    assert e.value.hint is not None and "aws s3 mb s3://no-such-bucket-here" in e.value.hint
    assert e.value.details["bucket"] == "no-such-bucket-here"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_unreachable_endpoint_is_a_storage_error_with_a_hint() -> None:
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    kwargs: dict[str, Any] = {"endpoint_url": endpoint, "region": "us-east-1", "access_key": "k",
                              "secret_key": "s", "max_attempts": 1}
    with pytest.raises(StorageError) as e:
        S3BlobStore("s3://bucket/p", **kwargs)
    assert e.value.hint is not None and "MODELREG_S3_ENDPOINT_URL" in e.value.hint
    assert e.value.details["endpoint_url"] == endpoint
    store = S3BlobStore("s3://bucket/p", check_bucket=False, **kwargs)  # the endpoint goes away later
    digest = sha(b"x")
    for call in (lambda: store.put(io.BytesIO(b"x")), lambda: store.exists(digest), lambda: store.open(digest),
                 lambda: list(store.iter_digests()), lambda: store.clean_temp(older_than_s=0, dry_run=True)):
        with pytest.raises(StorageError) as e:
            call()
        assert e.value.hint is not None and "MODELREG_S3_ENDPOINT_URL" in e.value.hint


def test_bad_sizes_are_refused(s3_server: S3Server, s3_url: str) -> None:
    bad: list[dict[str, Any]] = [{"part_size": MiB}, {"copy_part_size": 6 * 1024 * MiB}, {"max_concurrency": 0}]
    for kwargs in bad:
        with pytest.raises(InvalidInput):
            S3BlobStore(s3_url, client=s3_server.client, **kwargs)


# --- writing -------------------------------------------------------------------------------------


def test_small_put_sends_its_sha256(store: S3BlobStore, recorded: list[str], s3_server: S3Server) -> None:
    checksums: list[str] = []

    def header(request: Any, **_: Any) -> None:
        checksums.append(request.headers.get("x-amz-checksum-sha256", b"").decode())

    s3_server.client.meta.events.register("before-send.s3.PutObject", header)
    try:
        info = store.put(io.BytesIO(b"small"))
    finally:
        s3_server.client.meta.events.unregister("before-send.s3.PutObject", header)
    assert checksums == [base64.b64encode(hashlib.sha256(b"small").digest()).decode()]
    assert "CreateMultipartUpload" not in recorded and info.created


def test_stored_seekable_file_is_not_uploaded_again(multipart: S3BlobStore, tmp_path: Path,
                                                    recorded: list[str]) -> None:
    src = tmp_path / "best.pt"
    src.write_bytes(payload(12 * MiB + 1, seed=5))
    first = multipart.put_file(src)
    assert first.created and "CreateMultipartUpload" in recorded and "CopyObject" not in recorded  # direct
    recorded.clear()
    moved: list[int] = []
    second = multipart.put_file(src, progress=moved.append)
    assert not second.created and second.digest == first.digest
    assert recorded == ["HeadObject"]  # hashed here, found there: nothing uploaded
    assert sum(moved) == 12 * MiB + 1


@pytest.mark.parametrize("size", [12 * MiB + 3, 5 * MiB, 16 * MiB])
def test_stream_of_unknown_size_is_staged_then_copied(multipart: S3BlobStore, recorded: list[str],
                                                      size: int) -> None:
    data = payload(size, seed=size)
    moved: list[int] = []
    info = multipart.put(Unseekable(data), progress=moved.append)  # type: ignore[arg-type]
    assert info.digest == sha(data) and info.size == size and info.created
    assert sum(moved) == size
    assert "UploadPartCopy" in recorded or "CopyObject" in recorded
    with multipart.open(info.digest) as f:
        assert f.read() == data
    recorded.clear()
    again = multipart.put(Unseekable(data))  # type: ignore[arg-type]
    assert not again.created
    assert "AbortMultipartUpload" in recorded and "CompleteMultipartUpload" not in recorded
    assert list(multipart.iter_digests()) == [(info.digest, size)]


def test_expected_digest_of_a_stream_goes_straight_to_its_key(multipart: S3BlobStore, recorded: list[str]) -> None:
    data = payload(11 * MiB, seed=1)
    info = multipart.put(Unseekable(data), expected_digest=sha(data))  # type: ignore[arg-type]
    assert info.created and "UploadPartCopy" not in recorded and "CopyObject" not in recorded
    with pytest.raises(IntegrityError):
        multipart.put(Unseekable(data + b"!"), expected_digest=sha(data))  # type: ignore[arg-type]
    assert list(multipart.iter_digests()) == [(sha(data), len(data))]


@pytest.mark.parametrize("kind", ["seekable", "stream"])
def test_mismatch_keeps_nothing_and_leaves_no_upload(multipart: S3BlobStore, s3_server: S3Server,
                                                     kind: str) -> None:
    data = payload(13 * MiB, seed=2)
    source = io.BytesIO(data) if kind == "seekable" else Unseekable(data)
    with pytest.raises(IntegrityError) as e:
        multipart.put(source, expected_digest=sha(b"other"))  # type: ignore[arg-type]
    assert e.value.details["actual"] == sha(data)
    assert list(multipart.iter_digests()) == []
    assert s3_server.leftovers(multipart.bucket, f"{multipart.prefix}/") == []


def test_file_changed_between_hashing_and_upload(multipart: S3BlobStore) -> None:
    class Changing(io.BytesIO):
        def seek(self, pos: int, whence: int = 0) -> int:
            self.getbuffer()[7 * MiB] ^= 0xFF  # someone writes to the file after the first read
            return super().seek(pos, whence)

    with pytest.raises(IntegrityError) as e:
        multipart.put(Changing(payload(9 * MiB)))
    assert "changed" in e.value.message
    assert list(multipart.iter_digests()) == []


def test_interrupted_multipart_put_aborts_its_upload(multipart: S3BlobStore, s3_server: S3Server) -> None:
    for exc in (OSError("connection reset"), KeyboardInterrupt()):
        with pytest.raises(type(exc)):
            multipart.put(Interrupting(17 * MiB, exc))  # type: ignore[arg-type]
    assert s3_server.leftovers(multipart.bucket, f"{multipart.prefix}/") == []


def test_damaged_copy_of_another_size_is_replaced(store: S3BlobStore, s3_server: S3Server) -> None:
    data = payload(6 * MiB, seed=8)
    digest = store.put(io.BytesIO(data)).digest
    s3_server.client.put_object(Bucket=store.bucket, Key=store._key(digest), Body=data[:MiB])
    assert not store.verify(digest)
    store.put(io.BytesIO(data))
    assert store.verify(digest)


# --- reading -------------------------------------------------------------------------------------


def test_corruption_is_detected_by_every_reader(store: S3BlobStore, s3_server: S3Server, tmp_path: Path) -> None:
    data = payload(5 * MiB + 3)
    digest = store.put(io.BytesIO(data)).digest
    flip_byte(s3_server, store, digest, 4 * MiB + 1)
    assert store.size(digest) == len(data)  # same size: only hashing can tell

    with store.open(digest) as f, pytest.raises(IntegrityError) as e:
        f.read()
    assert e.value.details["expected"] == digest and e.value.details["actual"] != digest
    with store.open(digest) as f:
        with pytest.raises(IntegrityError):
            while f.read(MiB):
                pass
        with pytest.raises(IntegrityError):  # and it stays an error, never a clean end of file
            f.read(MiB)

    dest = tmp_path / "pulled" / "best.pt"
    with pytest.raises(IntegrityError):
        store.get_to_path(digest, dest)
    assert list(dest.parent.iterdir()) == []  # neither the file nor a temporary one
    existing = tmp_path / "existing.pt"
    existing.write_bytes(b"previous version")
    with pytest.raises(IntegrityError):
        store.get_to_path(digest, existing)
    assert existing.read_bytes() == b"previous version"
    assert store.verify(digest) is False


def test_truncated_blob_is_detected(store: S3BlobStore, s3_server: S3Server, tmp_path: Path) -> None:
    data = payload(2 * MiB)
    digest = store.put(io.BytesIO(data)).digest
    s3_server.client.put_object(Bucket=store.bucket, Key=store._key(digest), Body=data[:MiB])
    with store.open(digest) as f, pytest.raises(IntegrityError) as e:
        f.read()
    assert e.value.details["actual_size"] == MiB
    with pytest.raises(IntegrityError):
        store.get_to_path(digest, tmp_path / "x")
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("size", [5000, 5 * MiB + 3])
def test_put_repairs_a_damaged_copy(store: S3BlobStore, s3_server: S3Server, size: int) -> None:
    data = payload(size, seed=size)
    digest = store.put(io.BytesIO(data)).digest
    contract.assert_put_repairs(store, data, lambda: flip_byte(s3_server, store, digest, size // 2))


@pytest.mark.parametrize("path", ["staged", "direct", "seekable"])
def test_every_upload_path_repairs_a_damaged_copy(multipart: S3BlobStore, s3_server: S3Server, path: str) -> None:
    data = payload(12 * MiB + 3, seed=4)
    digest = multipart.put(io.BytesIO(data)).digest
    flip_byte(s3_server, multipart, digest, 7 * MiB)
    if path == "staged":
        info = multipart.put(Unseekable(data))  # type: ignore[arg-type]
    elif path == "direct":
        info = multipart.put(Unseekable(data), expected_digest=digest)  # type: ignore[arg-type]
    else:
        info = multipart.put(io.BytesIO(data))
    assert info.created and multipart.verify(digest)


def test_only_objects_of_a_verified_write_are_trusted(store: S3BlobStore, s3_server: S3Server,
                                                      recorded: list[str]) -> None:
    """put decides without downloading: an object carries the marker of a verified write, or is replaced."""
    data = payload(3000, seed=8)
    digest, key = sha(data), store._key(sha(data))
    s3_server.client.put_object(Bucket=store.bucket, Key=key, Body=data)  # intact, but written by someone else
    assert store.put(io.BytesIO(data)).created  # replaced once by a verified copy...
    recorded.clear()
    assert not store.put(io.BytesIO(data)).created  # ...then trusted: one HeadObject, nothing sent
    assert recorded == ["HeadObject"]
    head = s3_server.client.head_object(Bucket=store.bucket, Key=key)
    assert head["Metadata"] == {"modelreg-sha256": digest[7:]}

    other = payload(3000, seed=9)  # the marker of another digest: a copy of another blob is not trusted
    s3_server.client.put_object(Bucket=store.bucket, Key=key, Body=other, Metadata={"modelreg-sha256": sha(other)[7:]})
    assert store.put(io.BytesIO(data)).created and store.verify(digest)

    forged = bytearray(data)  # the right marker on other bytes: only a re-hash sees it, and repair=True fixes it
    forged[0] ^= 0xFF
    s3_server.client.put_object(Bucket=store.bucket, Key=key, Body=bytes(forged), Metadata=head["Metadata"])
    assert not store.put(io.BytesIO(data)).created and not store.verify(digest)
    assert store.put(io.BytesIO(data), repair=True).created and store.verify(digest)


def test_missing_blob(store: S3BlobStore, tmp_path: Path) -> None:
    digest = sha(b"never stored")
    assert not store.exists(digest) and store.size(digest) is None
    for call in (lambda: store.open(digest), lambda: store.verify(digest),
                 lambda: store.get_to_path(digest, tmp_path / "x")):
        with pytest.raises(BlobNotFound) as e:
            call()
        assert e.value.details["digest"] == digest


def test_iter_digests_ignores_what_is_not_a_blob(store: S3BlobStore, s3_server: S3Server) -> None:
    stored = {store.put(io.BytesIO(payload(100, seed=i))).digest: 100 for i in range(3)}
    hexdigest = next(iter(stored))[7:]
    p = store.prefix
    shard = f"{hexdigest[:2]}/{hexdigest[2:4]}"
    junk = [f"{p}/sha256/{shard}/notes.txt", f"{p}/sha256/zz/{hexdigest}", f"{p}/sha256/00/00/{'1' * 64}",
            f"{p}/sha256/{shard}/{hexdigest}/x", f"{p}-other/sha256/{shard}/{hexdigest}",
            f"{p}/sha256/{hexdigest.upper()}", f"{p}/tmp/{hexdigest}"]
    for key in junk:
        s3_server.client.put_object(Bucket=store.bucket, Key=key, Body=b"junk")
    assert dict(store.iter_digests()) == stored
    for key in junk:
        s3_server.client.delete_object(Bucket=store.bucket, Key=key)


def test_presigned_get_url(store: S3BlobStore) -> None:
    data = b"fetched without credentials"
    digest = store.put(io.BytesIO(data)).digest
    with urllib.request.urlopen(store.presigned_get_url(digest, expires_s=60)) as response:
        assert response.read() == data


# --- clean_temp ----------------------------------------------------------------------------------


def test_clean_temp_aborts_stale_uploads_and_staging_objects(store: S3BlobStore, s3_server: S3Server) -> None:
    client, bucket, p = s3_server.client, store.bucket, store.prefix
    kept = store.put(io.BytesIO(b"kept")).digest
    killed = client.create_multipart_upload(Bucket=bucket, Key=f"{p}/tmp/killed-writer")
    client.upload_part(Bucket=bucket, Key=f"{p}/tmp/killed-writer", UploadId=killed["UploadId"], PartNumber=1,
                       Body=b"half a part")
    client.put_object(Bucket=bucket, Key=f"{p}/tmp/staged-then-killed", Body=b"staged")
    foreign = client.create_multipart_upload(Bucket=bucket, Key=f"{p}-elsewhere/upload")
    client.upload_part(Bucket=bucket, Key=f"{p}-elsewhere/upload", UploadId=foreign["UploadId"], PartNumber=1,
                       Body=b"not ours")
    try:
        assert store.clean_temp(older_than_s=3600, dry_run=True) == 0  # both written just now: maybe alive
        assert store.clean_temp(older_than_s=0, dry_run=True) == 2
        assert len(s3_server.leftovers(bucket, f"{p}/")) == 2
        assert store.clean_temp(older_than_s=0, dry_run=False) == 2
        assert s3_server.leftovers(bucket, f"{p}/") == []
        assert s3_server.leftovers(bucket, f"{p}-elsewhere/") == [f"upload:{p}-elsewhere/upload"]
        assert store.exists(kept)
        assert store.clean_temp(older_than_s=0, dry_run=False) == 0
    finally:
        client.abort_multipart_upload(Bucket=bucket, Key=f"{p}-elsewhere/upload", UploadId=foreign["UploadId"])


# --- large files ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_large_stream_goes_up_in_parts_in_flat_memory(multipart: S3BlobStore, s3_server: S3Server,
                                                      tmp_path: Path) -> None:
    size = 64 * MiB + 5
    block = payload(MiB + 7)  # odd length: parts never line up with it
    expected = PatternStream.digest(size, block)
    in_flight = (multipart.max_concurrency + 1) * multipart.part_size
    tracemalloc.start()
    try:
        info = multipart.put(PatternStream(size, block))  # type: ignore[arg-type]
        _, put_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        multipart.get_to_path(info.digest, tmp_path / "out.bin")
        _, get_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        with multipart.open(info.digest) as f:
            read = 0
            while chunk := f.read(MiB):
                read += len(chunk)
        _, open_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        assert multipart.verify(info.digest)
        _, verify_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.digest == expected and info.size == size and read == size
    assert (tmp_path / "out.bin").stat().st_size == size
    etag = s3_server.client.head_object(Bucket=multipart.bucket, Key=multipart._key(info.digest))["ETag"]
    assert etag.strip('"').endswith("-13")  # a multipart object: 13 parts of 5 MiB
    peaks = {"put": put_peak, "get_to_path": get_peak, "open": open_peak, "verify": verify_peak}
    assert put_peak < in_flight + 4 * MiB < size // 3, peaks
    assert all(peak < 20 * MiB for peak in peaks.values()), peaks


def test_every_contract_test_runs_here_too() -> None:
    """A test added to test_blobs.py must be imported above, rewritten here, or listed as local-only."""
    suite = {name for name in dir(contract) if name.startswith("test_")}
    here = {name for name in globals() if name.startswith("test_")}
    local_only = {"test_truncated_blob_is_detected_and_healed_by_put", "test_local_layout_and_permissions",
                  "test_unwritable_root_raises_storage_error", "test_open_blob_store",
                  "test_large_files_stream_in_flat_memory", "test_killed_writer_leaves_only_a_temp_file"}
    assert suite - here <= local_only, suite - here - local_only


# --- the whole registry on S3 --------------------------------------------------------------------


def test_registry_round_trip_on_s3(s3_server: S3Server, s3_url: str, tmp_path: Path) -> None:
    from modelreg.config import Settings
    from modelreg.metadata.base import open_metadata_store
    from modelreg.service import Context, Service

    blobs = S3BlobStore(s3_url, client=s3_server.client, **SHAPES["multipart"])
    settings = Settings(home=tmp_path / "home", actor="tester", artifacts=s3_url)
    reg = Service(Context(meta=open_metadata_store(f"sqlite:///{tmp_path / 'registry.db'}"), blobs=blobs,
                          settings=settings))
    try:
        shared, first, second = payload(7 * MiB, seed=1), payload(3000, seed=2), payload(6 * MiB, seed=3)
        reg.create_model("fire-detector", task="detection")
        v1 = reg.register_version("fire-detector", files={"weights/best.pt": shared, "config.yaml": first},
                                  metrics={"map50": 0.8})
        v2 = reg.register_version("fire-detector", files={"weights/best.pt": shared, "weights/last.pt": second})
        assert {a.digest for a in v1.artifacts} | {a.digest for a in v2.artifacts} == {
            sha(shared), sha(first), sha(second)}
        assert dict(blobs.iter_digests()) == {sha(shared): len(shared), sha(first): len(first),
                                              sha(second): len(second)}

        out = reg.pull("fire-detector:2", to=tmp_path / "pulled")
        assert (out / "weights" / "best.pt").read_bytes() == shared
        assert (out / "weights" / "last.pt").read_bytes() == second
        assert reg.resolve("fire-detector", path="config.yaml").read_bytes() == first  # production: v1

        reg.delete_version("fire-detector:2")
        assert not blobs.exists(sha(second)) and blobs.exists(sha(shared))
        orphan = blobs.put(io.BytesIO(b"stored, then the registering process died")).digest
        assert reg.gc(dry_run=True).digests == []  # just written: a registration may still claim it
        assert reg.gc(dry_run=True, grace_s=0).digests == [orphan]
        report = reg.gc(dry_run=False, grace_s=0)
        assert report.blobs == 1 and not blobs.exists(orphan)
        assert reg.fsck().ok

        flip_byte(s3_server, blobs, sha(first), 10)
        problems = reg.fsck().problems
        assert [(p.kind, p.digest) for p in problems] == [("corrupt", sha(first))]
        with pytest.raises(IntegrityError):
            reg.pull("fire-detector:1", to=tmp_path / "again")
    finally:
        reg.close()


def test_connect_opens_s3_artifacts(s3_server: S3Server, s3_url: str, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import modelreg
    from modelreg.service import Service

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server.store_kwargs()["access_key"])  # boto3's own chain
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server.store_kwargs()["secret_key"])
    monkeypatch.setenv("AWS_DEFAULT_REGION", s3_server.store_kwargs()["region"])
    environ = {"MODELREG_HOME": str(tmp_path / "home"), "MODELREG_S3_ENDPOINT_URL": s3_server.endpoint_url}
    with modelreg.connect(f"sqlite:///{tmp_path / 'registry.db'}", artifacts=s3_url, environ=environ) as reg:
        assert isinstance(reg, Service)
        blobs = reg.ctx.blobs
        assert isinstance(blobs, S3BlobStore) and blobs.url == s3_url
        version = reg.register_version("detector", files={"best.pt": b"weights"})
        assert blobs.exists(version.artifacts[0].digest)
    with pytest.raises(StorageError) as e:
        modelreg.connect(f"sqlite:///{tmp_path / 'other.db'}", artifacts="s3://no-such-bucket-here/p",
                         environ=environ)
    assert e.value.hint is not None and "aws s3 mb" in e.value.hint
