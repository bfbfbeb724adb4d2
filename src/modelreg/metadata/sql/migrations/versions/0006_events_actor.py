"""The events log filtered by who acted (the dashboard's activity page, ``modelreg events --actor``).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_events_actor_id", "events", ["actor", "id"])


def downgrade() -> None:
    op.drop_index("ix_events_actor_id", table_name="events")
