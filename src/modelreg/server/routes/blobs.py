"""File contents by SHA-256: streamed uploads (verified, nothing kept on a mismatch), HEAD, ranged downloads.

``PUT /blobs/sha256:<hex>`` streams the body into the blob store, which hashes while writing and keeps
the blob only if it hashes to the digest in the path; a mismatch is a 422 ``integrity_error``, an upload
cut off midway a 503 ``storage_error`` (the client retries), and in both cases no trace is left.
``GET`` streams with ``ETag`` (the digest) and ``Range`` (206); full reads go through the store's
verifying reader, ranges through the local file when the store has one.
"""

from __future__ import annotations

import base64
import functools
import io
import logging
import re
from collections.abc import Iterator, Sequence
from typing import BinaryIO

import anyio
import anyio.to_thread
from fastapi import APIRouter, Path, Request
from starlette.requests import ClientDisconnect
from starlette.responses import Response, StreamingResponse

from modelreg.blobs.base import BlobInfo, check_digest
from modelreg.errors import IntegrityError, InvalidInput, StorageError
from modelreg.server.auth import Registry, State
from modelreg.server.errors import ClientFault
from modelreg.server.pipe import BodyPipe
from modelreg.server.state import ServerState
from modelreg.server.wire import reply
from modelreg.service import Service

log = logging.getLogger("modelreg.server")
router = APIRouter(prefix="/blobs", tags=["blobs"])
CHUNK = 1024 * 1024
DigestPath = Path(description="`sha256:` and 64 lowercase hex characters.",
                  examples=["sha256:" + "0" * 64])
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
OCTETS = "application/octet-stream"


SMALL_UPLOAD = 4 * 1024 * 1024  # bodies up to this size are read whole on the event loop before a thread stores them


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


async def _read_small(request: Request) -> io.BytesIO:
    try:
        return io.BytesIO(await request.body())
    except ClientDisconnect:
        raise StorageError("the upload was cut off before its end; nothing was kept", hint="send the file again",
                           retryable=True) from None


@router.put("/{digest}", response_model=BlobInfo, status_code=201,
            summary="Upload a blob (streamed, verified against the digest; 200 when it was already stored)",
            responses={422: {"description": "The body does not hash to the digest, or the digest is malformed"},
                       408: {"description": "The body stopped arriving for longer than the body-read timeout"}},
            openapi_extra={"requestBody": {"required": True,
                                           "content": {OCTETS: {"schema": {"type": "string", "format": "binary"}}}}})
async def put_blob(request: Request, reg: Registry, st: State, digest: str = DigestPath) -> Response:
    """Small bodies are read on the event loop first; large ones are streamed to a thread of the upload
    pool, never of the pool reads use, so uploads that stall cannot starve the rest of the API."""
    check_digest(digest)
    length = request.headers.get("content-length", "")
    declared = int(length) if length.isdigit() and len(length) < 20 else None
    try:
        if declared is not None and declared <= SMALL_UPLOAD:
            body = await _read_small(request)
            info = await anyio.to_thread.run_sync(reg.upload_blob, body, digest, limiter=st.upload_limiter())
        else:
            info = await _stream_upload(request, reg, st, digest, declared)
    except IntegrityError as exc:
        raise ClientFault(exc) from None
    return reply(info, 201 if info.created else 200)


async def _stream_upload(request: Request, reg: Service, st: ServerState, digest: str,
                         declared: int | None) -> BlobInfo:
    pipe = BodyPipe(declared_size=declared)
    stored: list[BlobInfo] = []
    failed: list[BaseException] = []

    def store() -> None:
        try:
            stored.append(reg.upload_blob(pipe, digest))  # type: ignore[arg-type]
        except BaseException as exc:
            failed.append(exc)
        finally:
            pipe.abandon()

    async with anyio.create_task_group() as tg:
        tg.start_soon(_feed, request, pipe)
        await anyio.to_thread.run_sync(store, limiter=st.upload_limiter())
    if failed:
        raise failed[0]
    return stored[0]


@router.head("/{digest}", summary="Whether the blob is stored (200 with Content-Length, else 404)",
             responses={200: {"content": {OCTETS: {"schema": {"type": "string", "format": "binary"}}},
                              "description": "Stored; Content-Length is its size (no body)"}})
async def head_blob(reg: Registry, digest: str = DigestPath) -> Response:
    size = await anyio.to_thread.run_sync(reg.blob_size, digest)
    return Response(headers={"Content-Length": str(size), "ETag": f'"{digest}"', "Accept-Ranges": "bytes"},
                    media_type=OCTETS)


