"""Exports of versions to deployment formats, and their files.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Time = sa.DateTime(timezone=True)
Json = sa.JSON(none_as_null=True)


def Txt(length: int) -> sa.types.TypeEngine[str]:
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "exports",
        sa.Column("id", Id, primary_key=True),
        sa.Column("version_id", Id, nullable=False),
        sa.Column("format", sa.String(32), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("record", Json, nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("updated_at", Time, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_exports"),
        sa.ForeignKeyConstraint(["version_id"], ["versions.id"], name="fk_exports_version_id_versions",
                                ondelete="CASCADE"),
        sa.UniqueConstraint("version_id", "format", "key", name="uq_exports_version_id_format_key"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "export_files",
        sa.Column("export_id", Id, nullable=False),
        sa.Column("path", Txt(1024), nullable=False),
        sa.Column("digest", sa.String(80), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("media_type", sa.String(255), nullable=False),
        sa.PrimaryKeyConstraint("export_id", "path", name="pk_export_files"),
        sa.ForeignKeyConstraint(["export_id"], ["exports.id"], name="fk_export_files_export_id_exports",
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["digest"], ["blobs.digest"], name="fk_export_files_digest_blobs"),
    )
    op.create_index("ix_export_files_digest", "export_files", ["digest"])


def downgrade() -> None:
    op.drop_index("ix_export_files_digest", table_name="export_files")
    op.drop_table("export_files")
    op.drop_table("exports")
