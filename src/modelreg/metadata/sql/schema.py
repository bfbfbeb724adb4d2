"""The tables of the SQL metadata store (SQLAlchemy Core, one ``MetaData``).

Migrations in ``migrations/versions`` create these; ``HEAD_REVISION`` names the newest one so that
opening a store already at head costs one query and no Alembic import. A test checks that the
migrated database and these definitions agree.

Conventions: surrogate integer keys; names are unique columns; times are stored in UTC and returned
aware (``UtcDateTime``); text that is compared or sorted uses the byte order collation ("C" on
PostgreSQL, SQLite's default BINARY) so both databases order strings as Python does.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.types import TypeEngine

HEAD_REVISION = "0011"

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING)


def text_type(length: int | None = None) -> TypeEngine[str]:
    """Text compared in byte order on every database."""
    base = String(length) if length else Text()
    collated = String(length, collation="C") if length else Text(collation="C")
    return base.with_variant(collated, "postgresql")


# Id columns: BIGINT on PostgreSQL; plain INTEGER on SQLite, where only that is the rowid alias.
Id: TypeEngine[int] = BigInteger().with_variant(Integer(), "sqlite")
Json: TypeEngine[Any] = JSON(none_as_null=True)


class UtcDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out (SQLite keeps naive UTC text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


projects = Table(
    "projects", metadata,
    Column("id", Id, primary_key=True),
    Column("name", text_type(128), nullable=False, unique=True),
    Column("description", Text, nullable=False),
    Column("labels", Json, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("inference_retention", Json),  # {"days": n, "count": n} or NULL: keep every inference record
    sqlite_autoincrement=True,
)

models = Table(
    "models", metadata,
    Column("id", Id, primary_key=True),
    Column("project_id", Id, ForeignKey("projects.id"), nullable=False),
    Column("name", text_type(128), nullable=False),
    Column("description", text_type(), nullable=False),
    Column("task", text_type(32), nullable=False),
    Column("baseline", text_type(128)),
    Column("pinned", Boolean, nullable=False),
    Column("policies", Json, nullable=False),
    Column("marked_best", Integer),
    Column("latest_number", Integer, nullable=False),
    Column("version_count", Integer, nullable=False),  # kept by the store: a model's total without COUNT(*)
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    UniqueConstraint("project_id", "name"),
    sqlite_autoincrement=True,
)

model_tags = Table(
    "model_tags", metadata,
    Column("model_id", Id, ForeignKey("models.id", ondelete="CASCADE"), nullable=False),
    Column("key", text_type(128), nullable=False),
    Column("value", text_type(), nullable=False),
    PrimaryKeyConstraint("model_id", "key"),
    Index("ix_model_tags_key_value", "key", "value", "model_id"),
)

versions = Table(
    "versions", metadata,
    Column("id", Id, primary_key=True),
    Column("model_id", Id, ForeignKey("models.id"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("status", text_type(16), nullable=False),
    Column("archived", Boolean, nullable=False),
    Column("pinned", Boolean, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("created_by", text_type(), nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("label", text_type(128)),
    Column("description", text_type(), nullable=False),
    Column("notes", text_type(), nullable=False),
    Column("limitations", Text, nullable=False),
    Column("error", Text),
    Column("parent_id", Id, ForeignKey("versions.id", ondelete="SET NULL")),
    # The version's metrics and tags as shown (one read per page); searches use the side tables below.
    Column("metrics", Json, nullable=False),
    Column("tags", Json, nullable=False),
    Column("changelog", Json),
    Column("class_metrics", Json),
    Column("params", Json),
    Column("dataset", Json),
    Column("training", Json),
    Column("source", Json),
    Column("signature", Json),
    Column("extra", Json),
    # The version's JSON as a listing sends it, less what other rows decide (``version_json``); NULL: not
    # written yet (computed when read).
    Column("listing", Text),
    UniqueConstraint("model_id", "number"),
    Index("ix_versions_model_id_created_at", "model_id", "created_at", "id"),
    Index("ix_versions_parent_id", "parent_id"),
    Index("ix_versions_model_id_label", "model_id", "label", unique=True),
    Index("ix_versions_model_id_archived", "model_id", "archived"),
    sqlite_autoincrement=True,
)

# Metrics and tags of versions, one row per key. ``model_id`` repeats the version's (a version never
# changes model) so that a model's searches and counts are index range scans that never visit versions.
version_metrics = Table(
    "version_metrics", metadata,
    Column("version_id", Id, ForeignKey("versions.id", ondelete="CASCADE"), nullable=False),
    Column("model_id", Id, nullable=False),
    Column("key", text_type(128), nullable=False),
    Column("value", Float, nullable=False),
    PrimaryKeyConstraint("version_id", "key"),
    Index("ix_version_metrics_key_value", "key", "value", "version_id"),
    Index("ix_version_metrics_model_id_key_value", "model_id", "key", "value", "version_id"),
)

version_tags = Table(
    "version_tags", metadata,
    Column("version_id", Id, ForeignKey("versions.id", ondelete="CASCADE"), nullable=False),
    Column("model_id", Id, nullable=False),
    Column("key", text_type(128), nullable=False),
    Column("value", text_type(), nullable=False),
    PrimaryKeyConstraint("version_id", "key"),
    Index("ix_version_tags_key_value", "key", "value", "version_id"),
    Index("ix_version_tags_model_id_key_value", "model_id", "key", "value", "version_id"),
)

blobs = Table(
    "blobs", metadata,
    Column("digest", String(80), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("state", String(16), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

artifacts = Table(
    "artifacts", metadata,
    Column("id", Id, primary_key=True),
    Column("version_id", Id, ForeignKey("versions.id", ondelete="CASCADE"), nullable=False),
    Column("path", text_type(1024), nullable=False),
    Column("digest", String(80), ForeignKey("blobs.digest"), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("media_type", String(255), nullable=False),
    UniqueConstraint("version_id", "path"),
    Index("ix_artifacts_digest", "digest"),
)

aliases = Table(
    "aliases", metadata,
    Column("id", Id, primary_key=True),
    Column("model_id", Id, ForeignKey("models.id"), nullable=False),
    Column("name", text_type(128), nullable=False),
    # RESTRICT: a version an alias points to cannot be deleted (the store also says so first).
    Column("version_id", Id, ForeignKey("versions.id", ondelete="RESTRICT"), nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    UniqueConstraint("model_id", "name"),
    Index("ix_aliases_version_id", "version_id"),
)

alias_moves = Table(
    "alias_moves", metadata,
    Column("id", Id, primary_key=True),
    Column("model_id", Id, ForeignKey("models.id", ondelete="CASCADE"), nullable=False),
    Column("alias", text_type(128), nullable=False),
    Column("from_number", Integer),
    Column("to_number", Integer),
    Column("kind", String(16), nullable=False),
    Column("reverted", Boolean, nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("actor", Text, nullable=False),
    Index("ix_alias_moves_model_id_alias", "model_id", "alias", "id"),
    sqlite_autoincrement=True,
)

epochs = Table(
    "epochs", metadata,
    Column("version_id", Id, ForeignKey("versions.id", ondelete="CASCADE"), nullable=False),
    Column("epoch", Integer, nullable=False),
    Column("metrics", Json, nullable=False),
    Column("timestamp", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("version_id", "epoch"),
)

events = Table(
    "events", metadata,
    Column("id", Id, primary_key=True),
    Column("at", UtcDateTime, nullable=False),
    Column("actor", Text, nullable=False),
    Column("action", String(64), nullable=False),
    Column("project", text_type(128)),
    Column("model", text_type(128)),
    Column("version", Integer),
    Column("alias", text_type(128)),
    Column("before", Json),
    Column("after", Json),
    Index("ix_events_project_model_id", "project", "model", "id"),
    Index("ix_events_project_model_version_id", "project", "model", "version", "id"),
    Index("ix_events_action_id", "action", "id"),
    Index("ix_events_actor_id", "actor", "id"),
    sqlite_autoincrement=True,
)

# Exports: derived artifacts of a version. ``record`` holds the export's JSON (status, options, source,
# toolchain, parity, bench); its files reference blobs like artifacts do, so gc counts both tables.
exports = Table(
    "exports", metadata,
    Column("id", Id, primary_key=True),
    Column("version_id", Id, ForeignKey("versions.id", ondelete="CASCADE"), nullable=False),
    Column("format", String(32), nullable=False),
    Column("key", String(64), nullable=False),
    Column("record", Json, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    UniqueConstraint("version_id", "format", "key"),
    sqlite_autoincrement=True,
)

export_files = Table(
    "export_files", metadata,
    Column("export_id", Id, ForeignKey("exports.id", ondelete="CASCADE"), nullable=False),
    Column("path", text_type(1024), nullable=False),
    Column("digest", String(80), ForeignKey("blobs.digest"), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("media_type", String(255), nullable=False),
    PrimaryKeyConstraint("export_id", "path"),
    Index("ix_export_files_digest", "digest"),
)

# Jobs: background work on a version (exports), with their state. ``runner`` (host:pid) and ``heartbeat_at``
# tell a live job from one whose process stopped; ``export_id`` is the export it made (not a foreign key: a
# forced export may replace that row later).
jobs = Table(
    "jobs", metadata,
    Column("id", Id, primary_key=True),
    Column("version_id", Id, ForeignKey("versions.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("format", String(32), nullable=False),
    Column("options", Json, nullable=False),
    Column("trusted", Boolean, nullable=False),
    Column("force", Boolean, nullable=False),
    Column("source", text_type(1024)),
    Column("entry_point", Text),
    Column("status", String(16), nullable=False),
    Column("progress", Text, nullable=False),
    Column("export_id", Id),
    Column("error", Json),
    Column("created_by", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("started_at", UtcDateTime),
    Column("finished_at", UtcDateTime),
    Column("runner", String(255)),
    Column("heartbeat_at", UtcDateTime),
    Index("ix_jobs_version_id_id", "version_id", "id"),
    sqlite_autoincrement=True,
)

# Blob grants: a project that uploaded a blob may read it and register it by digest before any version
# of that project holds it (tokens limited to a project see only their project's blobs).
blob_grants = Table(
    "blob_grants", metadata,
    Column("digest", String(80), nullable=False),
    Column("project", text_type(128), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("digest", "project"),
)

# Evaluations: metrics of a version measured on a named dataset after training, one row per version and dataset
# (a new one replaces it). ``evaluation_metrics`` holds their numbers one row per (dataset, key), indexed like
# ``version_metrics``, so that ``eval.<dataset>.<metric>`` filters are index lookups on every database.
evaluations = Table(
    "evaluations", metadata,
    Column("version_id", Id, ForeignKey("versions.id", ondelete="CASCADE"), nullable=False),
    Column("dataset", text_type(128), nullable=False),
    Column("digest", Text, nullable=False),
    Column("metrics", Json, nullable=False),
    Column("class_metrics", Json, nullable=False),
    Column("notes", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("created_by", Text, nullable=False),
    PrimaryKeyConstraint("version_id", "dataset"),
)

evaluation_metrics = Table(
    "evaluation_metrics", metadata,
    Column("version_id", Id, ForeignKey("versions.id", ondelete="CASCADE"), nullable=False),
    Column("model_id", Id, nullable=False),
    Column("dataset", text_type(128), nullable=False),
    Column("key", text_type(128), nullable=False),
    Column("value", Float, nullable=False),
    PrimaryKeyConstraint("version_id", "dataset", "key"),
    Index("ix_evaluation_metrics_dataset_key_value", "dataset", "key", "value", "version_id"),
    Index("ix_evaluation_metrics_model_id_dataset_key_value", "model_id", "dataset", "key", "value", "version_id"),
)

# Inference records: one row per request a version answered, newest feedback folded in (label, whether it agreed
# with the outputs, how many) so filters and live figures read one table. Pages walk (model_id, time, seq);
# live figures read (version_id, time) with the columns they need in the index itself.
inferences = Table(
    "inferences", metadata,
    Column("seq", Id, primary_key=True),
    Column("request_id", String(128), nullable=False, unique=True),
    Column("client_request_id", String(128)),
    Column("model_id", Id, ForeignKey("models.id", ondelete="CASCADE"), nullable=False),
    Column("version_id", Id, ForeignKey("versions.id", ondelete="CASCADE"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("time", UtcDateTime, nullable=False),
    Column("latency_ms", Float),
    Column("status", String(8), nullable=False),
    Column("error", Text, nullable=False),
    Column("input_ref", Text, nullable=False),
    Column("input", Json),
    Column("outputs", Json),
    Column("sample_rate", Float, nullable=False),
    Column("feedback_count", Integer, nullable=False),
    Column("feedback_label", text_type(128)),
    Column("feedback_agrees", Boolean),
    Index("ix_inferences_model_id_time_seq", "model_id", "time", "seq", "version"),
    Index("ix_inferences_version_id_time_seq", "version_id", "time", "seq", "latency_ms", "status",
          "feedback_count", "feedback_agrees"),
    sqlite_autoincrement=True,
)

inference_feedback = Table(
    "inference_feedback", metadata,
    Column("id", Id, primary_key=True),
    Column("seq", Id, ForeignKey("inferences.seq", ondelete="CASCADE"), nullable=False),
    Column("label", text_type(128)),
    Column("corrected", Json),
    Column("source", String(8), nullable=False),
    Column("author", Text, nullable=False),
    Column("note", Text, nullable=False),
    Column("agrees", Boolean),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_inference_feedback_seq_id", "seq", "id"),
    sqlite_autoincrement=True,
)

ALL_TABLES = [t.name for t in metadata.sorted_tables]

tokens = Table(
    "tokens", metadata,
    Column("id", Id, primary_key=True),
    Column("name", text_type(128), nullable=False),
    Column("secret_hash", String(64), nullable=False),
    Column("role", String(16), nullable=False),
    Column("project", text_type(128)),
    Column("created_at", UtcDateTime, nullable=False),
    Column("created_by", Text, nullable=False),
    Column("expires_at", UtcDateTime),
    Column("revoked_at", UtcDateTime),
    UniqueConstraint("name"),
    UniqueConstraint("secret_hash"),
    sqlite_autoincrement=True,
)
