"""Wire shapes: request bodies (``…Create``, ``…Update``), a few responses, path references, JSON replies.

Responses are the domain types themselves (``modelreg.types``). Request bodies refuse unknown fields
(422). Metadata fields are passed to the service as they came, so a bad value gets the same error
class remotely as locally (``InvalidMetadata`` for a NaN metric, not a generic validation error).
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import Path
from pydantic import AliasChoices, BaseModel, ConfigDict, Field
from starlette.responses import Response

from modelreg.types import BestMode, Role, Task, TokenInfo

ANY_PROJECT = "-"

ProjectPath = Path(description="A project name; `-` for a reference without one (the SDK's `model` alone "
                               "means the `default` project).", examples=["default"])
ModelPath = Path(description="A model name.", examples=["fire-detector"])
VersionPath = Path(
    description="A version: `3` or `v3`, `latest`, `best`, `@alias` (e.g. `@production`), or `-` for the "
                "alias MODEL_ENVIRONMENT names (the `X-Modelreg-Environment` header, default production).",
    examples=["3"])


def ref_text(project: str, model: str, version: str | None = None) -> str:
    """The reference a resource path names, as text for the one parser (``modelreg.refs.parse_ref``)."""
    base = model if project == ANY_PROJECT else f"{project}/{model}"
    if version is None or version == ANY_PROJECT:
        return base
    if version.startswith("@"):
        return f"{base}{version}"
    return f"{base}:{version}"


def project_arg(project: str) -> str | None:
    return None if project == ANY_PROJECT else project


class JSONModel(Response):
    """A reply serialized by pydantic directly (no second validation of what the service returned)."""

    media_type = "application/json"


def reply(obj: BaseModel | list[Any], status_code: int = 200) -> JSONModel:
    if isinstance(obj, BaseModel):
        return JSONModel(obj.model_dump_json(), status_code=status_code)
    body = "[" + ",".join(item.model_dump_json() for item in obj) + "]"
    return JSONModel(body, status_code=status_code)


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---- projects
class ProjectCreate(Body):
    name: str
    description: str = ""
    labels: list[Any] | None = Field(default=None, description="The ordered class names of the project.")
    exist_ok: bool = False


class ProjectUpdate(Body):
    description: str | None = None
    labels: list[Any] | None = None


class LabelSet(Body):
    labels: list[Any]


# ---- models
class ModelPolicies(Body):
    best_metric: str | None = None
    best_mode: BestMode | None = None
    auto_activate_first: bool | None = None
    protected_aliases: list[str] | None = None
    promotion_gate: str | None = None


class ModelCreate(Body):
    name: str = Field(description="`name` or `project/name`.")
    project: str | None = None
    description: str = ""
    task: Task = "other"
    baseline: str | None = None
    tags: dict[str, Any] | None = None
    best_metric: str | None = None
    best_mode: BestMode = "max"
    auto_activate_first: bool = True
    protected_aliases: list[str] | None = None
    promotion_gate: str | None = None
    exist_ok: bool = False


class ModelUpdate(ModelPolicies):
    rename: str | None = None
    description: str | None = None
    task: Task | None = None
    baseline: str | None = None
    tags: dict[str, Any] | None = Field(default=None, description="Merged; a null value removes the tag.")
    pinned: bool | None = None


class ModelSearch(Body):
    query: str | None = Field(default=None, description="A filter expression: `name contains 'det'`.")
    project: str | None = None
    filter: dict[str, Any] | None = Field(default=None, description="The structured must/not filter.")
    sort: str = "name"
    limit: int = 50
    cursor: str | None = None


# ---- versions
class ArtifactIn(Body):
    path: str = Field(description="Relative path inside the version, e.g. `weights/best.pt`.")
    digest: str = Field(description="`sha256:<64 hex>` of a blob already uploaded with PUT /api/v1/blobs/{digest}.")
    size: int
    media_type: str | None = Field(default=None, description="Ignored: the server derives it from the path.")


class VersionMetadata(Body):
    metrics: dict[str, Any] | None = None
    class_metrics: list[Any] | None = None
    params: dict[str, Any] | None = None
    dataset: dict[str, Any] | None = None
    training: dict[str, Any] | None = None
    source: dict[str, Any] | None = None
    signature: dict[str, Any] | None = None
    description: str | None = None
    notes: str | None = None
    changelog: list[Any] | None = None
    limitations: str | None = None
    tags: dict[str, Any] | None = None
    extra: dict[str, Any] | None = None
    label: str | None = Field(default=None, description="A name unique in the model (`v4_no_leakage`), usable in "
                                                          "references (`model:v4_no_leakage`); `\"\"` removes it.")

    def given(self) -> dict[str, Any]:
        """The metadata fields sent (not the subclasses' other fields), as the service's keywords."""
        return {k: getattr(self, k) for k in VersionMetadata.model_fields if getattr(self, k) is not None}


class VersionCreate(VersionMetadata):
    artifacts: list[ArtifactIn] = Field(default_factory=list)
    parent: str | None = Field(default=None, description="A reference to the version this one derives from.")
    epochs: list[dict[str, Any]] | None = Field(default=None, description="Training history, one row per epoch.")


class VersionRegister(VersionCreate):
    model: str = Field(description="`model` or `project/model` (created on first use).")


class VersionUpdate(VersionMetadata):
    parent: str | None = None


class VersionSearch(Body):
    query: str | None = Field(default=None, description="A filter expression: `metrics.map50 >= 0.8 and not pinned`.")
    model: str | None = None
    project: str | None = None
    filter: dict[str, Any] | None = None
    sort: str | None = None
    limit: int = 50
    cursor: str | None = None


class Compare(Body):
    refs: list[str] | str = Field(validation_alias=AliasChoices("refs", "version_ids"),
                                  description="Two or more references (`version_ids` is accepted too).")


# ---- runs
class RunStart(Body):
    model: str
    params: dict[str, Any] | None = None
    parent: str | None = None
    description: str | None = None
    tags: dict[str, Any] | None = None
    dataset: dict[str, Any] | None = None
    source: dict[str, Any] | None = None


class EpochIn(Body):
    epoch: int | None = None
    metrics: dict[str, Any] = Field(default_factory=dict)


class RunFinish(VersionMetadata):
    artifacts: list[ArtifactIn] = Field(default_factory=list)


class RunFail(Body):
    error: str = Field(max_length=4000)


# ---- aliases
class AliasSet(Body):
    version: int | str = Field(description="The version to point at: `3`, `v3`, `latest`, `best` or `@staging`.")
    dry_run: bool = False


class DryRun(Body):
    dry_run: bool = False


class Promote(Body):
    src: str = Field(description="An alias (`staging`) or a version (`v5`) of the model.")
    dst: str = "production"
    dry_run: bool = False
    force: bool = False
    archive_previous: bool = True


# ---- maintenance and tokens
class GcRequest(Body):
    dry_run: bool = True
    grace_s: float = 3600.0
    temp_grace_s: float = 3600.0


class FsckRequest(Body):
    """Check only: repairing is uploading the original files again (``PUT /blobs``), done by the client."""

    verify: bool = True


class TokenCreate(Body):
    name: str
    role: Role
    project: str | None = None
    expires_in_s: float | None = None


class TokenCreated(BaseModel):
    token: TokenInfo
    secret: str = Field(description="Shown this once; the server keeps only its SHA-256.")


class TokensPurged(BaseModel):
    purged: list[str] = Field(description="The names of the tokens deleted.")


class AuthStatus(BaseModel):
    tokens_required: bool = Field(description="Whether requests need a bearer token.")


class Whoami(BaseModel):
    actor: str
    role: Role
    project: str | None = None


class Health(BaseModel):
    status: Literal["ok", "ready"]
    version: str
