"""Each version's JSON as a listing sends it, written when the version changes (``versions.listing``).

Existing versions get it here; a version without it (NULL) is written on the fly when listed.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("versions", sa.Column("listing", sa.Text(), nullable=True))
    from modelreg.metadata.sql.schema import versions
    from modelreg.metadata.sql.version_json import refresh_listing

    refresh_listing(op.get_bind(), versions.c.listing.is_(None))


def downgrade() -> None:
    op.drop_column("versions", "listing")
