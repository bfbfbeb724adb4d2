"""Blobs in an S3 bucket (or any S3-compatible store), addressed by SHA-256, visible only once verified.

Layout under ``s3://<bucket>/<prefix>``::

    <prefix>/sha256/<hex[0:2]>/<hex[2:4]>/<hex>    a blob
    <prefix>/tmp/<uuid>                            the staging copy of a large stream of unknown digest

S3 has no rename, so ``put`` picks, by what it knows before the upload, how to keep a blob invisible
until its bytes are verified:

- **small** (a known size under ``multipart_threshold``, or a stream that ends within one part): read
  into memory and hashed, then one ``PutObject`` to the final key carrying ``ChecksumSHA256`` (S3
  checks the bytes it received against our digest) and ``If-None-Match: *`` (of two racing writers
  exactly one creates the object).
- **large, digest known first** (``expected_digest`` given, or a seekable file, which is hashed in a
  first read and not uploaded at all when its blob is already stored): a multipart upload straight to
  the final key, hashed again while its parts go up; it is completed (``If-None-Match: *``) only when
  the digest matches, else aborted. An incomplete multipart upload is never visible.
- **large stream, digest unknown**: a multipart upload to a staging key under ``tmp/``, hashed while
  its parts go up; then the staging object is copied server-side to the final key (a multipart copy
  above ``copy_part_size``) and deleted, or, when the blob is already stored, the upload is aborted.

Every object a verified write makes carries the user metadata ``modelreg-sha256: <hex digest>``
(set on the PutObject, the multipart upload, or the server-side copy). Storing content again trusts
an object only with the right size and that marker, found by one HeadObject; anything else at the
key (absent, written by another tool or out of band, a copy of another blob, stored before the
marker existed) is replaced by the verified copy in hand, so a damaged blob is repaired by storing
its original again without downloading anything. ``repair=True`` replaces even a marked object, for
bytes that rotted under their marker (only ``verify`` and fsck, which re-hash, can see that).

Any error, digest mismatch or ``KeyboardInterrupt`` aborts the multipart upload and deletes the
staging object; a killed writer leaves an incomplete upload or a staging object for ``clean_temp``.
Memory use is ``multipart_threshold`` at most for a small source, ``(max_concurrency + 1) × part_size``
for a large one. Readers hash what they read and raise IntegrityError at the end on a mismatch.

boto3 is imported here and nowhere else in modelreg.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
import math
import re
import uuid
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Literal

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from modelreg.blobs.base import BlobInfo, BlobStore, Progress, check_digest
from modelreg.blobs.local import ReadInto, copy_verified_to_path, pump, reader_of, size_hint, verifying_stream
from modelreg.errors import BlobNotFound, IntegrityError, InvalidInput, StorageError
from modelreg.steps import next_step

if TYPE_CHECKING:
    from botocore.response import StreamingBody
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef, CopySourceTypeDef

log = logging.getLogger(__name__)

MiB = 1024 * 1024
GiB = 1024 * MiB
MIN_PART = 5 * MiB  # S3's smallest part (all but the last)
MAX_PART = 5 * GiB
MAX_PARTS = 10_000
READ_CHUNK = 4 * MiB  # chunk of the download pipeline (see local.pump)
ENDPOINT_HINT = "check MODELREG_S3_ENDPOINT_URL and the S3 credentials"
CREDENTIALS_HINT = (
    "check the S3 credentials (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, ~/.aws, or access_key= and secret_key=)"
)
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_HEX_RE = re.compile(r"^[0-9a-f]{64}$")
_NOT_FOUND = frozenset({"404", "NoSuchKey", "NotFound"})
_NO_ACCESS = frozenset(
    {"403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken"}
)
_ALREADY_THERE = frozenset({"412", "PreconditionFailed", "409", "ConditionalRequestConflict"})
MARK = "modelreg-sha256"  # user metadata set by a verified write: the object's digest, in hex
Stored = Literal["absent", "intact", "replace"]


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` → ``("bucket", "some/prefix")`` (the prefix may be empty)."""
    if not isinstance(url, str) or not url.startswith("s3://"):
        raise InvalidInput(f"{str(url)[:200]!r} is not an S3 URL", hint="write s3://bucket or s3://bucket/prefix",
                           url=str(url))
    bucket, _, prefix = url[5:].partition("/")
    prefix = prefix.strip("/")
    if not _BUCKET_RE.fullmatch(bucket) or ".." in bucket:
        raise InvalidInput(f"{bucket!r} is not a valid S3 bucket name",
                           hint="3-63 lowercase letters, digits, dots and hyphens", url=url)
    if any(part in ("", ".", "..") for part in prefix.split("/")) and prefix:
        raise InvalidInput(f"the prefix {prefix!r} has an empty, '.' or '..' segment", url=url)
    return bucket, prefix