def _parse_range(header: str, size: int) -> tuple[int, int] | str | None:
    """(first, last) byte, None to ignore the header (malformed or several ranges), "unsatisfiable".

    Positions are compared with the blob's size, never fed whole to ``int()`` (which refuses more than
    4300 digits): RFC 9110 §14.1.2 reads a suffix or a last position past the end as "to the end", and a
    first position past the end as unsatisfiable (416), however many digits they have.
    """

    def position(digits: str) -> int:  # the number, or ``size`` for any number past it
        significant = digits.lstrip("0")
        return size if len(significant) > len(str(size)) else min(int(significant or "0"), size)

    m = _RANGE.match(header.strip())
    if not m or (not m.group(1) and not m.group(2)):
        return None
    if not m.group(1):  # the last N bytes
        n = position(m.group(2))
        return (size - n, size - 1) if n and size else "unsatisfiable"
    first = position(m.group(1))
    last = position(m.group(2)) if m.group(2) else size - 1
    if first >= size or last < first:
        return "unsatisfiable"
    return first, min(last, size - 1)


def _chunks(stream: BinaryIO, remaining: int | None, digest: str, opening: Sequence[bytes] = (), *,
            skip: int = 0) -> Iterator[bytes]:
    """The body of a GET: ``remaining`` bytes of a range inside the blob, or the blob to its end, verified.

    To its end (``remaining`` None): ``stream`` reads the blob from its start through the verifying
    reader; the first ``skip`` bytes are hashed but not sent (a range that runs to the end, as a resuming
    client asks), ``opening`` holds what ``_read_first`` read already, and the latest chunk is always held
    back until the next read: the read that meets the end of the blob is the one that checks the digest,
    so the last bytes go out only once the blob verified. On a mismatch the IntegrityError propagates and
    ends the reply short of its Content-Length: the server drops the connection and every HTTP client
    sees a failed, truncated download (curl exits 18), never a clean end. A range that ends inside the
    blob cannot be verified (the rest is not read): it is sent as stored. The stream is closed whatever
    happens.
    """
    read = getattr(stream, "read1", stream.read)  # one read at a time: at most one chunk is held back
    try:
        if remaining is not None:
            while remaining > 0 and (data := read(min(CHUNK, remaining))):
                remaining -= len(data)
                yield data
            return
        while skip > 0 and (data := read(min(CHUNK, skip))):
            skip -= len(data)
        pending = list(opening)
        held = b""
        while data := (pending.pop(0) if pending else read(CHUNK)):
            if held:
                yield held
            held = data
        if held:
            yield held
    except IntegrityError:
        log.error("blob %s is corrupt (found while serving it): the download was cut off; run fsck", digest)
        raise
    finally:
        stream.close()


def _drain(stream: BinaryIO) -> None:
    """Read a whole blob and drop the bytes: its verifying reader raises IntegrityError at a damaged end."""
    read = getattr(stream, "read1", stream.read)
    with stream:
        while read(CHUNK):
            pass


def _read_first(stream: BinaryIO) -> tuple[bytes, bytes]:
    """The first two reads of a whole blob, before the reply starts: a blob that ends within them is
    verified here, so a small corrupt blob gets a proper error reply (500 ``integrity_error``)."""
    read = getattr(stream, "read1", stream.read)
    try:
        first = read(CHUNK)
        return first, read(CHUNK) if first else b""
    except BaseException:
        stream.close()
        raise


@router.get("/{digest}", summary="Download a blob (streamed; Range gives 206; ETag is the digest)",
            responses={200: {"content": {OCTETS: {"schema": {"type": "string", "format": "binary"}}}},
                       206: {"description": "The requested range"}, 304: {"description": "Not modified"},
                       416: {"description": "The range is outside the blob"}})
async def get_blob(request: Request, reg: Registry, digest: str = DigestPath) -> Response:
    size = await anyio.to_thread.run_sync(reg.blob_size, digest)
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
        to_end = last == size - 1  # a resuming client's range: verified, reading the blob from its start
        stream = await anyio.to_thread.run_sync(functools.partial(reg.open_blob, digest, offset=0 if to_end else first))
        length = last - first + 1
        headers.update({"Content-Range": f"bytes {first}-{last}/{size}", "Content-Length": str(length)})
        body = _chunks(stream, None, digest, skip=first) if to_end else _chunks(stream, length, digest)
        return StreamingResponse(body, status_code=206, headers=headers, media_type=OCTETS)
    if "want-repr-digest" in request.headers:  # RFC 9530: vouch for the digest before the status line
        await anyio.to_thread.run_sync(_drain, await anyio.to_thread.run_sync(reg.open_blob, digest))
    stream = await anyio.to_thread.run_sync(reg.open_blob, digest)
    opening = await anyio.to_thread.run_sync(_read_first, stream)
    headers["Content-Length"] = str(size)
    headers["Repr-Digest"] = f"sha-256=:{base64.b64encode(bytes.fromhex(digest[7:])).decode()}:"
    return StreamingResponse(_chunks(stream, None, digest, opening), headers=headers, media_type=OCTETS)
