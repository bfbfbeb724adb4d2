"""Blob grants: which project uploaded which blob (a token limited to a project reads and registers only
the blobs its project holds or uploaded).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

Time = sa.DateTime(timezone=True)


def Txt(length: int) -> sa.types.TypeEngine[str]:
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "blob_grants",
        sa.Column("digest", sa.String(80), nullable=False),
        sa.Column("project", Txt(128), nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.PrimaryKeyConstraint("digest", "project", name="pk_blob_grants"),
    )


def downgrade() -> None:
    op.drop_table("blob_grants")