def make_client(*, endpoint_url: str | None = None, region: str | None = None, access_key: str | None = None,
                secret_key: str | None = None, session_token: str | None = None, max_pool_connections: int = 16,
                max_attempts: int = 5, connect_timeout: float = 10.0, read_timeout: float = 60.0) -> S3Client:
    """An S3 client configured for the store: credentials from the arguments or boto3's usual chain.

    Checksums are ours (SHA-256 of every blob): botocore's own CRC32 of every request and check of
    every download would hash each byte a second time.
    """
    config = Config(
        region_name=region,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retries={"mode": "standard", "max_attempts": max_attempts},
        max_pool_connections=max_pool_connections,
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        signature_version="s3v4",
        s3={"addressing_style": "path"} if endpoint_url else {},
        user_agent_extra="modelreg",
    )
    session = boto3.session.Session(aws_access_key_id=access_key, aws_secret_access_key=secret_key,
                                    aws_session_token=session_token, region_name=region)
    return session.client("s3", endpoint_url=endpoint_url, config=config)


def _read_up_to(read_into: ReadInto, size: int) -> bytearray:
    """Up to ``size`` bytes of the source (fewer only at its end).

    A bytearray, sent as is: botocore takes one as a body (its stubs say ``bytes``), so no part is copied.
    """
    buf = bytearray(size)
    got = 0
    with memoryview(buf) as view:
        while got < size:
            with view[got:] as rest:
                n = read_into(rest)
            if n is None:
                raise InvalidInput("the source stream is non-blocking and had no data ready",
                                   hint="pass a blocking binary stream")
            if n == 0:
                break
            got += n
    del buf[got:]
    return buf


class _Prefixed:
    """A reader of ``head`` and then the rest of the source; it lets go of ``head`` once that is read."""

    def __init__(self, head: bytearray, rest: ReadInto) -> None:
        self._head: bytearray | None = head
        self._offset = 0
        self._rest = rest

    def readinto(self, view: memoryview, /) -> int | None:
        if self._head is None:
            return self._rest(view)
        n = min(len(view), len(self._head) - self._offset)
        with memoryview(self._head) as head:
            view[:n] = head[self._offset : self._offset + n]
        self._offset += n
        if self._offset == len(self._head):
            self._head = None
        return n


def _seekable(source: object) -> bool:
    try:
        return bool(source.seekable())  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):
        return False


def _mark(digest: str) -> dict[str, str]:
    """The user metadata a verified write puts on an object: ``x-amz-meta-modelreg-sha256: <hex>``."""
    return {MARK: digest[7:]}


def _outcome(info: BlobInfo) -> str:
    return "stored" if info.created else "already stored"


def _code(e: ClientError) -> str:
    return str(e.response.get("Error", {}).get("Code", ""))


class _Body:
    """``readinto`` over a ``get_object`` body, with transport errors turned into StorageError."""

    def __init__(self, store: S3BlobStore, body: StreamingBody, key: str) -> None:
        self._store = store
        self._body = body
        self._key = key

    def readinto(self, view: memoryview, /) -> int:
        with self._store._errors("read", self._key):
            data = self._body.read(len(view))
        n = len(data)
        view[:n] = data
        return n

    def close(self) -> None:
        self._body.close()


