"""What a server process shares between requests: the two stores (opened once), the settings, the token cache.

Each request gets its own ``Service`` over these (``auth.registry``), acting as the principal its bearer
token names. The stores are safe to share between threads (the metadata store's contract).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

import anyio

from modelreg.blobs.base import BlobStore, open_blob_store
from modelreg.config import DEFAULT_BODY_TIMEOUT_S, DEFAULT_MAX_BODY_BYTES, Settings
from modelreg.metadata.base import MetadataStore, open_metadata_store
from modelreg.service import Context, Service
from modelreg.service.tokens import hash_secret
from modelreg.types import Role, TokenInfo

UPLOAD_THREADS = 16  # threads that store large uploads, apart from the pool every other request uses


class TokenCache:
    """Token lookups reused while the metadata store reports no commit (its ``change_token``).

    A revocation or a new token is a commit, so it is seen by the next request; expiry is checked on
    every use. Stores without a change token (PostgreSQL) are asked every time.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._version: object | None = None
        self._has_tokens: bool | None = None
        self._by_hash: dict[str, TokenInfo] = {}

    def _current(self, token: object | None) -> bool:
        """Whether the cached entries still hold for ``token``; clears them when not (call under the lock)."""
        if token is None:
            return False
        if token != self._version:
            self._version, self._has_tokens, self._by_hash = token, None, {}
        return True

    def peek_has_tokens(self, meta: MetadataStore) -> bool | None:
        """The cached answer, or None when it has to be looked up (cheap enough for the event loop)."""
        token = meta.change_token()
        with self._lock:
            return self._has_tokens if self._current(token) else None

    def peek(self, meta: MetadataStore, secret: str, now: datetime) -> TokenInfo | None:
        token = meta.change_token()
        with self._lock:
            hit = self._by_hash.get(hash_secret(secret)) if self._current(token) else None
        return hit if hit is not None and hit.active_at(now) else None

    def has_tokens(self, service: Service) -> bool:
        token = service.ctx.meta.change_token()
        value = service.has_tokens()
        with self._lock:
            if self._current(token):
                self._has_tokens = value
        return value

    def authenticate(self, service: Service, secret: str) -> TokenInfo:
        token = service.ctx.meta.change_token()
        info = service.authenticate(secret)  # raises Unauthenticated with the reason
        with self._lock:
            if self._current(token):
                self._by_hash[hash_secret(secret)] = info
        return info


class ReadCache:
    """Replies to hot reads (resolving a version), reused while the metadata store reports no commit.

    Keyed by what decides the answer: the path, the principal's project scope and MODEL_ENVIRONMENT.
    Any commit, by any process, changes the store's ``change_token`` and empties the cache; stores
    without one (PostgreSQL) are never cached.
    """

    def __init__(self, max_entries: int = 4096) -> None:
        self._lock = threading.Lock()
        self._version: object | None = None
        self._entries: dict[tuple[object, ...], bytes] = {}
        self._max = max_entries

    def get(self, token: object | None, key: tuple[object, ...]) -> bytes | None:
        if token is None:
            return None
        with self._lock:
            return self._entries.get(key) if token == self._version else None

    def put(self, token: object | None, key: tuple[object, ...], body: bytes) -> None:
        if token is None:
            return
        with self._lock:
            if token != self._version:
                self._version, self._entries = token, {}
            if len(self._entries) >= self._max:
                self._entries.clear()
            self._entries[key] = body


