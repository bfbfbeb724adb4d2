"""File contents by SHA-256: streamed uploads (verified, nothing kept on a mismatch), HEAD, ranged downloads.

``PUT /blobs/sha256:<hex>`` streams the body into the blob store, which hashes while writing and keeps
the blob only if it hashes to the digest in the path; a mismatch is a 422 ``integrity_error``, an upload
cut off midway a 503 ``storage_error`` (the client retries), and in both cases no trace is left.
``GET`` streams with ``ETag`` (the digest) and ``Range`` (206); full reads go through the store's
verifying reader, ranges through the local file when the store has one.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import BinaryIO

import anyio
import anyio.to_thread
from fastapi import APIRouter, Path, Request
from starlette.requests import ClientDisconnect
from starlette.responses import Response, StreamingResponse

from modelreg.blobs.base import BlobInfo, BlobStore, check_digest
from modelreg.errors import BlobNotFound, IntegrityError, InvalidInput, StorageError
from modelreg.server.auth import Registry
from modelreg.server.errors import ClientFault
from modelreg.server.pipe import BodyPipe
from modelreg.server.wire import reply

log = logging.getLogger("modelreg.server")
router = APIRouter(prefix="/blobs", tags=["blobs"])
CHUNK = 1024 * 1024
DigestPath = Path(description="`sha256:` and 64 lowercase hex characters.",
                  examples=["sha256:" + "0" * 64])
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
OCTETS = "application/octet-stream"


def _missing(digest: str) -> BlobNotFound:
    return BlobNotFound(f"blob {digest} is not stored", hint="upload it: PUT /api/v1/blobs/<digest>", digest=digest)


async def _feed(request: Request, pipe: BodyPipe) -> None:
    try:
        async for chunk in request.stream():
            if pipe.abandoned:
                return
            while chunk and not pipe.offer(chunk):  # the store is behind: wait here, holding no thread
                await anyio.sleep(0.001)
        pipe.finish()
    except ClientDisconnect:
        pipe.finish(StorageError("the upload was cut off before its end; nothing was kept",
                                 hint="send the file again", retryable=True))
    except Exception as exc:  # handed to the reading thread, which raises it
        pipe.finish(exc)


@router.put("/{digest}", response_model=BlobInfo, status_code=201,
            summary="Upload a blob (streamed, verified against the digest; 200 when it was already stored)",
            responses={422: {"description": "The body does not hash to the digest, or the digest is malformed"}},
            openapi_extra={"requestBody": {"required": True,
                                           "content": {OCTETS: {"schema": {"type": "string", "format": "binary"}}}}})
async def put_blob(request: Request, reg: Registry, digest: str = DigestPath) -> Response:
    check_digest(digest)
    reg.ctx.require("editor", "uploading files")
    length = request.headers.get("content-length", "")
    pipe = BodyPipe(declared_size=int(length) if length.isdigit() else None)
    stored: list[BlobInfo] = []
    failed: list[BaseException] = []

    def store() -> None:
        try:
            stored.append(reg.ctx.blobs.put(pipe, expected_digest=digest))  # type: ignore[arg-type]
        except BaseException as exc:
            failed.append(exc)
        finally:
            pipe.abandon()

    async with anyio.create_task_group() as tg:
        tg.start_soon(_feed, request, pipe)
        await anyio.to_thread.run_sync(store)
    if failed:
        if isinstance(failed[0], IntegrityError):
            raise ClientFault(failed[0])
        raise failed[0]
    info = stored[0]
    return reply(info, 201 if info.created else 200)


@router.head("/{digest}", summary="Whether the blob is stored (200 with Content-Length, else 404)")
async def head_blob(reg: Registry, digest: str = DigestPath) -> Response:
    check_digest(digest)
    size = await anyio.to_thread.run_sync(reg.ctx.blobs.size, digest)
    if size is None:
        raise _missing(digest)
    return Response(headers={"Content-Length": str(size), "ETag": f'"{digest}"', "Accept-Ranges": "bytes"},
                    media_type=OCTETS)


def _parse_range(header: str, size: int) -> tuple[int, int] | str | None:
    """(first, last) byte, None to ignore the header (malformed or several ranges), "unsatisfiable"."""
    m = _RANGE.match(header.strip())
    if not m or (not m.group(1) and not m.group(2)):
        return None
    if not m.group(1):  # the last N bytes
        n = int(m.group(2))
        return (max(0, size - n), size - 1) if n and size else "unsatisfiable"
    first = int(m.group(1))
    last = int(m.group(2)) if m.group(2) else size - 1
    if first >= size or last < first:
        return "unsatisfiable"
    return first, min(last, size - 1)


def _chunks(stream: BinaryIO, remaining: int | None, digest: str) -> Iterator[bytes]:
    """Read ``stream`` to its end (or ``remaining`` bytes), closing it whatever happens."""
    read = getattr(stream, "read1", stream.read)  # one read at a time: every byte read is sent before the check
    try:
        while remaining is None or remaining > 0:
            data = read(CHUNK if remaining is None else min(CHUNK, remaining))
            if not data:
                return
            if remaining is not None:
                remaining -= len(data)
            yield data
    except IntegrityError:  # the bytes are out; the client hashes them and refuses them too
        log.error("blob %s is corrupt (found while serving it); run modelreg fsck", digest)
    finally:
        stream.close()


def _open_range(blobs: BlobStore, digest: str, first: int) -> BinaryIO:
    local = blobs.local_path(digest)
    if local is not None:
        f = open(local, "rb")  # noqa: SIM115 -- closed by _chunks
        f.seek(first)
        return f
    stream = blobs.open(digest)  # no local file: read up to the range (unverified: it is not read to the end)
    to_skip = first
    while to_skip:
        skipped = len(stream.read(min(CHUNK, to_skip)))
        if not skipped:
            break
        to_skip -= skipped
    return stream


@router.get("/{digest}", summary="Download a blob (streamed; Range gives 206; ETag is the digest)",
            responses={200: {"content": {OCTETS: {"schema": {"type": "string", "format": "binary"}}}},
                       206: {"description": "The requested range"}, 304: {"description": "Not modified"},
                       416: {"description": "The range is outside the blob"}})
async def get_blob(request: Request, reg: Registry, digest: str = DigestPath) -> Response:
    check_digest(digest)
    blobs = reg.ctx.blobs
    size = await anyio.to_thread.run_sync(blobs.size, digest)
    if size is None:
        raise _missing(digest)
    etag = f'"{digest}"'
    headers = {"ETag": etag, "Accept-Ranges": "bytes", "Cache-Control": "private, max-age=31536000, immutable"}
    match = request.headers.get("if-none-match")
    if match is not None and (match.strip() == "*" or etag in [m.strip() for m in match.split(",")]):
        return Response(status_code=304, headers=headers)
    wanted = request.headers.get("range")
    if_range = request.headers.get("if-range")
    span = _parse_range(wanted, size) if wanted and (if_range is None or if_range.strip() == etag) else None
    if span == "unsatisfiable":
        raise ClientFault(InvalidInput(f"the range {wanted!r} is outside the blob of {size} bytes", size=size),
                          status=416, headers={"Content-Range": f"bytes */{size}"})
    if isinstance(span, tuple):
        first, last = span
        stream = await anyio.to_thread.run_sync(_open_range, blobs, digest, first)
        length = last - first + 1
        headers.update({"Content-Range": f"bytes {first}-{last}/{size}", "Content-Length": str(length)})
        return StreamingResponse(_chunks(stream, length, digest), status_code=206, headers=headers,
                                 media_type=OCTETS)
    stream = await anyio.to_thread.run_sync(blobs.open, digest)
    headers["Content-Length"] = str(size)
    return StreamingResponse(_chunks(stream, None, digest), headers=headers, media_type=OCTETS)
