"""The whole error tree of modelreg.

Every error carries a stable ``code`` (used on the wire and in the CLI), the
HTTP status that fits it, a message that says what to do next, and the
structured facts (``details``) a program can act on.

    ModelregError                       500 internal
    ├── InvalidInput                    422 invalid_input
    │   ├── InvalidName                 422 invalid_name
    │   ├── InvalidReference            422 invalid_reference
    │   ├── InvalidArtifactPath         422 invalid_artifact_path
    │   ├── InvalidMetadata             422 invalid_metadata
    │   ├── InvalidFilter               422 invalid_filter
    │   ├── NoWeights                   422 no_weights        (nothing in the version to export from)
    │   └── UntrustedSource             422 untrusted_source  (unpickling would run code; needs trusted=True)
    ├── NotFound                        404 not_found
    │   ├── ProjectNotFound             404 project_not_found
    │   ├── ModelNotFound               404 model_not_found
    │   ├── VersionNotFound             404 version_not_found
    │   ├── AliasNotFound               404 alias_not_found
    │   ├── ArtifactNotFound            404 artifact_not_found
    │   ├── BlobNotFound                404 blob_not_found
    │   └── InferenceNotFound           404 inference_not_found
    ├── Conflict                        409 conflict
    │   ├── AlreadyExists               409 already_exists
    │   ├── VersionInUse                409 version_in_use
    │   ├── InvalidState                409 invalid_state
    │   ├── NothingToRollBack           409 nothing_to_roll_back
    │   └── GateFailed                  409 gate_failed
    ├── ExportFailed                    422 export_failed
    │   ├── UnsupportedOperator         422 unsupported_operator  (details: operator, format)
    │   ├── PlatformUnsupported         422 platform_unsupported  (e.g. running Core ML off macOS)
    │   ├── ExportOutOfMemory           507 out_of_memory
    │   └── ToolchainMissing            501 toolchain_missing     (details: format, missing, extra, install)
    ├── PermissionDenied                403 permission_denied
    ├── Unauthenticated                 401 unauthenticated
    ├── IntegrityError                  500 integrity_error   (a blob does not match its digest)
    └── StorageError                    503 storage_error     (a store could not be reached or written)
"""

from __future__ import annotations

from typing import Any, ClassVar

from modelreg.steps import PYTHON_WORDS, hint_for


class ModelregError(Exception):
    """Base of every error modelreg raises on purpose."""

    code: ClassVar[str] = "internal"
    http_status: ClassVar[int] = 500

    def __init__(self, message: str, *, hint: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = {k: v for k, v in details.items() if v is not None}
        # A next step given as facts (``details["step"]``, see modelreg.steps) is written in the SDK's words here;
        # the CLI and the REST API write it in theirs.
        self.hint = hint_for(self.details, PYTHON_WORDS, hint)

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} ({self.hint})"

    def to_dict(self) -> dict[str, Any]:
        """The error envelope body: ``{"code", "message", "details"}``."""
        details = dict(self.details)
        if self.hint:
            details["hint"] = self.hint
        return {"code": self.code, "message": self.message, "details": details}


class InvalidInput(ModelregError):
    code = "invalid_input"
    http_status = 422


class InvalidName(InvalidInput):
    code = "invalid_name"


class InvalidReference(InvalidInput):
    code = "invalid_reference"


class InvalidArtifactPath(InvalidInput):
    code = "invalid_artifact_path"


class InvalidMetadata(InvalidInput):
    code = "invalid_metadata"


class InvalidFilter(InvalidInput):
    code = "invalid_filter"


class NotFound(ModelregError):
    code = "not_found"
    http_status = 404


class ProjectNotFound(NotFound):
    code = "project_not_found"


class ModelNotFound(NotFound):
    code = "model_not_found"


class VersionNotFound(NotFound):
    code = "version_not_found"


class AliasNotFound(NotFound):
    code = "alias_not_found"


class ArtifactNotFound(NotFound):
    code = "artifact_not_found"


class BlobNotFound(NotFound):
    code = "blob_not_found"


class InferenceNotFound(NotFound):
    code = "inference_not_found"


class Conflict(ModelregError):
    code = "conflict"
    http_status = 409


class AlreadyExists(Conflict):
    code = "already_exists"


class VersionInUse(Conflict):
    """A version that an alias points to, or that is pinned, cannot be deleted."""

    code = "version_in_use"


class InvalidState(Conflict):
    code = "invalid_state"


class NothingToRollBack(Conflict):
    code = "nothing_to_roll_back"


class GateFailed(Conflict):
    code = "gate_failed"


class NoWeights(InvalidInput):
    code = "no_weights"


class UntrustedSource(InvalidInput):
    code = "untrusted_source"


class ExportFailed(ModelregError):
    """An export could not be made; nothing was stored."""

    code = "export_failed"
    http_status = 422


class UnsupportedOperator(ExportFailed):
    code = "unsupported_operator"


class PlatformUnsupported(ExportFailed):
    code = "platform_unsupported"


class ExportOutOfMemory(ExportFailed):
    code = "out_of_memory"
    http_status = 507


class ToolchainMissing(ExportFailed):
    """The format's packages are not installed where the registry runs.

    ``details``: ``format``, ``missing`` (the distributions), ``extra`` (``onnx``: ``modelreg[onnx]``
    installs them) and ``install`` (the pip command, torch pinned by the extra). Over a server they are
    missing on the server, and that is where to install them.
    """

    code = "toolchain_missing"
    http_status = 501


class PermissionDenied(ModelregError):
    code = "permission_denied"
    http_status = 403


class Unauthenticated(ModelregError):
    code = "unauthenticated"
    http_status = 401


class IntegrityError(ModelregError):
    code = "integrity_error"
    http_status = 500


class StorageError(ModelregError):
    code = "storage_error"
    http_status = 503


def _all_error_classes() -> dict[str, type[ModelregError]]:
    found: dict[str, type[ModelregError]] = {}
    stack: list[type[ModelregError]] = [ModelregError]
    while stack:
        cls = stack.pop()
        found[cls.code] = cls
        stack.extend(cls.__subclasses__())
    return found


ERRORS_BY_CODE: dict[str, type[ModelregError]] = _all_error_classes()


def error_from_dict(body: dict[str, Any]) -> ModelregError:
    """Rebuild the error class from an envelope body (used by the HTTP client)."""
    cls = ERRORS_BY_CODE.get(str(body.get("code", "")), ModelregError)
    details = dict(body.get("details") or {})
    hint = details.pop("hint", None)
    return cls(str(body.get("message", "unknown error")), hint=hint, **details)
