"""Background jobs (exports that run while the caller goes on), with their state and their runner's heartbeat.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Time = sa.DateTime(timezone=True)
Json = sa.JSON(none_as_null=True)


def Txt(length: int) -> sa.types.TypeEngine[str]:
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", Id, primary_key=True),
        sa.Column("version_id", Id, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("format", sa.String(32), nullable=False),
        sa.Column("options", Json, nullable=False),
        sa.Column("trusted", sa.Boolean(), nullable=False),
        sa.Column("force", sa.Boolean(), nullable=False),
        sa.Column("source", Txt(1024)),
        sa.Column("entry_point", sa.Text()),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("progress", sa.Text(), nullable=False),
        sa.Column("export_id", Id),
        sa.Column("error", Json),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("started_at", Time),
        sa.Column("finished_at", Time),
        sa.Column("runner", sa.String(255)),
        sa.Column("heartbeat_at", Time),
        sa.PrimaryKeyConstraint("id", name="pk_jobs"),
        sa.ForeignKeyConstraint(["version_id"], ["versions.id"], name="fk_jobs_version_id_versions",
                                ondelete="CASCADE"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_jobs_version_id_id", "jobs", ["version_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_jobs_version_id_id", table_name="jobs")
    op.drop_table("jobs")
