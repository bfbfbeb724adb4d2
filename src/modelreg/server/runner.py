"""Running the app on uvicorn, with Nagle's algorithm off on every connection whatever the worker count.

uvicorn issue 3149: with ``--workers N`` the supervisor binds the listening socket itself, with ``proto``
0; accepted sockets inherit it, and asyncio's loop only sets ``TCP_NODELAY`` on sockets reporting
``IPPROTO_TCP``. Nagle's algorithm then holds each small response on a reused connection until the
client's delayed ACK: ~44 ms per keep-alive request (measured here). uvloop sets the option itself, but
it is optional (``--loop asyncio``, platforms without it). The HTTP protocol classes below set
``TCP_NODELAY`` on every accepted connection, so any loop and any worker count answer alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import socket
from collections.abc import Mapping

from uvicorn.protocols.http.h11_impl import H11Protocol

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # pragma: no cover - httptools is part of uvicorn[standard]
    HttpToolsProtocol = None  # type: ignore[assignment,misc]

APP_FACTORY = "modelreg.server.app:create_app_from_environ"


def set_nodelay(transport: asyncio.BaseTransport) -> None:
    """Turn Nagle's algorithm off for the connection behind ``transport`` (TCP only; others are left)."""
    sock = transport.get_extra_info("socket")
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class NoDelayH11Protocol(H11Protocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        set_nodelay(transport)
        super().connection_made(transport)


if HttpToolsProtocol is not None:

    class NoDelayHttpToolsProtocol(HttpToolsProtocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            set_nodelay(transport)
            super().connection_made(transport)


def http_protocol() -> str:
    """The import path of the HTTP protocol class uvicorn loads in each worker."""
    name = "NoDelayHttpToolsProtocol" if HttpToolsProtocol is not None else "NoDelayH11Protocol"
    return f"{__name__}:{name}"


def is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def run(*, host: str, port: int, workers: int, environ: Mapping[str, str], loop: str = "auto",
        log_level: str = "info", access_log: bool = True) -> None:
    """Serve until interrupted. ``environ`` is applied to this process first: the workers inherit it."""
    import uvicorn

    os.environ.update(environ)
    uvicorn.run(APP_FACTORY, factory=True, host=host, port=port, workers=workers, http=http_protocol(),
                loop=loop, log_level=log_level, access_log=access_log, proxy_headers=True, server_header=False,
                timeout_graceful_shutdown=10)
