"""What a server process shares between requests: the two stores (opened once), the settings, the token cache.

Each request gets its own ``Service`` over these (``auth.registry``), acting as the principal its bearer
token names. The stores are safe to share between threads (the metadata store's contract).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime

from modelreg.blobs.base import BlobStore, open_blob_store
from modelreg.config import Settings
from modelreg.metadata.base import MetadataStore, open_metadata_store
from modelreg.service import Context, Service
from modelreg.service.tokens import hash_secret
from modelreg.types import Role, TokenInfo

DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024


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
    tokens: TokenCache = field(default_factory=TokenCache)
    reads: ReadCache = field(default_factory=ReadCache)

    def service(self, *, actor: str | None = None, role: Role = "admin", project: str | None = None,
                settings: Settings | None = None) -> Service:
        """A Service acting as the given principal (default: the settings' actor, as admin)."""
        return Service(Context(meta=self.meta, blobs=self.blobs, settings=settings or self.settings,
                               actor=actor or "", role=role, project_scope=project))

    def close(self) -> None:
        if self.owned:
            self.meta.close()


def open_state(settings: Settings, *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
               require_auth: bool = False) -> ServerState:
    """Open the stores the settings name (migrating the database) for a server process."""
    if settings.database_url is None:
        settings.home.mkdir(parents=True, exist_ok=True)
    meta = open_metadata_store(settings.resolved_database_url)
    try:
        blobs = open_blob_store(settings.resolved_artifacts, s3_endpoint_url=settings.s3_endpoint_url)
    except BaseException:
        meta.close()
        raise
    return ServerState(settings=settings, meta=meta, blobs=blobs, max_body_bytes=max_body_bytes,
                       require_auth=require_auth)
