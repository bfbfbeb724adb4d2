"""The server's one error edge: every failure leaves as ``{"error": {"code", "message", "details"}}``.

- ``ModelregError``: its ``code``, message, details (with the hint) and ``http_status``.
- ``ClientFault``: a ``ModelregError`` caused by what the request sent (an upload that does not hash to
  its digest): the same envelope, with the status of a bad request (422).
- FastAPI's ``RequestValidationError`` (malformed JSON, unknown or mistyped fields): 422 ``invalid_input``,
  each problem listed under ``details.errors``.
- A JSON body that FastAPI could not parse for another reason (it answers a bare 400): bytes that are not
  UTF-8, nesting deeper than the JSON parser's stack, a number of thousands of digits. 422
  ``invalid_input`` saying which, as the docs promise for every malformed body.
- Starlette's ``HTTPException`` (no such route 404, wrong method 405, body too large 413): that status,
  code ``not_found`` for 404 and ``invalid_input`` for the other 4xx.
- Anything else: 500 ``internal`` with a ``request_id`` that is also in the server log with the
  traceback; the traceback never reaches the client.

``raise_for_error`` in ``modelreg.client.http`` rebuilds the same classes from the envelope.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelreg.errors import InvalidInput, ModelregError, StorageError
from modelreg.server.steps import REST_WORDS
from modelreg.steps import hint_for

log = logging.getLogger("modelreg.server")

# Statuses Starlette or the limits raise on their own; every other 4xx is invalid input.
_STATUS_CODES = {401: "unauthenticated", 403: "permission_denied", 404: "not_found", 409: "conflict"}


class ClientFault(Exception):
    """A registry error whose cause is the request itself: sent with ``status`` (default 422)."""

    def __init__(self, error: ModelregError, status: int = 422, headers: dict[str, str] | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.status = status
        self.headers = headers


def envelope(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def _validation_details(exc: RequestValidationError) -> tuple[str, list[dict[str, Any]]]:
    problems = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p != "body"]
        problems.append({"field": ".".join(loc) or None, "problem": str(err.get("msg", "")),
                         "type": str(err.get("type", ""))})
    if any(p["type"] == "json_invalid" for p in problems):
        return "the request body is not valid JSON", problems
    if any(p["type"] == "extra_forbidden" for p in problems):
        names = ", ".join(str(p["field"]) for p in problems if p["type"] == "extra_forbidden")
        return f"unknown field(s) in the request: {names}", problems
    first = problems[0] if problems else {"field": None, "problem": "invalid request"}
    where = f"{first['field']}: " if first["field"] else ""
    return f"invalid request: {where}{first['problem']}", problems


def _unreadable_body(exc: HTTPException) -> InvalidInput | None:
    """FastAPI's 400 for a JSON body it could not parse (other than a syntax error), as the 422 it is."""
    cause = exc.__cause__
    if exc.status_code != 400 or cause is None:
        return None
    if isinstance(cause, UnicodeDecodeError):
        return InvalidInput(f"the request body is not valid UTF-8 (byte {cause.start})",
                            hint="send JSON encoded as UTF-8", position=cause.start)
    if isinstance(cause, RecursionError):
        return InvalidInput("the request body nests too deeply to be read",
                            hint="send JSON whose lists and objects nest a few levels, not hundreds")
    if isinstance(cause, ValueError):
        return InvalidInput(f"the request body is not valid JSON: {str(cause)[:200]}",
                            hint="send a JSON object as the API reference describes it")
    return None


def rest_words(exc: ModelregError) -> dict[str, Any]:
    """The envelope body of a registry error, its next step written as a request (``details.step`` stays)."""
    body = exc.to_dict()
    hint = hint_for(exc.details, REST_WORDS, exc.hint)
    if hint:
        body["details"]["hint"] = hint
    return body


def error_response(request: Request | None, exc: BaseException) -> Response:
    """The envelope response for any exception (the single place errors are translated)."""
    if isinstance(exc, ClientFault):
        return JSONResponse(envelope(**rest_words(exc.error)), status_code=exc.status, headers=exc.headers)
    if isinstance(exc, StorageError):
        return _storage_response(request, exc)
    if isinstance(exc, ModelregError):
        if exc.http_status >= 500:
            log.warning("%s: %s", exc.code, exc)
        return JSONResponse(envelope(**rest_words(exc)), status_code=exc.http_status)
    if isinstance(exc, RequestValidationError):
        message, problems = _validation_details(exc)
        return JSONResponse(envelope("invalid_input", message, {"errors": problems}), status_code=422)
    if isinstance(exc, HTTPException) and (unreadable := _unreadable_body(exc)) is not None:
        return JSONResponse(envelope(**unreadable.to_dict()), status_code=unreadable.http_status)
    if isinstance(exc, HTTPException):
        code = _STATUS_CODES.get(exc.status_code, "internal" if exc.status_code >= 500 else "invalid_input")
        message = exc.detail if isinstance(exc.detail, str) else "request refused"
        if exc.status_code == 404 and message == "Not Found":
            path = request.url.path if request is not None else "this path"
            message = f"no such endpoint: {path}"
        return JSONResponse(envelope(code, message), status_code=exc.status_code, headers=exc.headers)
    request_id = uuid.uuid4().hex[:16]
    where = f"{request.method} {request.url.path}" if request is not None else "a request"
    log.error("internal error %s while serving %s", request_id, where, exc_info=exc)
    return JSONResponse(envelope("internal", "internal error",
                                 {"request_id": request_id,
                                  "hint": "the server log has the details under this request id"}),
                        status_code=500, headers={"X-Request-ID": request_id})


def _storage_response(request: Request | None, exc: StorageError) -> Response:
    """A store that failed: the client learns that, and whether to retry; the paths, errno, database
    address and driver message it carries stay in the server log, under a request id."""
    request_id = uuid.uuid4().hex[:16]
    where = f"{request.method} {request.url.path}" if request is not None else "a request"
    log.error("storage error %s while serving %s: %s %s", request_id, where, exc, exc.details)
    details: dict[str, Any] = {"request_id": request_id,
                               "hint": "try again; if it persists, the server log has the details under this "
                                       "request id"}
    if exc.details.get("retryable"):
        details["retryable"] = True
    return JSONResponse(envelope(exc.code, "the server could not read or write its storage", details),
                        status_code=exc.http_status, headers={"X-Request-ID": request_id})


async def _handle(request: Request, exc: Exception) -> Response:
    return error_response(request, exc)


class CatchAll:
    """Outermost guard: an exception no handler took becomes the 500 envelope (logged once, not re-raised)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started:  # the status line is gone: the ASGI server logs it and drops the connection
                raise
            response = error_response(Request(scope), exc)
            await response(scope, receive, send)


def install(app: FastAPI) -> None:
    """Route every error of ``app`` through ``error_response``."""
    for cls in (ModelregError, ClientFault, RequestValidationError, HTTPException):
        app.add_exception_handler(cls, _handle)
    app.add_middleware(CatchAll)
