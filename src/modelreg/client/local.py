"""``connect()``: open the embedded registry (SQLite + local blobs by default), scale-out stores, or a server."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from modelreg.blobs.base import open_blob_store
from modelreg.config import TOKEN_ENV, URL_ENV, Settings
from modelreg.errors import InvalidInput
from modelreg.metadata.base import open_metadata_store
from modelreg.service import Context, Service

if TYPE_CHECKING:
    from modelreg.registry import Registry

_DB_SCHEMES = ("sqlite:", "postgresql:", "postgresql+psycopg:", "postgres:", "memory:")



def connect(url: str | None = None, *, artifacts: str | None = None, token: str | None = None,
            home: str | os.PathLike[str] | None = None, actor: str | None = None,
            settings: Settings | None = None, environ: Mapping[str, str] | None = None) -> Registry:
    """Open a registry.

    - ``connect()``: the server ``MODELREG_URL`` names (with ``MODELREG_TOKEN``) when it is set, as the
      CLI does; otherwise the embedded default under ``$MODELREG_HOME`` (``~/.modelreg``): SQLite + local files.
    - ``connect("postgresql://…", artifacts="/srv/blobs")``: scale-out stores directly.
    - ``connect(home="/tmp/reg")``: the embedded default somewhere else.
    - ``connect("memory://")``: an in-memory registry (tests, notebooks).
    - ``connect("http://host:8080", token="mr_…")``: a modelreg server (``HttpRegistry``, the same interface).

    An explicit argument always wins over ``MODELREG_URL`` (``url``, ``home``, ``artifacts`` or ``settings``
    choose the registry themselves). ``repr(reg)`` says which registry it is. Settings come from
    ``settings`` or the environment (``MODELREG_*``, ``MODEL_ENVIRONMENT``); a server's token from
    ``token`` or ``MODELREG_TOKEN``.
    """
    env = os.environ if environ is None else environ
    base = settings or Settings.from_env(env)
    if url is None and home is None and artifacts is None and settings is None:
        url = env.get(URL_ENV, "").strip() or None
    if url and url.startswith(("http://", "https://")):
        from modelreg.client.http import HttpRegistry

        changes: dict[str, object] = {"actor": actor}
        if home is not None:
            changes["home"] = Path(home).expanduser()
        if artifacts is not None:
            raise InvalidInput("artifacts= names the blob store of an embedded registry; a server has its own",
                               hint="drop artifacts= when connecting to a server", url=url)
        if token is None:
            token = env.get(TOKEN_ENV, "").strip() or None
        return HttpRegistry(url, token=token, settings=base.with_overrides(**changes))
    if url and not url.startswith(_DB_SCHEMES):
        raise InvalidInput(f"cannot connect to {url!r}",
                           hint="use sqlite:///path.db, postgresql://user@host/db, memory:// or http://host:8080",
                           url=url)
    changes = {"database_url": url, "artifacts": artifacts, "actor": actor}
    if home is not None:
        changes["home"] = Path(home).expanduser()
    resolved = base.with_overrides(**changes)
    if url and url.startswith("memory:") and artifacts is None:
        resolved = resolved.with_overrides(artifacts="memory://")
    if resolved.database_url is None:
        resolved.home.mkdir(parents=True, exist_ok=True)
    meta = open_metadata_store(resolved.resolved_database_url)
    try:
        blobs = open_blob_store(resolved.resolved_artifacts, s3_endpoint_url=resolved.s3_endpoint_url)
    except BaseException:
        meta.close()
        raise
    del token  # tokens authenticate against a server; the embedded registry acts as the local user
    return Service(Context(meta=meta, blobs=blobs, settings=resolved))
