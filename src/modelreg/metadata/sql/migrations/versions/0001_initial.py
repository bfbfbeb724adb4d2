"""The initial schema.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Frozen copies of the column types of schema.py as of this revision.
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Time = sa.DateTime(timezone=True)
Json = sa.JSON(none_as_null=True)


def Txt(length: int | None = None) -> sa.types.TypeEngine[str]:
    base = sa.String(length) if length else sa.Text()
    collated = sa.String(length, collation="C") if length else sa.Text(collation="C")
    return base.with_variant(collated, "postgresql")


def upgrade() -> None:
    op.create_table(
        "projects",
        sa.Column("id", Id, primary_key=True),
        sa.Column("name", Txt(128), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("labels", Json, nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_projects"),
        sa.UniqueConstraint("name", name="uq_projects_name"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "models",
        sa.Column("id", Id, primary_key=True),
        sa.Column("project_id", Id, nullable=False),
        sa.Column("name", Txt(128), nullable=False),
        sa.Column("description", Txt(), nullable=False),
        sa.Column("task", Txt(32), nullable=False),
        sa.Column("baseline", Txt(128)),
        sa.Column("pinned", sa.Boolean(), nullable=False),
        sa.Column("policies", Json, nullable=False),
        sa.Column("marked_best", sa.Integer()),
        sa.Column("latest_number", sa.Integer(), nullable=False),
        sa.Column("version_count", sa.Integer(), nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("updated_at", Time, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_models"),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], name="fk_models_project_id_projects"),
        sa.UniqueConstraint("project_id", "name", name="uq_models_project_id_name"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "model_tags",
        sa.Column("model_id", Id, nullable=False),
        sa.Column("key", Txt(128), nullable=False),
        sa.Column("value", Txt(), nullable=False),
        sa.PrimaryKeyConstraint("model_id", "key", name="pk_model_tags"),
        sa.ForeignKeyConstraint(["model_id"], ["models.id"], name="fk_model_tags_model_id_models",
                                ondelete="CASCADE"),
    )
    op.create_index("ix_model_tags_key_value", "model_tags", ["key", "value", "model_id"])
    op.create_table(
        "versions",
        sa.Column("id", Id, primary_key=True),
        sa.Column("model_id", Id, nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("status", Txt(16), nullable=False),
        sa.Column("archived", sa.Boolean(), nullable=False),
        sa.Column("pinned", sa.Boolean(), nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("created_by", Txt(), nullable=False),
        sa.Column("updated_at", Time, nullable=False),
        sa.Column("description", Txt(), nullable=False),
        sa.Column("notes", Txt(), nullable=False),
        sa.Column("limitations", sa.Text(), nullable=False),
        sa.Column("error", sa.Text()),
        sa.Column("parent_id", Id),
        sa.Column("metrics", Json, nullable=False),
        sa.Column("tags", Json, nullable=False),
        *(sa.Column(name, Json) for name in ("changelog", "class_metrics", "params", "dataset", "training",
                                              "source", "signature", "extra")),
        sa.PrimaryKeyConstraint("id", name="pk_versions"),
        sa.ForeignKeyConstraint(["model_id"], ["models.id"], name="fk_versions_model_id_models"),
        sa.ForeignKeyConstraint(["parent_id"], ["versions.id"], name="fk_versions_parent_id_versions",
                                ondelete="SET NULL"),
        sa.UniqueConstraint("model_id", "number", name="uq_versions_model_id_number"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_versions_model_id_created_at", "versions", ["model_id", "created_at", "id"])
    op.create_index("ix_versions_parent_id", "versions", ["parent_id"])
    for name, value_type in (("version_metrics", sa.Float()), ("version_tags", Txt())):
        op.create_table(
            name,
            sa.Column("version_id", Id, nullable=False),
            sa.Column("model_id", Id, nullable=False),
            sa.Column("key", Txt(128), nullable=False),
            sa.Column("value", value_type, nullable=False),
            sa.PrimaryKeyConstraint("version_id", "key", name=f"pk_{name}"),
            sa.ForeignKeyConstraint(["version_id"], ["versions.id"], name=f"fk_{name}_version_id_versions",
                                    ondelete="CASCADE"),
        )
        op.create_index(f"ix_{name}_key_value", name, ["key", "value", "version_id"])
        op.create_index(f"ix_{name}_model_id_key_value", name, ["model_id", "key", "value", "version_id"])
    op.create_table(
        "blobs",
        sa.Column("digest", sa.String(80), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.PrimaryKeyConstraint("digest", name="pk_blobs"),
    )
    op.create_table(
        "artifacts",
        sa.Column("id", Id, primary_key=True),
        sa.Column("version_id", Id, nullable=False),
        sa.Column("path", Txt(1024), nullable=False),
        sa.Column("digest", sa.String(80), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("media_type", sa.String(255), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_artifacts"),
        sa.ForeignKeyConstraint(["version_id"], ["versions.id"], name="fk_artifacts_version_id_versions",
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["digest"], ["blobs.digest"], name="fk_artifacts_digest_blobs"),
        sa.UniqueConstraint("version_id", "path", name="uq_artifacts_version_id_path"),
    )
    op.create_index("ix_artifacts_digest", "artifacts", ["digest"])
    op.create_table(
        "aliases",
        sa.Column("id", Id, primary_key=True),
        sa.Column("model_id", Id, nullable=False),
        sa.Column("name", Txt(128), nullable=False),
        sa.Column("version_id", Id, nullable=False),
        sa.Column("updated_at", Time, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_aliases"),
        sa.ForeignKeyConstraint(["model_id"], ["models.id"], name="fk_aliases_model_id_models"),
        sa.ForeignKeyConstraint(["version_id"], ["versions.id"], name="fk_aliases_version_id_versions",
                                ondelete="RESTRICT"),
        sa.UniqueConstraint("model_id", "name", name="uq_aliases_model_id_name"),
    )
    op.create_index("ix_aliases_version_id", "aliases", ["version_id"])
    op.create_table(
        "alias_moves",
        sa.Column("id", Id, primary_key=True),
        sa.Column("model_id", Id, nullable=False),
        sa.Column("alias", Txt(128), nullable=False),
        sa.Column("from_number", sa.Integer()),
        sa.Column("to_number", sa.Integer()),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("reverted", sa.Boolean(), nullable=False),
        sa.Column("at", Time, nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_alias_moves"),
        sa.ForeignKeyConstraint(["model_id"], ["models.id"], name="fk_alias_moves_model_id_models",
                                ondelete="CASCADE"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_alias_moves_model_id_alias", "alias_moves", ["model_id", "alias", "id"])
    op.create_table(
        "epochs",
        sa.Column("version_id", Id, nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("metrics", Json, nullable=False),
        sa.Column("timestamp", Time, nullable=False),
        sa.PrimaryKeyConstraint("version_id", "epoch", name="pk_epochs"),
        sa.ForeignKeyConstraint(["version_id"], ["versions.id"], name="fk_epochs_version_id_versions",
                                ondelete="CASCADE"),
    )
    op.create_table(
        "events",
        sa.Column("id", Id, primary_key=True),
        sa.Column("at", Time, nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("project", Txt(128)),
        sa.Column("model", Txt(128)),
        sa.Column("version", sa.Integer()),
        sa.Column("alias", Txt(128)),
        sa.Column("before", Json),
        sa.Column("after", Json),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_events_project_model_id", "events", ["project", "model", "id"])
    op.create_index("ix_events_action_id", "events", ["action", "id"])


def downgrade() -> None:
    for name in ("events", "epochs", "alias_moves", "aliases", "artifacts", "blobs", "version_tags",
                 "version_metrics", "versions", "model_tags", "models", "projects"):
        op.drop_table(name)
