"""Evaluations of a version on named datasets, and their numbers one row per key (``eval.<dataset>.<metric>``
filters and promotion gates).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# Frozen copies of the column types of schema.py as of this revision.
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Time = sa.DateTime(timezone=True)
Json = sa.JSON(none_as_null=True)


def Txt(length: int) -> sa.types.TypeEngine[str]:
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "evaluations",
        sa.Column("version_id", Id, nullable=False),
        sa.Column("dataset", Txt(128), nullable=False),
        sa.Column("digest", sa.Text(), nullable=False),
        sa.Column("metrics", Json, nullable=False),
        sa.Column("class_metrics", Json, nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("version_id", "dataset", name="pk_evaluations"),
        sa.ForeignKeyConstraint(["version_id"], ["versions.id"], name="fk_evaluations_version_id_versions",
                                ondelete="CASCADE"),
    )
    op.create_table(
        "evaluation_metrics",
        sa.Column("version_id", Id, nullable=False),
        sa.Column("model_id", Id, nullable=False),
        sa.Column("dataset", Txt(128), nullable=False),
        sa.Column("key", Txt(128), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("version_id", "dataset", "key", name="pk_evaluation_metrics"),
        sa.ForeignKeyConstraint(["version_id"], ["versions.id"], name="fk_evaluation_metrics_version_id_versions",
                                ondelete="CASCADE"),
    )
    op.create_index("ix_evaluation_metrics_dataset_key_value", "evaluation_metrics",
                    ["dataset", "key", "value", "version_id"])
    op.create_index("ix_evaluation_metrics_model_id_dataset_key_value", "evaluation_metrics",
                    ["model_id", "dataset", "key", "value", "version_id"])


def downgrade() -> None:
    op.drop_index("ix_evaluation_metrics_model_id_dataset_key_value", table_name="evaluation_metrics")
    op.drop_index("ix_evaluation_metrics_dataset_key_value", table_name="evaluation_metrics")
    op.drop_table("evaluation_metrics")
    op.drop_table("evaluations")
