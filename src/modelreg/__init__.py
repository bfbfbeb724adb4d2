"""modelreg — a self-hosted model registry for teams that train their own models.

    import modelreg
    reg = modelreg.connect()                      # ~/.modelreg: SQLite + local files
    v = reg.register_version("fire-detector", files="runs/train/weights", metrics={"map50": 0.91})
    reg.activate("fire-detector:3"); reg.rollback("fire-detector")
    path = reg.resolve("fire-detector@production", "weights/best.pt")
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelreg.client import connect
    from modelreg.config import Settings
    from modelreg.errors import (
        AliasNotFound,
        AlreadyExists,
        ArtifactNotFound,
        BlobNotFound,
        Conflict,
        ExportFailed,
        ExportOutOfMemory,
        GateFailed,
        InferenceNotFound,
        IntegrityError,
        InvalidArtifactPath,
        InvalidFilter,
        InvalidInput,
        InvalidMetadata,
        InvalidName,
        InvalidReference,
        InvalidState,
        ModelNotFound,
        ModelregError,
        NotFound,
        NothingToRollBack,
        NoWeights,
        PermissionDenied,
        PlatformUnsupported,
        ProjectNotFound,
        StorageError,
        ToolchainMissing,
        Unauthenticated,
        UnsupportedOperator,
        UntrustedSource,
        VersionInUse,
        VersionNotFound,
    )
    from modelreg.export.job import ExportOptions
    from modelreg.local.inference_log import InferenceLogger
    from modelreg.local.live import LiveModel, LiveResult
    from modelreg.refs import Ref, parse_ref
    from modelreg.registry import Registry
    from modelreg.service import Run
    from modelreg.types import (
        AliasInfo,
        AliasMove,
        Artifact,
        ClassMetric,
        Comparison,
        Epoch,
        Evaluation,
        Event,
        Export,
        Feedback,
        FeedbackExport,
        FsckReport,
        GcReport,
        ImportReport,
        InferenceBatch,
        InferencePage,
        InferenceRecord,
        InferenceStats,
        Job,
        JobError,
        Lineage,
        MetricPoint,
        Model,
        Page,
        Policies,
        Project,
        PromotionPlan,
        Version,
    )

__version__ = "0.1.0"

__all__ = [
    "AliasInfo",
    "AliasMove",
    "AliasNotFound",
    "AlreadyExists",
    "Artifact",
    "ArtifactNotFound",
    "BlobNotFound",
    "ClassMetric",
    "Comparison",
    "Conflict",
    "Epoch",
    "Evaluation",
    "Event",
    "Export",
    "ExportFailed",
    "ExportOptions",
    "ExportOutOfMemory",
    "Feedback",
    "FeedbackExport",
    "FsckReport",
    "GateFailed",
    "GcReport",
    "ImportReport",
    "InferenceBatch",
    "InferenceLogger",
    "InferenceNotFound",
    "InferencePage",
    "InferenceRecord",
    "InferenceStats",
    "IntegrityError",
    "InvalidArtifactPath",
    "InvalidFilter",
    "InvalidInput",
    "InvalidMetadata",
    "InvalidName",
    "InvalidReference",
    "InvalidState",
    "Job",
    "JobError",
    "Lineage",
    "LiveModel",
    "LiveResult",
    "MetricPoint",
    "Model",
    "ModelNotFound",
    "ModelregError",
    "NoWeights",
    "NotFound",
    "NothingToRollBack",
    "Page",
    "PermissionDenied",
    "PlatformUnsupported",
    "Policies",
    "Project",
    "ProjectNotFound",
    "PromotionPlan",
    "Ref",
    "Registry",
    "Run",
    "Settings",
    "StorageError",
    "ToolchainMissing",
    "Unauthenticated",
    "UnsupportedOperator",
    "UntrustedSource",
    "Version",
    "VersionInUse",
    "VersionNotFound",
    "__version__",
    "connect",
    "parse_ref",
]

# Where each public name lives. ``import modelreg`` loads none of them: a name is imported on first use
# (PEP 562), so ``import modelreg`` and a CLI command load only what they touch. The imports under
# TYPE_CHECKING above say the same for type checkers; tests/test_cli_imports.py keeps the three lists equal.
_ERRORS = ("AliasNotFound", "AlreadyExists", "ArtifactNotFound", "BlobNotFound", "Conflict", "ExportFailed",
           "ExportOutOfMemory", "GateFailed", "InferenceNotFound", "IntegrityError",
           "InvalidArtifactPath", "InvalidFilter",
           "InvalidInput", "InvalidMetadata", "InvalidName", "InvalidReference", "InvalidState", "ModelNotFound",
           "ModelregError", "NotFound", "NothingToRollBack", "NoWeights", "PermissionDenied",
           "PlatformUnsupported", "ProjectNotFound", "StorageError", "ToolchainMissing", "Unauthenticated",
           "UnsupportedOperator", "UntrustedSource", "VersionInUse", "VersionNotFound")
_TYPES = ("AliasInfo", "AliasMove", "Artifact", "ClassMetric", "Comparison", "Epoch", "Evaluation", "Event",
          "Export", "Feedback", "FeedbackExport", "FsckReport", "GcReport", "ImportReport", "InferenceBatch",
          "InferencePage", "InferenceRecord", "InferenceStats", "Job", "JobError", "Lineage", "MetricPoint", "Model",
          "Page", "Policies", "Project", "PromotionPlan", "Version")
_LAZY: dict[str, str] = {
    "connect": "modelreg.client",
    "Settings": "modelreg.config",
    **dict.fromkeys(_ERRORS, "modelreg.errors"),
    "ExportOptions": "modelreg.export.job",
    "InferenceLogger": "modelreg.local.inference_log",
    "LiveModel": "modelreg.local.live",
    "LiveResult": "modelreg.local.live",
    "Ref": "modelreg.refs",
    "parse_ref": "modelreg.refs",
    "Registry": "modelreg.registry",
    "Run": "modelreg.service",
    **dict.fromkeys(_TYPES, "modelreg.types"),
}


if not TYPE_CHECKING:  # type checkers read the imports above; a module __getattr__ would hide typos from them

    def __getattr__(name: str) -> Any:
        module = _LAZY.get(name)
        if module is None:
            raise AttributeError(f"module 'modelreg' has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value  # the next lookup is a plain attribute
        return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