class S3BlobStore(BlobStore):
    """Content-addressed blobs in ``s3://bucket/prefix`` (see the module docstring for the guarantees).

    ``endpoint_url`` points at an S3-compatible store (MinIO, Ceph, moto…); the edges read it from
    ``MODELREG_S3_ENDPOINT_URL``. Credentials come from the arguments or boto3's usual chain; ``client``
    replaces all of that with a ready client. The bucket must exist: it is checked here.
    """

    def __init__(self, url: str, *, endpoint_url: str | None = None, region: str | None = None,
                 access_key: str | None = None, secret_key: str | None = None, session_token: str | None = None,
                 client: S3Client | None = None, multipart_threshold: int = 16 * MiB, part_size: int = 8 * MiB,
                 max_concurrency: int = 4, copy_part_size: int = 512 * MiB, conditional_writes: bool = True,
                 max_attempts: int = 5, check_bucket: bool = True) -> None:
        self.bucket, self.prefix = parse_s3_url(url)
        self.url = f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"
        if not MIN_PART <= part_size <= MAX_PART or not MIN_PART <= copy_part_size <= MAX_PART:
            raise InvalidInput("part_size and copy_part_size must be between 5 MiB and 5 GiB (S3's limits)")
        if multipart_threshold < 0 or max_concurrency < 1:
            raise InvalidInput("multipart_threshold must be >= 0 and max_concurrency >= 1")
        self.endpoint_url = endpoint_url
        self.multipart_threshold = multipart_threshold
        self.part_size = part_size
        self.max_concurrency = max_concurrency
        self.copy_part_size = copy_part_size
        self.conditional_writes = conditional_writes
        self._root = f"{self.prefix}/" if self.prefix else ""
        self._blobs = f"{self._root}sha256/"
        self._tmp = f"{self._root}tmp/"
        try:
            self._client = client or make_client(
                endpoint_url=endpoint_url, region=region, access_key=access_key, secret_key=secret_key,
                session_token=session_token, max_pool_connections=max(10, 2 * max_concurrency),
                max_attempts=max_attempts)
        except BotoCoreError as e:
            raise StorageError(f"could not set up the S3 client for {self.url}: {e}", hint=ENDPOINT_HINT,
                               bucket=self.bucket) from e
        if check_bucket:
            self._check_bucket()

    def __repr__(self) -> str:
        where = f", endpoint_url={self.endpoint_url!r}" if self.endpoint_url else ""
        return f"S3BlobStore({self.url!r}{where})"

    @property
    def client(self) -> S3Client:
        return self._client

    def _key(self, digest: str) -> str:
        hexdigest = check_digest(digest)[7:]
        return f"{self._blobs}{hexdigest[:2]}/{hexdigest[2:4]}/{hexdigest}"

    # errors

    @contextlib.contextmanager
    def _errors(self, action: str, key: str | None = None, *, digest: str | None = None) -> Iterator[None]:
        """Turn botocore's errors into ours: BlobNotFound for a missing ``digest``, else StorageError."""
        where = f"s3://{self.bucket}/{key}" if key is not None else f"s3://{self.bucket}"
        try:
            yield
        except ClientError as e:
            code = _code(e)
            status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if digest is not None and code in _NOT_FOUND:
                raise BlobNotFound(f"blob {digest} is not in the store at {self.url}",
                                   step=next_step("fsck"), digest=digest) from None
            if code == "NoSuchBucket":
                raise self._no_bucket() from e
            if code in _NO_ACCESS:
                hint = CREDENTIALS_HINT
            elif isinstance(status, int) and status >= 500:
                hint = f"the S3 service answered {status}; try again later"
            else:
                hint = ENDPOINT_HINT
            raise StorageError(f"could not {action} {where}: {e}", hint=hint, bucket=self.bucket, key=key,
                               code=code, status=status) from e
        except NoCredentialsError as e:
            raise StorageError(f"could not {action} {where}: no S3 credentials found", hint=CREDENTIALS_HINT,
                               bucket=self.bucket, key=key) from e
        except BotoCoreError as e:  # unreachable endpoint, timeouts, broken transfers
            raise StorageError(f"could not {action} {where}: {e}", hint=ENDPOINT_HINT, bucket=self.bucket,
                               key=key, endpoint_url=self.endpoint_url) from e

    def _no_bucket(self) -> StorageError:
        return StorageError(f"the bucket {self.bucket!r} does not exist",
                            hint=f"create it: aws s3 mb s3://{self.bucket}" + (
                                f" --endpoint-url {self.endpoint_url}" if self.endpoint_url else ""),
                            bucket=self.bucket, endpoint_url=self.endpoint_url)

    def _check_bucket(self) -> None:
        try:
            with self._errors("reach the bucket"):
                self._client.head_bucket(Bucket=self.bucket)
        except StorageError as e:
            if e.details.get("code") in ("404", "NoSuchBucket", "NotFound"):
                raise self._no_bucket() from e
            raise

    def _head_size(self, key: str) -> int | None:
        """The size of the object at ``key``, or None when there is none."""
        try:
            with self._errors("look up", key):
                return self._client.head_object(Bucket=self.bucket, Key=key)["ContentLength"]
        except StorageError as e:
            if e.details.get("code") in _NOT_FOUND:
                return None
            raise

    def _stored(self, digest: str, size: int, *, repair: bool = False) -> Stored:
        """What is stored under ``digest``: ``absent``, ``intact`` (the right size and the marker of a
        verified write of this digest) or ``replace`` (anything else, or anything at all with ``repair``).

        An object overwritten behind the store's back (a PutObject, a copy of another blob) loses the
        marker or carries another digest's, so it is replaced by the verified copy in hand, at no
        extra cost: no download is needed to decide.
        """
        key = self._key(digest)
        try:
            with self._errors("look up", key):
                head = self._client.head_object(Bucket=self.bucket, Key=key)
        except StorageError as e:
            if e.details.get("code") in _NOT_FOUND:
                return "absent"
            raise
        stored_size, mark = head["ContentLength"], head.get("Metadata", {}).get(MARK)
        if not repair and stored_size == size and mark == digest[7:]:
            return "intact"
        log.warning("object %s is not a verified copy of its digest (%d bytes for %d, marker %r%s); replacing it",
                    key, stored_size, size, mark, ", repair asked" if repair else "")
        return "replace"

    # writing

    def put(self, source: BinaryIO, *, expected_digest: str | None = None,
            progress: Progress | None = None, repair: bool = False) -> BlobInfo:
        if expected_digest is not None:
            check_digest(expected_digest)
        read_into = reader_of(source)
        hint = size_hint(source)
        known = expected_digest
        if known is None and hint is not None and hint >= self.multipart_threshold and _seekable(source):
            start = source.tell()
            hexdigest, size = pump(read_into, None, chunk_size=READ_CHUNK, expected_size=hint)
            known = f"sha256:{hexdigest}"
            if self._stored(known, size, repair=repair) == "intact":
                if progress is not None and size:
                    progress(size)
                log.debug("put %s (%d bytes, already stored)", known, size)
                return BlobInfo(digest=known, size=size, created=False)
            source.seek(start)
        if hint is None or hint < self.multipart_threshold:
            want = hint + 1 if hint is not None else self.part_size
            head = _read_up_to(read_into, want)
            if len(head) == want and want < self.part_size:  # longer than its size said: read a whole part
                head += _read_up_to(read_into, self.part_size - want)
                want = self.part_size
            if len(head) < want:
                return self._put_small(head, expected_digest, progress, repair)
            read_into = _Prefixed(head, read_into).readinto
            del head  # the prefixed reader drops it once read: no part is held longer than it is in flight
        if known is not None:
            return self._put_direct(read_into, known, expected_digest is not None, hint, progress, repair)
        return self._put_staged(read_into, hint, progress, repair)

    def _mismatch(self, digest: str, known: str, size: int, *, expected: bool) -> IntegrityError:
        if expected:
            return IntegrityError(f"the content received hashes to {digest}, not the expected {known}",
                                  hint="the upload was damaged or the digest is wrong; send the file again",
                                  expected=known, actual=digest, size=size)
        return IntegrityError(f"the file changed while it was being stored ({known} when first read, {digest} "
                              "when uploaded)", hint="store it again once nothing writes to it",
                              expected=known, actual=digest, size=size)

    def _put_small(self, data: bytearray, expected_digest: str | None, progress: Progress | None,
                   repair: bool) -> BlobInfo:
        raw = hashlib.sha256(data).digest()
        digest = f"sha256:{raw.hex()}"
        size = len(data)
        if expected_digest is not None and digest != expected_digest:
            raise self._mismatch(digest, expected_digest, size, expected=True)
        key = self._key(digest)
        stored = self._stored(digest, size, repair=repair)
        info = BlobInfo(digest=digest, size=size, created=False)
        if stored != "intact":
            try:
                with self._errors("store", key):
                    self._client.put_object(Bucket=self.bucket, Key=key, Body=data,  # type: ignore[arg-type]
                                            ChecksumSHA256=base64.b64encode(raw).decode(), Metadata=_mark(digest),
                                            **self._condition(stored))
                info = BlobInfo(digest=digest, size=size, created=True)
            except StorageError as e:
                if e.details.get("code") not in _ALREADY_THERE:
                    raise
        if progress is not None and size:
            progress(size)
        log.debug("put %s (%d bytes, %s)", digest, size, _outcome(info))
        return info

    def _put_direct(self, read_into: ReadInto, known: str, expected: bool, hint: int | None,
                    progress: Progress | None, repair: bool) -> BlobInfo:
        """Multipart upload to the final key, completed only when the content hashes to ``known``."""
        key = self._key(known)
        upload_id = self._create_upload(key, known)
        try:
            hexdigest, size, parts = self._upload_parts(key, upload_id, read_into, hint, progress)
            digest = f"sha256:{hexdigest}"
            if digest != known:
                raise self._mismatch(digest, known, size, expected=expected)
            info = self._complete(key, upload_id, parts, known, size, repair=repair)
        except BaseException:
            self._abort(key, upload_id)
            raise
        log.debug("put %s (%d bytes in %d parts, %s)", known, size, len(parts), _outcome(info))
        return info

    def _put_staged(self, read_into: ReadInto, hint: int | None,
                    progress: Progress | None, repair: bool) -> BlobInfo:
        """Multipart upload to a staging key, then a server-side copy to the final key once verified."""
        staging = f"{self._tmp}{uuid.uuid4().hex}"
        upload_id = self._create_upload(staging)
        try:
            hexdigest, size, parts = self._upload_parts(staging, upload_id, read_into, hint, progress)
            digest = f"sha256:{hexdigest}"
            key = self._key(digest)
            stored = self._stored(digest, size, repair=repair)
            already = stored == "intact"
            if not already:
                with self._errors("store", staging):
                    self._client.complete_multipart_upload(Bucket=self.bucket, Key=staging, UploadId=upload_id,
                                                           MultipartUpload={"Parts": parts})
        except BaseException:
            self._abort(staging, upload_id)
            raise
        if already:
            self._abort(staging, upload_id)
            info = BlobInfo(digest=digest, size=size, created=False)
        else:
            try:
                info = self._copy(staging, key, digest, size, stored, repair=repair)
            finally:
                self._delete_quietly(staging)
        log.debug("put %s (%d bytes in %d parts via %s, %s)", digest, size, len(parts), staging, _outcome(info))
        return info

    def _part_size(self, number: int, base: int) -> int:
        """Size of part ``number`` (1-based): ``base``, doubling every 1000 parts so 10,000 parts reach 5 TiB."""
        return min(base << ((number - 1) // 1000), MAX_PART)

    def _upload_parts(self, key: str, upload_id: str, read_into: ReadInto, hint: int | None,
                      progress: Progress | None) -> tuple[str, int, list[CompletedPartTypeDef]]:
        """Upload the stream as parts, ``max_concurrency`` at a time, hashing every byte."""
        base = max(self.part_size, math.ceil((hint or 0) / MAX_PARTS))
        hasher = hashlib.sha256()
        parts: list[CompletedPartTypeDef] = []
        pending: dict[Future[str], tuple[int, int]] = {}
        total = 0

        def settle(keep: int) -> None:
            while len(pending) > keep:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    number, n = pending.pop(future)
                    parts.append({"PartNumber": number, "ETag": future.result()})
                    if progress is not None and n:
                        progress(n)

        pool = ThreadPoolExecutor(max_workers=self.max_concurrency, thread_name_prefix="modelreg-s3-put")
        try:
            number = 0
            while True:
                number += 1
                settle(self.max_concurrency)  # max_concurrency parts in flight, one more being read
                want = self._part_size(number, base)
                data = _read_up_to(read_into, want)
                if not data and number > 1:
                    break
                hasher.update(data)
                total += len(data)
                pending[pool.submit(self._upload_part, key, upload_id, number, data)] = (number, len(data))
                if len(data) < want:
                    break
            settle(0)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        parts.sort(key=lambda p: p["PartNumber"])
        return hasher.hexdigest(), total, parts

    def _upload_part(self, key: str, upload_id: str, number: int, data: bytearray) -> str:
        with self._errors("upload a part of", key):
            return self._client.upload_part(Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number,
                                            Body=data)["ETag"]  # type: ignore[arg-type]

    def _create_upload(self, key: str, digest: str | None = None) -> str:
        """Start a multipart upload; with ``digest``, the object it completes into carries its marker."""
        extra: dict[str, Any] = {"Metadata": _mark(digest)} if digest is not None else {}
        with self._errors("start an upload to", key):
            return self._client.create_multipart_upload(Bucket=self.bucket, Key=key, **extra)["UploadId"]

    def _condition(self, stored: Stored) -> dict[str, Any]:
        """``If-None-Match: *`` where nothing is stored (of two racing writers, one creates); none to replace."""
        return {"IfNoneMatch": "*"} if stored == "absent" and self.conditional_writes else {}

    def _complete(self, key: str, upload_id: str, parts: list[CompletedPartTypeDef], digest: str, size: int, *,
                  repair: bool) -> BlobInfo:
        """Make the upload the object at ``key`` unless an intact copy is there (then abort it)."""
        stored = self._stored(digest, size, repair=repair)
        if stored == "intact":
            self._abort(key, upload_id)
            return BlobInfo(digest=digest, size=size, created=False)
        try:
            with self._errors("store", key):
                self._client.complete_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id,
                                                       MultipartUpload={"Parts": parts}, **self._condition(stored))
        except StorageError as e:
            if e.details.get("code") not in _ALREADY_THERE:
                raise
            self._abort(key, upload_id)
            return BlobInfo(digest=digest, size=size, created=False)
        return BlobInfo(digest=digest, size=size, created=True)

    def _copy(self, source_key: str, key: str, digest: str, size: int, stored: Stored, *,
              repair: bool) -> BlobInfo:
        """Server-side copy of the verified ``source_key`` to ``key`` (``stored``: what is there), marked;
        not created when a copy appeared meanwhile where there was none."""
        source: CopySourceTypeDef = {"Bucket": self.bucket, "Key": source_key}
        if size <= self.copy_part_size:
            try:
                with self._errors("copy to", key):
                    self._client.copy_object(Bucket=self.bucket, Key=key, CopySource=source,
                                             MetadataDirective="REPLACE", Metadata=_mark(digest),
                                             **self._condition(stored))
            except StorageError as e:
                if e.details.get("code") not in _ALREADY_THERE:
                    raise
                return BlobInfo(digest=digest, size=size, created=False)
            return BlobInfo(digest=digest, size=size, created=True)
        part = max(self.copy_part_size, math.ceil(size / MAX_PARTS))
        ranges = [(i + 1, start, min(start + part, size) - 1) for i, start in enumerate(range(0, size, part))]
        upload_id = self._create_upload(key, digest)

        def copy_part(r: tuple[int, int, int]) -> CompletedPartTypeDef:
            with self._errors("copy a part to", key):
                result = self._client.upload_part_copy(Bucket=self.bucket, Key=key, UploadId=upload_id,
                                                       PartNumber=r[0], CopySource=source,
                                                       CopySourceRange=f"bytes={r[1]}-{r[2]}")
            return {"PartNumber": r[0], "ETag": result["CopyPartResult"]["ETag"]}

        try:
            with ThreadPoolExecutor(max_workers=self.max_concurrency, thread_name_prefix="modelreg-s3-copy") as pool:
                parts = list(pool.map(copy_part, ranges))
            return self._complete(key, upload_id, parts, digest, size, repair=repair)
        except BaseException:
            self._abort(key, upload_id)
            raise

    def _abort(self, key: str, upload_id: str) -> None:
        """Abort a multipart upload; an error here is logged, never raised over the one that caused it."""
        try:
            self._client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
        except ClientError as e:
            if _code(e) not in ("NoSuchUpload", "404"):
                log.warning("could not abort the upload %s to %s: %s (clean_temp will)", upload_id, key, e)
        except BotoCoreError as e:
            log.warning("could not abort the upload %s to %s: %s (clean_temp will)", upload_id, key, e)

    def _delete_quietly(self, key: str) -> None:
        try:
            self._client.delete_object(Bucket=self.bucket, Key=key)
        except (ClientError, BotoCoreError) as e:
            log.warning("could not delete the staging object %s: %s (clean_temp will)", key, e)

    # reading

    def exists(self, digest: str) -> bool:
        return self._head_size(self._key(digest)) is not None

    def size(self, digest: str) -> int | None:
        return self._head_size(self._key(digest))

    def local_path(self, digest: str) -> Path | None:
        check_digest(digest)
        return None  # no file on this machine

    def modified_at(self, digest: str) -> datetime | None:
        """When the blob was last written, or None when absent (for a grace period in gc)."""
        key = self._key(digest)
        try:
            with self._errors("look up", key):
                return self._client.head_object(Bucket=self.bucket, Key=key)["LastModified"]
        except StorageError as e:
            if e.details.get("code") in _NOT_FOUND:
                return None
            raise

    def _get(self, digest: str) -> tuple[_Body, int]:
        key = self._key(digest)
        with self._errors("read", key, digest=digest):
            response = self._client.get_object(Bucket=self.bucket, Key=key)
        return _Body(self, response["Body"], key), response["ContentLength"]

    def open(self, digest: str) -> BinaryIO:
        body, size = self._get(digest)
        return verifying_stream(body, digest, size)

    def get_to_path(self, digest: str, dest: Path, *, progress: Progress | None = None) -> None:
        body, size = self._get(digest)
        try:
            copy_verified_to_path(body, Path(dest), digest=digest, size=size, progress=progress,
                                  chunk_size=READ_CHUNK)
        finally:
            body.close()

    def verify(self, digest: str) -> bool:
        body, size = self._get(digest)
        try:
            hexdigest, total = pump(body.readinto, None, chunk_size=READ_CHUNK, expected_size=size)
        finally:
            body.close()
        ok = f"sha256:{hexdigest}" == digest and total == size
        if not ok:
            log.warning("blob %s does not match its digest (%d bytes hash to sha256:%s)", digest, total, hexdigest)
        return ok

    def iter_digests(self) -> Iterator[tuple[str, int]]:
        paginator = self._client.get_paginator("list_objects_v2")
        with self._errors("list", self._blobs):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self._blobs):
                for obj in page.get("Contents", []):
                    key = obj.get("Key", "")
                    name = key[len(self._blobs):]
                    hexdigest = name[6:]
                    if len(name) != 70 or not _HEX_RE.fullmatch(hexdigest) or \
                            name[:6] != f"{hexdigest[:2]}/{hexdigest[2:4]}/":
                        log.debug("ignoring %s: not a blob name", key)
                        continue
                    yield f"sha256:{hexdigest}", obj.get("Size", 0)

    def presigned_get_url(self, digest: str, *, expires_s: int = 3600) -> str:
        """A URL that lets anyone GET the blob for ``expires_s`` seconds (the reader must still verify it)."""
        key = self._key(digest)
        with self._errors("sign a URL for", key):
            return self._client.generate_presigned_url("get_object", Params={"Bucket": self.bucket, "Key": key},
                                                       ExpiresIn=expires_s)

    # removing

    def delete(self, digest: str) -> None:
        key = self._key(digest)
        with self._errors("delete", key):
            self._client.delete_object(Bucket=self.bucket, Key=key)
        log.debug("deleted %s", digest)

    def clean_temp(self, *, older_than_s: float, dry_run: bool) -> int:
        """Abort multipart uploads and delete staging objects whose last write is ``older_than_s`` old.

        An upload's last write is its newest part (or its start when it has none): a live writer
        uploads a part every few seconds, so a generous age never aborts one in use.
        """
        cutoff = datetime.now(UTC) - timedelta(seconds=older_than_s)
        count = 0
        for key, upload_id, last in self._uploads():
            if last > cutoff:
                continue
            count += 1
            if dry_run:
                log.info("would abort the multipart upload %s to %s (last written %s)", upload_id, key, last)
                continue
            log.info("aborting the multipart upload %s to %s (last written %s)", upload_id, key, last)
            try:
                with self._errors("abort an upload to", key):
                    self._client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
            except StorageError as e:
                if e.details.get("code") not in ("NoSuchUpload", "404"):
                    raise
                count -= 1  # another cleaner, or its writer, was faster
        paginator = self._client.get_paginator("list_objects_v2")
        with self._errors("list", self._tmp):
            stale = [(obj["Key"], obj.get("Size", 0))
                     for page in paginator.paginate(Bucket=self.bucket, Prefix=self._tmp)
                     for obj in page.get("Contents", []) if obj["LastModified"] <= cutoff]
        for key, size in stale:
            count += 1
            log.info("%s the staging object %s (%d bytes)", "would delete" if dry_run else "deleting", key, size)
            if not dry_run:
                with self._errors("delete", key):
                    self._client.delete_object(Bucket=self.bucket, Key=key)
        return count

    def _uploads(self) -> Iterator[tuple[str, str, datetime]]:
        """Our multipart uploads in progress, as (key, upload id, time of the last write)."""
        uploads = self._client.get_paginator("list_multipart_uploads")
        with self._errors("list the uploads in", self._root):
            found = [(u["Key"], u["UploadId"], u["Initiated"])
                     for page in uploads.paginate(Bucket=self.bucket, Prefix=self._root)
                     for u in page.get("Uploads", [])
                     if u.get("Key", "").startswith((self._tmp, self._blobs))]
        parts = self._client.get_paginator("list_parts")
        for key, upload_id, started in found:
            last = started
            try:
                with self._errors("list the parts of", key):
                    for page in parts.paginate(Bucket=self.bucket, Key=key, UploadId=upload_id):
                        for part in page.get("Parts", []):
                            last = max(last, part["LastModified"])
            except StorageError as e:
                if e.details.get("code") in ("NoSuchUpload", "404"):
                    continue  # finished or aborted meanwhile
                raise
            yield key, upload_id, last

