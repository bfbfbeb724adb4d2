"""Requests a browser could be tricked into sending: cross-site writes and DNS rebinding.

- **Cross-site writes.** A page on another site can make a browser POST a form (``text/plain``,
  ``application/x-www-form-urlencoded``, ``multipart/form-data``) to the server without asking it first.
  Every request that changes something (``POST``, ``PUT``, ``PATCH``, ``DELETE``) is therefore refused
  with 403 when it carries an ``Origin`` other than the server's own (or ``Sec-Fetch-Site: cross-site``),
  and API writes with one of those form content types are refused with 415: the API takes JSON (and
  blobs as ``application/octet-stream``), which a browser sends cross-site only after a CORS preflight
  the server never grants. Clients that are not browsers (the SDK, the CLI, curl) send no ``Origin``.
- **DNS rebinding.** While the server has no tokens it acts as an admin for whoever reaches it, which
  only loopback can. A site whose name resolves to 127.0.0.1 could still reach it through the victim's
  browser, with its own name in ``Host``. So a token-less server answers only requests whose ``Host`` is
  a loopback name or address, the address it was bound to, or one of ``--allowed-host``; a server bound
  to every interface with ``--insecure`` is reachable by anyone anyway and skips this check.
"""

from __future__ import annotations

import anyio.to_thread
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from modelreg.errors import InvalidInput, ModelregError, PermissionDenied
from modelreg.server.errors import ClientFault, error_response
from modelreg.server.runner import is_loopback
from modelreg.server.state import ServerState

MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
FORM_TYPES = ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data")
API_PREFIX = "/api/"
WILDCARD_BINDS = ("0.0.0.0", "::", "[::]")


def host_name(host_header: str) -> str:
    """The name or address in a ``Host`` header, without its port (``[::1]:8080`` -> ``::1``)."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host


def origin_netloc(origin: str) -> str | None:
    """``scheme://host[:port]`` of an ``Origin`` header as ``host[:port]``; None for ``null`` or garbage."""
    scheme, sep, rest = origin.strip().lower().partition("://")
    if not sep or scheme not in ("http", "https") or not rest or "/" in rest:
        return None
    return rest


def _cross_site(headers: Headers) -> str | None:
    """Why a write looks cross-site, or None."""
    origin = headers.get("origin")
    if headers.get("sec-fetch-site", "").lower() == "cross-site":
        return "the browser marked it cross-site (Sec-Fetch-Site)"
    if origin is None:
        return None
    host = headers.get("host", "").strip().lower()
    if origin_netloc(origin) != host:
        return f"its Origin {origin[:100]!r} is not this server ({host[:100]!r})"
    return None


def _form_type(headers: Headers) -> str | None:
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    return content_type if content_type in FORM_TYPES else None


async def _open_mode(server: ServerState) -> bool:
    """Whether the server acts for requests without a token (it has none and was not told to require one)."""
    if server.require_auth:
        return False
    has_tokens = server.tokens.peek_has_tokens(server.meta)
    if has_tokens is None:
        has_tokens = await anyio.to_thread.run_sync(server.tokens.has_tokens, server.service())
    return not has_tokens


def _host_allowed(name: str, server: ServerState) -> bool:
    return is_loopback(name) or name in server.allowed_hosts or name == host_name(server.bind_host)


class RequestGuard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = await self._refusal(scope)
        if refusal is not None:
            request = Request(scope)
            if isinstance(refusal, ModelregError) and not str(scope.get("path", "")).startswith(API_PREFIX):
                from modelreg.server.ui.context import error_page  # a browser on a dashboard page: the HTML page

                response = error_page(request, refusal)
            else:
                response = error_response(request, refusal)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    @staticmethod
    async def _refusal(scope: Scope) -> Exception | None:
        server: ServerState = scope["app"].state.server
        headers = Headers(scope=scope)
        if scope["method"] in MUTATING:
            why = _cross_site(headers)
            if why is not None:
                return PermissionDenied(f"cross-site request refused: {why}",
                                        hint="send API requests from a program (no Origin header) or from a "
                                             "page this server serves")
            form = _form_type(headers)
            if form is not None and str(scope.get("path", "")).startswith(API_PREFIX):
                return ClientFault(InvalidInput(f"the API does not take {form} bodies",
                                                hint="send JSON with Content-Type: application/json",
                                                content_type=form), status=415)
        name = host_name(headers.get("host", ""))
        if server.bind_host in WILDCARD_BINDS or _host_allowed(name, server):
            return None
        if await _open_mode(server):
            return PermissionDenied(f"this server has no tokens, so it answers requests for this machine only, "
                                    f"not for the host {name[:100]!r}",
                                    hint="use http://localhost:PORT, start it with --allowed-host NAME, or "
                                         "create a token: modelreg tokens create NAME --role admin")
        return None
