"""Bring a database to the newest schema with Alembic, safely when several processes start at once.

A database already at ``HEAD_REVISION`` costs one query and no Alembic import. Otherwise the upgrade
runs in one transaction under a lock that serializes concurrent openers: ``pg_advisory_xact_lock`` on
PostgreSQL, ``BEGIN IMMEDIATE`` (the write lock) on SQLite. Whoever comes second finds the schema at
head and does nothing. DDL is transactional on both databases, so a crash leaves the old schema.
"""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import Engine, func, select, text
from sqlalchemy import exc as sa_exc

from modelreg.errors import StorageError
from modelreg.metadata.sql.schema import HEAD_REVISION

log = logging.getLogger(__name__)

ALEMBIC_INI = Path(__file__).with_name("alembic.ini")
# The execution option that tells the SQLite "begin" hook (store.py) which BEGIN to emit.
BEGIN_OPTION = "modelreg_begin"
# pg_advisory_xact_lock key: the bytes of "modelreg" as a signed 64-bit integer.
MIGRATION_LOCK_KEY = int.from_bytes(b"modelreg", "big")


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None when it has no schema yet."""
    with engine.connect() as conn:
        try:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except (sa_exc.OperationalError, sa_exc.ProgrammingError):
            return None  # no alembic_version table yet


def upgrade_to_head(engine: Engine) -> None:
    if current_revision(engine) == HEAD_REVISION:
        return
    from alembic import command
    from alembic.config import Config
    from alembic.util import CommandError

    config = Config(str(ALEMBIC_INI))
    with engine.connect().execution_options(**{BEGIN_OPTION: "BEGIN IMMEDIATE"}) as conn, conn.begin():
        if engine.dialect.name == "postgresql":
            conn.execute(select(func.pg_advisory_xact_lock(MIGRATION_LOCK_KEY)))
        config.attributes["connection"] = conn
        log.info("migrating the metadata database to revision %s", HEAD_REVISION)
        try:
            command.upgrade(config, "head")
        except CommandError as exc:
            raise StorageError(f"the metadata database cannot be migrated: {exc}",
                               hint="a newer modelreg may have created it; upgrade modelreg") from exc
