"""modelreg — a self-hosted model registry for teams that train their own models.

    import modelreg
    reg = modelreg.connect()                      # ~/.modelreg: SQLite + local files
    v = reg.register_version("fire-detector", files="runs/train/weights", metrics={"map50": 0.91})
    reg.activate("fire-detector:3"); reg.rollback("fire-detector")
    path = reg.resolve("fire-detector@production", "weights/best.pt")
"""

from modelreg.client import connect
from modelreg.config import Settings
from modelreg.errors import (
    AliasNotFound,
    AlreadyExists,
    ArtifactNotFound,
    BlobNotFound,
    Conflict,
    GateFailed,
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
    PermissionDenied,
    ProjectNotFound,
    StorageError,
    Unauthenticated,
    VersionInUse,
    VersionNotFound,
)
from modelreg.refs import Ref, parse_ref
from modelreg.service import Run, Service
from modelreg.types import (
    AliasInfo,
    AliasMove,
    Artifact,
    ClassMetric,
    Comparison,
    Epoch,
    Event,
    FsckReport,
    GcReport,
    ImportReport,
    Lineage,
    Model,
    Page,
    Policies,
    Project,
    PromotionPlan,
    Version,
)

Registry = Service
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
    "Event",
    "FsckReport",
    "GateFailed",
    "GcReport",
    "ImportReport",
    "IntegrityError",
    "InvalidArtifactPath",
    "InvalidFilter",
    "InvalidInput",
    "InvalidMetadata",
    "InvalidName",
    "InvalidReference",
    "InvalidState",
    "Lineage",
    "Model",
    "ModelNotFound",
    "ModelregError",
    "NotFound",
    "NothingToRollBack",
    "Page",
    "PermissionDenied",
    "Policies",
    "Project",
    "ProjectNotFound",
    "PromotionPlan",
    "Ref",
    "Registry",
    "Run",
    "Settings",
    "StorageError",
    "Unauthenticated",
    "Version",
    "VersionInUse",
    "VersionNotFound",
    "__version__",
    "connect",
    "parse_ref",
]
