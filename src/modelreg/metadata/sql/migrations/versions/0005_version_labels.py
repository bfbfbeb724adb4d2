"""Version labels: an optional name per version, unique in its model (``recommender:v4_no_leakage``).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def Txt(length: int) -> sa.types.TypeEngine[str]:
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def upgrade() -> None:
    op.add_column("versions", sa.Column("label", Txt(128), nullable=True))
    op.create_index("ix_versions_model_id_label", "versions", ["model_id", "label"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_versions_model_id_label", table_name="versions")
    op.drop_column("versions", "label")