@dataclass(frozen=True)
class ServeOptions:
    """How ``modelreg serve`` was started (not the registry's settings); carried to uvicorn's worker
    processes as environment variables, each declared once in ``OPTION_ENV``."""

    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    require_auth: bool = False  # refuse requests without a token even while none exists
    body_timeout_s: float = DEFAULT_BODY_TIMEOUT_S
    bind_host: str = "127.0.0.1"
    allowed_hosts: tuple[str, ...] = ()

    def to_env(self) -> dict[str, str]:
        values = {"max_body_bytes": str(self.max_body_bytes), "require_auth": "1" if self.require_auth else "0",
                  "body_timeout_s": repr(self.body_timeout_s), "bind_host": self.bind_host,
                  "allowed_hosts": ",".join(self.allowed_hosts)}
        return {OPTION_ENV[name]: value for name, value in values.items()}

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ServeOptions:
        """The options a worker process was given (absent or unreadable values keep their defaults)."""
        raw = {name: environ.get(var, "").strip() for name, var in OPTION_ENV.items()}
        defaults = cls()
        timeout = raw["body_timeout_s"]
        return cls(
            max_body_bytes=int(raw["max_body_bytes"]) if raw["max_body_bytes"].isdigit() else defaults.max_body_bytes,
            require_auth=raw["require_auth"].lower() in ("1", "true", "yes"),
            body_timeout_s=float(timeout) if timeout.replace(".", "", 1).isdigit() else defaults.body_timeout_s,
            bind_host=raw["bind_host"] or defaults.bind_host,
            allowed_hosts=tuple(h.strip().lower() for h in raw["allowed_hosts"].split(",") if h.strip()))


OPTION_ENV: dict[str, str] = {
    "max_body_bytes": "MODELREG_MAX_BODY_BYTES",
    "require_auth": "MODELREG_REQUIRE_AUTH",
    "body_timeout_s": "MODELREG_BODY_TIMEOUT",
    "bind_host": "MODELREG_BIND_HOST",
    "allowed_hosts": "MODELREG_ALLOWED_HOSTS",
}


@dataclass
class ServerState:
    """The stores and settings of one server process. ``require_auth``: refuse requests without a token
    even while no token exists (a server bound beyond loopback must never fall back to open access)."""

    settings: Settings
    meta: MetadataStore
    blobs: BlobStore
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    require_auth: bool = False
    owned: bool = True  # close the stores when the app shuts down
    body_timeout_s: float = DEFAULT_BODY_TIMEOUT_S
    bind_host: str = "127.0.0.1"  # the address served; a token-less server answers Host values of it
    allowed_hosts: tuple[str, ...] = ()  # Host names a token-less server answers besides loopback ones
    tokens: TokenCache = field(default_factory=TokenCache)
    reads: ReadCache = field(default_factory=ReadCache)
    _uploads: anyio.CapacityLimiter | None = field(default=None, repr=False)

    def upload_limiter(self) -> anyio.CapacityLimiter:
        """The thread pool of large uploads (created on first use, inside the event loop)."""
        if self._uploads is None:
            self._uploads = anyio.CapacityLimiter(UPLOAD_THREADS)
        return self._uploads

    def service(self, *, actor: str | None = None, role: Role = "admin", project: str | None = None,
                settings: Settings | None = None) -> Service:
        """A Service acting as the given principal (default: the settings' actor, as admin)."""
        return Service(Context(meta=self.meta, blobs=self.blobs, settings=settings or self.settings,
                               actor=actor or "", role=role, project_scope=project))

    def close(self) -> None:
        if self.owned:
            self.meta.close()


def open_state(settings: Settings, options: ServeOptions | None = None) -> ServerState:
    """Open the stores the settings name (migrating the database) for a server process."""
    opts = options or ServeOptions()
    if settings.database_url is None:
        settings.home.mkdir(parents=True, exist_ok=True)
    meta = open_metadata_store(settings.resolved_database_url)
    try:
        blobs = open_blob_store(settings.resolved_artifacts, s3_endpoint_url=settings.s3_endpoint_url)
    except BaseException:
        meta.close()
        raise
    return ServerState(settings=settings, meta=meta, blobs=blobs, max_body_bytes=opts.max_body_bytes,
                       require_auth=opts.require_auth, body_timeout_s=opts.body_timeout_s, bind_host=opts.bind_host,
                       allowed_hosts=opts.allowed_hosts)
