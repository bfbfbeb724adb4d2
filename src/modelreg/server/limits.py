"""Limits on request bodies: their size on JSON endpoints (413) and how long they may go quiet (408).

- ``max_body_bytes`` (default 16 MiB): blob uploads (``/api/v1/blobs/``) are streamed into the blob store
  and not limited here. A declared ``Content-Length`` over the limit is refused before the body is read;
  a chunked body is counted as it arrives and refused when it passes the limit.
- ``body_timeout_s`` (default 30 s): a body that sends nothing for that long, on any endpoint, is refused
  with 408 and the connection is closed, so idle uploads cannot hold the server's resources. Only the
  body is timed: once it has arrived whole, waiting (for a client's disconnect during a long download)
  is not.
"""

from __future__ import annotations

import anyio
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


class BodyTimeout(HTTPException):
    def __init__(self, seconds: float) -> None:
        super().__init__(408, f"the request body sent nothing for {seconds:g} s; nothing was kept "
                              "(send it again; the server's limit is modelreg serve --body-timeout)",
                         headers={"Connection": "close"})


class BodyLimit:
    """The limits are the served state's ``max_body_bytes`` and ``body_timeout_s`` (``modelreg serve``)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        server = scope["app"].state.server
        limit: int | None = None if str(scope.get("path", "")).startswith(UNLIMITED_PREFIXES) else \
            server.max_body_bytes
        timeout: float = server.body_timeout_s
        declared = Headers(scope=scope).get("content-length")
        if limit is not None and declared is not None and declared.isdigit() and int(declared) > limit:
            response = error_response(Request(scope), BodyTooLarge(limit, int(declared)))
            response.headers["Connection"] = "close"
            await response(scope, receive, send)
            return
        seen = 0
        body_done = False

        async def guarded_receive() -> Message:
            nonlocal seen, body_done
            if body_done:
                return await receive()
            try:
                with anyio.fail_after(timeout):
                    message = await receive()
            except TimeoutError:
                raise BodyTimeout(timeout) from None
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                body_done = not message.get("more_body", False)
                if limit is not None and seen > limit:
                    raise BodyTooLarge(limit)
            else:
                body_done = True
            return message

        await self.app(scope, guarded_receive, send)
