"""Wire shapes: request bodies (``…Create``, ``…Update``), a few responses, path references, JSON replies.

Responses are the domain types themselves (``modelreg.types``). Request bodies refuse unknown fields
(422). Metadata fields are passed to the service as they came, so a bad value gets the same error
class remotely as locally (``InvalidMetadata`` for a NaN metric, not a generic validation error).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, get_args, get_origin, get_type_hints

from fastapi import Path
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, create_model
from starlette.responses import Response

from modelreg.filters import NEXT_CURSOR_HEADER
from modelreg.types import VERSION_FIELDS, BestMode, PageJson, Role, Task, TokenInfo, VersionFields, version_field_help

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
    """``obj`` as JSON, the bytes pydantic writes handed over as they are (no ``str`` round trip)."""
    if isinstance(obj, BaseModel):
        return JSONModel(obj.__pydantic_serializer__.to_json(obj), status_code=status_code)
    body = b"[" + b",".join(item.__pydantic_serializer__.to_json(item) for item in obj) + b"]"
    return JSONModel(body, status_code=status_code)


def reply_page(page: PageJson) -> JSONModel:
    """A page a store wrote as JSON, sent as it is; its next cursor also in ``NEXT_CURSOR_HEADER``."""
    headers = {NEXT_CURSOR_HEADER: page.next_cursor} if page.next_cursor is not None else None
    return JSONModel(page.to_json(), headers=headers)


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
    trusted_sources: bool | None = Field(default=None, description="Exports load the model's pickled weights "
                                         "without `trusted` (admin).")
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


def _wire_type(hint: Any) -> Any:
    """A declared field's type as the wire takes it: any JSON of that shape; the service checks the rest, so a
    bad value gets the same error remotely as locally (``InvalidMetadata`` for a NaN metric)."""
    kinds = {get_origin(arg) or arg for arg in get_args(hint)} - {type(None)}
    if kinds & {Mapping, dict} or any(isinstance(k, type) and issubclass(k, BaseModel) for k in kinds):
        return dict[str, Any] | None
    if kinds & {Sequence, list}:
        return list[Any] | None
    return str | None


def _wire_fields() -> dict[str, Any]:
    hints = get_type_hints(VersionFields, include_extras=True)
    return {name: (_wire_type(hints[name].__origin__), Field(default=None, description=version_field_help(name)))
            for name in VERSION_FIELDS}


class FieldsBody(Body):
    """The version fields of ``modelreg.types.VersionFields``, each optional; built from that declaration."""

    def given(self) -> dict[str, Any]:
        """The version fields sent (not a subclass's other fields), as the service's keywords."""
        return {name: getattr(self, name) for name in VERSION_FIELDS if getattr(self, name, None) is not None}


if TYPE_CHECKING:
    VersionFieldsBody = FieldsBody
else:
    VersionFieldsBody = create_model("VersionFields", __base__=FieldsBody, __module__=__name__, **_wire_fields())


class VersionCreate(VersionFieldsBody):
    artifacts: list[ArtifactIn] = Field(default_factory=list)
    epochs: list[dict[str, Any]] | None = Field(default=None, description="Training history, one row per epoch.")
    config: dict[str, Any] | None = Field(
        default=None, description="An experiment manifest's content (kept in `params`): its `project` is the "
                                  "project when `model` names none, its `labels` must be the project's label set.")
    update_labels: bool = Field(default=False, description="Make the manifest's `labels` the project's label set.")


class VersionRegister(VersionCreate):
    model: str = Field(description="`model` or `project/model` (created on first use).")


class VersionUpdate(VersionFieldsBody):
    pass


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


class RunFinish(VersionFieldsBody):
    artifacts: list[ArtifactIn] = Field(default_factory=list)


class RunFail(Body):
    error: str = Field(max_length=4000)


# ---- evaluations
class EvaluationCreate(Body):
    dataset: str = Field(description="The dataset evaluated on, a name without '.': `night_images`.")
    # Any: a NaN or a text value reaches the service, which refuses it with InvalidMetadata as it does locally
    metrics: Any = Field(default_factory=dict, description="Metric name -> finite number: `{\"map50\": 0.81}`.")
    class_metrics: Any = Field(default=None, description="One row per class: class_name, ap, precision, recall.")
    notes: Any = ""
    digest: Any = Field(default="", description="Which copy of the dataset, optional: `sha256:3f2a…`, a tag.")


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
