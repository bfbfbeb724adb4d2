"""The dashboard's session: a signed, HttpOnly, SameSite=Strict cookie, and the CSRF token of its forms.

Signing in takes a token (the one ``modelreg tokens create`` printed); the cookie then carries it, signed with
the server's key (HMAC-SHA256) and with an expiry, so the browser never shows it in a page or a URL and a
script cannot read it. Every request re-checks the token itself, so revoking it ends its sessions at once.
A server without tokens (loopback) gives each browser a session with no token, only for the CSRF token.

The key: ``MODELREG_UI_SECRET`` if set (several hosts behind one name need the same), else a random key kept
in ``$MODELREG_HOME/ui-secret`` (created on first use, mode 0600), which every worker of one host shares.

CSRF: each session has a random nonce; its forms carry ``HMAC(key, nonce)``; a POST whose field does not
match is refused (403), as is any POST whose Origin is another site (``server.guard``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

COOKIE = "modelreg_session"
SECRET_ENV = "MODELREG_UI_SECRET"
SESSION_SECONDS = 12 * 3600
_KEY_FILE = "ui-secret"


def server_key(home: Path) -> bytes:
    """The key that signs sessions: from the environment, else the host's key file (made on first use)."""
    configured = os.environ.get(SECRET_ENV)
    if configured:
        return hashlib.sha256(configured.encode()).digest()
    path = home / _KEY_FILE
    try:
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    except (FileNotFoundError, ValueError):
        pass
    home.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    temp = path.with_name(f".{_KEY_FILE}.{os.getpid()}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(key.hex())
    try:
        os.link(temp, path)  # first writer wins: workers starting together agree on one key
    except FileExistsError:
        pass
    finally:
        temp.unlink(missing_ok=True)
    return bytes.fromhex(path.read_text(encoding="ascii").strip())


@dataclass(frozen=True)
class Session:
    """What a cookie says: the token signed in with (None on a token-less server), its nonce and expiry."""

    token: str | None
    nonce: str
    expires: int

    @staticmethod
    def new(token: str | None, now: float | None = None) -> Session:
        return Session(token=token, nonce=secrets.token_urlsafe(16),
                       expires=int((now or time.time()) + SESSION_SECONDS))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def seal(session: Session, key: bytes) -> str:
    """The cookie value: the session as JSON, then its signature."""
    payload = _b64(json.dumps({"t": session.token, "n": session.nonce, "e": session.expires},
                              separators=(",", ":")).encode())
    return f"{payload}.{_b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())}"


def unseal(value: str | None, key: bytes, now: float | None = None) -> Session | None:
    """The session a cookie holds; None when absent, altered, malformed or expired."""
    if not value or len(value) > 4096 or value.count(".") != 1:
        return None
    payload, signature = value.split(".")
    expected = _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(signature, expected):
        return None
    try:
        data = json.loads(_unb64(payload))
        session = Session(token=data["t"], nonce=str(data["n"]), expires=int(data["e"]))
    except (ValueError, KeyError, TypeError):
        return None
    if session.token is not None and not isinstance(session.token, str):
        return None
    return session if session.expires > (now or time.time()) else None


def csrf_token(session: Session, key: bytes) -> str:
    """The token every form of this session carries."""
    return hmac.new(key, f"csrf:{session.nonce}".encode(), hashlib.sha256).hexdigest()[:32]


def csrf_ok(session: Session | None, key: bytes, sent: str | None) -> bool:
    return session is not None and bool(sent) and hmac.compare_digest(csrf_token(session, key), str(sent))
