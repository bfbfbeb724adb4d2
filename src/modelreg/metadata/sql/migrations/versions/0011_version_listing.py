"""Each version's JSON as a listing sends it, written when the version changes (``versions.listing``).

The column is added and written here for the versions a registry already holds, by SQL frozen as of this
revision (``modelreg.metadata.sql.version_json.own_json`` at the time: the fields ``Version`` had then); a
version without it (NULL) is written on the fly when listed. A later change to ``Version`` adds a migration
that writes the column again the same way (or sets it to NULL).

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

# UPDATE versions SET listing = <the version's own JSON> WHERE listing IS NULL, for each database.
WRITE_LISTINGS = {
    "sqlite": (
    'UPDATE versions SET listing=((((((((((((((((((((((((((((((((((((((((((((((((\'{"id":\' || json_quote(v'
    'ersions.id)) || \',"number":\') || json_quote(versions.number)) || \',"updated_at":\') || coalesce((\'"\' '
    '|| replace(versions.updated_at, \' \', \'T\')) || \'Z"\', \'null\')) || \',"status":\') || json_quote(versions'
    '.status)) || \',"archived":\') || CASE WHEN versions.archived THEN \'true\' ELSE \'false\' END) || \',"pinn'
    'ed":\') || CASE WHEN versions.pinned THEN \'true\' ELSE \'false\' END) || \',"created_at":\') || coalesce(('
    '\'"\' || replace(versions.created_at, \' \', \'T\')) || \'Z"\', \'null\')) || \',"created_by":\') || json_quote('
    'versions.created_by)) || \',"label":\') || json_quote(versions.label)) || \',"description":\') || json_q'
    'uote(versions.description)) || \',"notes":\') || json_quote(versions.notes)) || \',"limitations":\') || '
    'json_quote(versions.limitations)) || \',"error":\') || json_quote(versions.error)) || \',"metrics":\') |'
    '| json(coalesce(versions.metrics, \'{}\'))) || \',"tags":\') || json(coalesce(versions.tags, \'{}\'))) || '
    '\',"changelog":\') || json(coalesce(versions.changelog, \'[]\'))) || \',"class_metrics":\') || json(coales'
    'ce(versions.class_metrics, \'[]\'))) || \',"params":\') || json(coalesce(versions.params, \'{}\'))) || \',"'
    'dataset":\') || json(coalesce(versions.dataset, \'null\'))) || \',"training":\') || json(coalesce(version'
    's.training, \'null\'))) || \',"source":\') || json(coalesce(versions.source, \'null\'))) || \',"signature":'
    '\') || json(coalesce(versions.signature, \'null\'))) || \',"extra":\') || json(coalesce(versions.extra, \''
    '{}\'))) || \',"artifacts":\') || ((\'[\' || coalesce((SELECT group_concat(anon_1.item, \',\') AS group_conc'
    'at_1 \nFROM (SELECT anon_2.item AS item \nFROM (SELECT (((((((\'{"path":\' || json_quote(artifacts.path)'
    ') || \',"digest":\') || json_quote(artifacts.digest)) || \',"size":\') || json_quote(artifacts.size)) ||'
    ' \',"media_type":\') || json_quote(artifacts.media_type)) || \'}\' AS item, artifacts.path AS sort \nFROM'
    " artifacts \nWHERE artifacts.version_id = versions.id) AS anon_2 ORDER BY anon_2.sort) AS anon_1), ''"
    ")) || ']')) || '}') WHERE versions.listing IS NULL"
),
    "postgresql": (
    "UPDATE versions SET listing=CAST(json_build_object('id', versions.id, 'number', versions.number, 'up"
    'dated_at\', to_char(timezone(\'UTC\', versions.updated_at), \'YYYY-MM-DD"T"HH24:MI:SS.US"Z"\'), \'status\','
    " versions.status, 'archived', versions.archived, 'pinned', versions.pinned, 'created_at', to_char(ti"
    'mezone(\'UTC\', versions.created_at), \'YYYY-MM-DD"T"HH24:MI:SS.US"Z"\'), \'created_by\', versions.created'
    "_by, 'label', versions.label, 'description', versions.description, 'notes', versions.notes, 'limitat"
    "ions', versions.limitations, 'error', versions.error, 'metrics', coalesce(versions.metrics, '{}'::js"
    "on), 'tags', coalesce(versions.tags, '{}'::json), 'changelog', coalesce(versions.changelog, '[]'::js"
    "on), 'class_metrics', coalesce(versions.class_metrics, '[]'::json), 'params', coalesce(versions.para"
    "ms, '{}'::json), 'dataset', coalesce(versions.dataset, 'null'::json), 'training', coalesce(versions."
    "training, 'null'::json), 'source', coalesce(versions.source, 'null'::json), 'signature', coalesce(ve"
    "rsions.signature, 'null'::json), 'extra', coalesce(versions.extra, '{}'::json), 'artifacts', coalesc"
    "e((SELECT json_agg(anon_1.item ORDER BY anon_1.sort) AS json_agg_1 \nFROM (SELECT json_build_object('"
    "path', artifacts.path, 'digest', artifacts.digest, 'size', artifacts.size, 'media_type', artifacts.m"
    'edia_type) AS item, artifacts.path AS sort \nFROM artifacts \nWHERE artifacts.version_id = versions.id'
    ") AS anon_1), '[]'::json)) AS TEXT) WHERE versions.listing IS NULL"
),
}


def upgrade() -> None:
    op.add_column("versions", sa.Column("listing", sa.Text(), nullable=True))
    bind = op.get_bind()
    bind.exec_driver_sql(WRITE_LISTINGS[bind.dialect.name])


def downgrade() -> None:
    op.drop_column("versions", "listing")
