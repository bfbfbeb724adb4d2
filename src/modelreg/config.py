"""Settings: one typed object, built at the entry points (``connect``, the CLI) and passed down.

Library code never reads ``os.environ``; ``Settings.from_env`` is called by the edges only.

| variable              | setting          | default                                   |
|-----------------------|------------------|-------------------------------------------|
| MODELREG_HOME         | home             | ~/.modelreg                               |
| MODELREG_DATABASE_URL | database_url     | sqlite:///$MODELREG_HOME/registry.db       |
| MODELREG_ARTIFACTS    | artifacts        | $MODELREG_HOME/blobs                      |
| MODELREG_CACHE        | cache_dir        | $MODELREG_HOME/cache                      |
| MODELREG_ACTOR        | actor            | the login name of the user                |
| MODEL_ENVIRONMENT     | model_environment| production                                |
| MODELREG_S3_ENDPOINT_URL | s3_endpoint_url | AWS S3 (an S3-compatible endpoint for s3:// artifacts) |
| MODELREG_EXPORT_MEMORY_LIMIT | export_memory_limit | half the machine's memory (each export child; e.g. 8GiB) |
"""

from __future__ import annotations

import getpass
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

SETTINGS_ENV: dict[str, str] = {
    "home": "MODELREG_HOME",
    "database_url": "MODELREG_DATABASE_URL",
    "artifacts": "MODELREG_ARTIFACTS",
    "cache_dir": "MODELREG_CACHE",
    "actor": "MODELREG_ACTOR",
    "model_environment": "MODEL_ENVIRONMENT",
    "s3_endpoint_url": "MODELREG_S3_ENDPOINT_URL",
    "export_memory_limit": "MODELREG_EXPORT_MEMORY_LIMIT",
}


# The server ``connect()`` and the CLI talk to when no registry is named, and its token.
URL_ENV = "MODELREG_URL"
TOKEN_ENV = "MODELREG_TOKEN"

# Defaults of ``modelreg serve``'s own limits (here so the CLI can show them without importing the server).
DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024  # the largest JSON request body
DEFAULT_BODY_TIMEOUT_S = 30.0  # a request body that sends nothing for this long is refused (408)


def _default_actor() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return "unknown"


@dataclass(frozen=True)
class Settings:
    """Where the registry keeps its data and who is acting."""

    home: Path = field(default_factory=lambda: Path("~/.modelreg").expanduser())
    database_url: str | None = None
    artifacts: str | None = None
    cache_dir: Path | None = None
    actor: str = field(default_factory=_default_actor)
    model_environment: str = "production"
    s3_endpoint_url: str | None = None
    export_memory_limit: int | None = None  # bytes each export child may allocate (None: half the machine)

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'registry.db'}"

    @property
    def resolved_artifacts(self) -> str:
        return self.artifacts or str(self.home / "blobs")

    @property
    def resolved_cache_dir(self) -> Path:
        return self.cache_dir or self.home / "cache"

    def with_overrides(self, **changes: object) -> Settings:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Build settings from an environment mapping (the edges pass ``os.environ``)."""
        values: dict[str, object] = {}
        for name, var in SETTINGS_ENV.items():
            raw = environ.get(var)
            if raw:
                values[name] = (Path(raw).expanduser() if name in ("home", "cache_dir") else
                                parse_size(raw, what=var) if name == "export_memory_limit" else raw)
        return cls(**values)  # type: ignore[arg-type]


def parse_size(text: str, *, what: str = "size") -> int:
    """``16MiB``, ``512k``, ``8G`` or plain bytes -> bytes (ValueError naming ``what`` otherwise)."""
    m = re.fullmatch(r"\s*(\d+)\s*([kmgt]?)(i?b)?\s*", text, re.I)
    if not m:
        raise ValueError(f"{what}={text!r} is not a size: e.g. 16MiB, 8GiB or 1048576")
    factor = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}[(m.group(2) or "").lower()]
    return int(m.group(1)) * factor
