"""``SqlMetadataStore``: the metadata store on SQLite or PostgreSQL (SQLAlchemy Core).

Transactions.

* SQLite: pysqlite's own transaction handling is off; a write transaction starts with
  ``BEGIN IMMEDIATE`` (it takes the database's write lock up front, so concurrent writer processes
  queue on ``busy_timeout`` instead of failing on a lock upgrade), a read transaction with ``BEGIN``
  (a WAL snapshot). Pragmas: WAL, ``foreign_keys=ON``, ``busy_timeout`` 30 s, ``synchronous=NORMAL``.
* PostgreSQL: writes run at READ COMMITTED and take row locks where it matters (``get_model(lock=True)``
  is ``SELECT ... FOR UPDATE``; ``allocate_number`` is ``UPDATE ... RETURNING``); reads run at
  REPEATABLE READ, READ ONLY (a consistent snapshot).

Errors. Database errors leave a transaction as ``modelreg`` errors: a unique violation as
``AlreadyExists``; an unreachable database as ``StorageError`` with a hint; a deadlock, serialization
failure, lock timeout or "database is locked" as ``StorageError`` with ``retryable=True``. The store
never re-runs a transaction itself, because the caller's code inside ``with`` must run once: the
service retries the whole unit of work on a retryable ``StorageError``.

Schema. Opening the store migrates the database to head with Alembic (``migrate.py``); several
processes opening the same fresh database at once are safe.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.pool import ConnectionPoolEntry

from modelreg.errors import AlreadyExists, Conflict, InvalidInput, ModelregError, StorageError
from modelreg.metadata.base import MetadataStore, MetadataTx
from modelreg.metadata.sql.migrate import BEGIN_OPTION, upgrade_to_head
from modelreg.metadata.sql.tx import SqlTx
from modelreg.metadata.values import dump_json

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_ANALYZE_AT_VERSIONS = 1_000
PG_CONNECT_TIMEOUT_S = 10
_RETRYABLE_SQLSTATES = {"40001", "40P01", "55P03", "57014"}  # serialization, deadlock, lock timeout, cancel


def normalize_url(url: str) -> str:
    """Map the URLs users write onto SQLAlchemy's: ``postgresql://`` uses psycopg 3."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    if url.startswith("sqlite:///"):
        return url
    raise InvalidInput(f"unsupported database URL {url.split(':', 1)[0]!r}",
                       hint="use sqlite:///path/registry.db or postgresql://user@host:5432/db", url=url)


def safe_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except sa_exc.ArgumentError:
        return url.split("@")[-1]


