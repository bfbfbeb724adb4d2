"""Inference records (one row per request a version answered) and their feedback; projects' retention of them.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# Frozen copies of the column types of schema.py as of this revision.
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Time = sa.DateTime(timezone=True)
Json = sa.JSON(none_as_null=True)


def Txt(length: int) -> sa.types.TypeEngine[str]:
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def upgrade() -> None:
    op.add_column("projects", sa.Column("inference_retention", Json, nullable=True))
    op.create_table(
        "inferences",
        sa.Column("seq", Id, nullable=False),
        sa.Column("request_id", sa.String(128), nullable=False),
        sa.Column("client_request_id", sa.String(128), nullable=True),
        sa.Column("model_id", Id, nullable=False),
        sa.Column("version_id", Id, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("time", Time, nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("input_ref", sa.Text(), nullable=False),
        sa.Column("input", Json, nullable=True),
        sa.Column("outputs", Json, nullable=True),
        sa.Column("sample_rate", sa.Float(), nullable=False),
        sa.Column("feedback_count", sa.Integer(), nullable=False),
        sa.Column("feedback_label", Txt(128), nullable=True),
        sa.Column("feedback_agrees", sa.Boolean(), nullable=True),
        sa.PrimaryKeyConstraint("seq", name="pk_inferences"),
        sa.UniqueConstraint("request_id", name="uq_inferences_request_id"),
        sa.ForeignKeyConstraint(["model_id"], ["models.id"], name="fk_inferences_model_id_models",
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["version_id"], ["versions.id"], name="fk_inferences_version_id_versions",
                                ondelete="CASCADE"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_inferences_model_id_time_seq", "inferences", ["model_id", "time", "seq", "version"])
    op.create_index("ix_inferences_version_id_time_seq", "inferences",
                    ["version_id", "time", "seq", "latency_ms", "status", "feedback_count", "feedback_agrees"])
    op.create_table(
        "inference_feedback",
        sa.Column("id", Id, nullable=False),
        sa.Column("seq", Id, nullable=False),
        sa.Column("label", Txt(128), nullable=True),
        sa.Column("corrected", Json, nullable=True),
        sa.Column("source", sa.String(8), nullable=False),
        sa.Column("author", sa.Text(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("agrees", sa.Boolean(), nullable=True),
        sa.Column("created_at", Time, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_inference_feedback"),
        sa.ForeignKeyConstraint(["seq"], ["inferences.seq"], name="fk_inference_feedback_seq_inferences",
                                ondelete="CASCADE"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_inference_feedback_seq_id", "inference_feedback", ["seq", "id"])


def downgrade() -> None:
    op.drop_index("ix_inference_feedback_seq_id", table_name="inference_feedback")
    op.drop_table("inference_feedback")
    op.drop_index("ix_inferences_version_id_time_seq", table_name="inferences")
    op.drop_index("ix_inferences_model_id_time_seq", table_name="inferences")
    op.drop_table("inferences")
    with op.batch_alter_table("projects") as batch:
        batch.drop_column("inference_retention")
