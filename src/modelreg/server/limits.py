"""The request body limit for JSON endpoints (``max_body_bytes``, default 16 MiB): 413 in the error envelope.

Blob uploads (``/api/v1/blobs/``) are streamed into the blob store and not limited here. A declared
``Content-Length`` over the limit is refused before the body is read; a chunked body is counted as it
arrives and refused when it passes the limit.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelreg.server.errors import error_response

UNLIMITED_PREFIXES = ("/api/v1/blobs/",)


class BodyTooLarge(HTTPException):
    """An HTTPException, so FastAPI's body parsing passes it on to the error handler as it is."""

    def __init__(self, limit: int, size: int | None = None) -> None:
        what = f"{size} bytes" if size is not None else "more than that"
        super().__init__(413, f"the request body is {what}; the limit is {limit} bytes "
                              "(files go to PUT /api/v1/blobs/<digest>, which has no limit)")


class BodyLimit:
    """The limit is the served state's ``max_body_bytes`` (``modelreg serve --max-body``)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or str(scope.get("path", "")).startswith(UNLIMITED_PREFIXES):
            await self.app(scope, receive, send)
            return
        limit: int = scope["app"].state.server.max_body_bytes
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            response = error_response(Request(scope), BodyTooLarge(limit, int(declared)))
            response.headers["Connection"] = "close"
            await response(scope, receive, send)
            return
        seen = 0

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, counting_receive, send)
