"""Indexes the dashboard's pages read by at 100,000 versions: a version's events (the version page), and a
model's archived versions (the count behind "archived hidden" on the model page).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_events_project_model_version_id", "events", ["project", "model", "version", "id"])
    op.create_index("ix_versions_model_id_archived", "versions", ["model_id", "archived"])


def downgrade() -> None:
    op.drop_index("ix_versions_model_id_archived", table_name="versions")
    op.drop_index("ix_events_project_model_version_id", table_name="events")