class SqlMetadataStore(MetadataStore):
    """Metadata on SQLite (``sqlite:///abs/path.db``) or PostgreSQL (``postgresql://user@host/db``)."""

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        self.url = url
        sa_url = normalize_url(url)
        self._sqlite = sa_url.startswith("sqlite")
        if self._sqlite:
            parsed = make_url(sa_url)
            if not parsed.database or parsed.database == ":memory:":
                raise InvalidInput("an in-memory SQLite database cannot be shared between connections",
                                   hint="use memory:// for a throwaway store, or a file path", url=url)
            path = Path(parsed.database).expanduser()
            path.parent.mkdir(parents=True, exist_ok=True)
            self.engine: Engine = create_engine(parsed.set(database=str(path)), json_serializer=_json_serializer,
                                                connect_args={"check_same_thread": False})
            event.listen(self.engine, "connect", _sqlite_on_connect)
            event.listen(self.engine, "begin", _sqlite_on_begin)
            event.listen(self.engine, "close", _sqlite_on_close)
        else:
            connect_args = {} if "connect_timeout" in sa_url else {"connect_timeout": PG_CONNECT_TIMEOUT_S}
            self.engine = create_engine(sa_url, json_serializer=_json_serializer, pool_pre_ping=True,
                                        pool_size=10, max_overflow=20, connect_args=connect_args)
        self._watch = _ChangeWatch(Path(make_url(sa_url).database or "")) if self._sqlite else None
        # A store dropped without close() still closes its pooled connections (no "deleted while open").
        self._finalizer = weakref.finalize(self, _dispose, self.engine, self._watch)
        if migrate:
            try:
                with translate_errors(self.url):
                    upgrade_to_head(self.engine)
                if self._sqlite:
                    _sqlite_statistics(self.engine)
            except BaseException:
                self._finalizer()
                raise

    @contextmanager
    def transaction(self) -> Iterator[MetadataTx]:
        with self._tx(write=True) as tx:
            yield tx

    @contextmanager
    def read(self) -> Iterator[MetadataTx]:
        with self._tx(write=False) as tx:
            yield tx

    def close(self) -> None:
        self._finalizer()

    def change_token(self) -> object | None:
        """SQLite: ``PRAGMA data_version`` of a connection kept for this, which changes whenever any other
        connection, in any process, commits. PostgreSQL offers nothing as cheap: None (always look up)."""
        return self._watch.token() if self._watch is not None else None

    def _options(self, write: bool) -> dict[str, Any]:
        if self._sqlite:
            return {BEGIN_OPTION: "BEGIN IMMEDIATE" if write else "BEGIN"}
        if write:
            return {"isolation_level": "READ COMMITTED"}
        return {"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}

    def _begin(self, write: bool) -> Connection:
        """A connection inside a fresh transaction (SQLite: waits up to busy_timeout for the write lock)."""
        with translate_errors(self.url):
            conn = self.engine.connect().execution_options(**self._options(write))
            try:
                conn.begin()
            except BaseException:
                conn.close()
                raise
            return conn

    @contextmanager
    def _tx(self, *, write: bool) -> Iterator[SqlTx]:
        conn = self._begin(write)
        try:
            with translate_errors(self.url):
                try:
                    yield SqlTx(conn, write=write)
                except BaseException:
                    _rollback_quietly(conn)
                    raise
                conn.commit()
        finally:
            conn.close()


class _ChangeWatch:
    """A private SQLite connection that only reads ``PRAGMA data_version`` (microseconds)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None

    def token(self) -> object | None:
        with self._lock:
            try:
                if self._conn is None:
                    self._conn = sqlite3.connect(f"file:{self._path}?mode=ro", uri=True, check_same_thread=False,
                                                 isolation_level=None)
                row = self._conn.execute("PRAGMA data_version").fetchone()
            except sqlite3.Error:
                log.debug("PRAGMA data_version failed; resolving without the shortcut", exc_info=True)
                return None
            return row[0] if row else None

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def _dispose(engine: Engine, watch: _ChangeWatch | None) -> None:
    if watch is not None:
        watch.close()
    engine.dispose()


def _rollback_quietly(conn: Connection) -> None:
    """Roll back without hiding the error that caused it (the connection may be the problem)."""
    try:
        conn.rollback()
    except sa_exc.SQLAlchemyError:
        log.warning("rolling back failed; the connection is discarded", exc_info=True)
        conn.invalidate()


def _json_serializer(value: Any) -> str:
    return dump_json(value, field_name="value") or "null"


def _sqlite_on_connect(dbapi_conn: DBAPIConnection, record: ConnectionPoolEntry) -> None:
    dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
    cursor = dbapi_conn.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        _while_locked(lambda: cursor.execute("PRAGMA journal_mode = WAL"))
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _while_locked(statement: Callable[[], object], timeout_s: float = SQLITE_BUSY_TIMEOUT_MS / 1000) -> None:
    """Run ``statement`` again while SQLite answers "database is locked", up to ``timeout_s``: changing the
    journal mode takes a lock that does not wait for ``busy_timeout``, so a process opening a database another
    one is creating (its migrations running) would fail at once."""
    deadline = time.monotonic() + timeout_s
    pause = 0.01
    while True:
        try:
            statement()
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.25)


def _sqlite_on_begin(conn: Connection) -> None:
    conn.exec_driver_sql(conn.get_execution_options().get(BEGIN_OPTION, "BEGIN"))


def _sqlite_on_close(dbapi_conn: DBAPIConnection, record: ConnectionPoolEntry) -> None:
    """SQLite's advice for long-lived databases: ``PRAGMA optimize`` as a connection closes.

    It re-analyzes the tables this connection used whose size changed a lot since their statistics.
    """
    try:
        dbapi_conn.cursor().execute("PRAGMA optimize")
    except Exception:  # an optimization only; a read-only or busy database skips it
        log.debug("PRAGMA optimize failed", exc_info=True)


def _sqlite_statistics(engine: Engine) -> None:
    """Give a database that never had statistics some (once), so SQLite's planner chooses well.

    Without ``sqlite_stat1`` SQLite guesses; a search with a tag filter then may drive from the tag
    index and sort tens of thousands of rows instead of walking the versions index. ``ANALYZE`` is
    about 0.3 s at 100,000 versions; ``PRAGMA optimize`` (on close) keeps the statistics current after.
    """
    try:
        with engine.connect().execution_options(**{BEGIN_OPTION: "BEGIN IMMEDIATE"}) as conn, conn.begin():
            has_stats = conn.exec_driver_sql(
                "SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'").scalar()
            size = conn.exec_driver_sql("SELECT max(id) FROM versions").scalar() or 0
            if not has_stats and size >= SQLITE_ANALYZE_AT_VERSIONS:
                log.info("collecting SQLite statistics (once) for %d versions", size)
                conn.exec_driver_sql("ANALYZE")
    except sa_exc.DBAPIError:
        log.warning("could not collect SQLite statistics; searches may be slower", exc_info=True)


# ---------------------------------------------------------------- error translation


@contextmanager
def translate_errors(url: str) -> Iterator[None]:
    """Turn SQLAlchemy/driver errors into modelreg errors; modelreg errors pass through."""
    try:
        yield
    except ModelregError:
        raise
    except sa_exc.DBAPIError as exc:
        raise translate(exc, url) from exc


def translate(exc: sa_exc.DBAPIError, url: str) -> ModelregError:
    orig = exc.orig
    sqlstate = str(getattr(orig, "sqlstate", "") or "")
    message = str(orig).strip().splitlines()[0] if orig is not None else str(exc)
    lowered = message.lower()
    if isinstance(exc, sa_exc.IntegrityError):
        if sqlstate == "23505" or "unique constraint" in lowered:
            return AlreadyExists("a row with the same name already exists", hint="choose another name",
                                 reason=message)
        return Conflict(f"the change conflicts with existing data: {message}",
                        hint="reload and try again", reason=message)
    if sqlstate in _RETRYABLE_SQLSTATES or "database is locked" in lowered or "database is busy" in lowered:
        return StorageError("the database is busy with another writer", hint="try again", retryable=True,
                            reason=message)
    if exc.connection_invalidated or sqlstate.startswith("08") or isinstance(exc, sa_exc.InterfaceError) \
            or "connection" in lowered or "unable to open database" in lowered:
        return StorageError(f"cannot reach the metadata database at {safe_url(url)}",
                            hint="check that the database server is running and the URL, user and database "
                                 "name are right (MODELREG_DATABASE_URL)", retryable=True, reason=message)
    if isinstance(exc, sa_exc.DataError):
        return InvalidInput(f"a value does not fit the database: {message}", reason=message)
    return StorageError(f"the metadata database failed: {message}", reason=message)
