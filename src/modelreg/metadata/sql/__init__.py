"""The SQL metadata store (SQLite and PostgreSQL): the only package that imports SQLAlchemy."""

from modelreg.metadata.sql.store import SqlMetadataStore

__all__ = ["SqlMetadataStore"]
