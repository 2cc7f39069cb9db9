"""Every store of parta: SQLite by default, PostgreSQL by configuration, upgraded in place.

Each store (the appservice's, the diary's, each of the bots' and the bridge's) lists its
numbered migrations; opening the store brings its database up to the newest one, in one
transaction, and records the version in ``parta_schema`` (one row per store, so several
stores may share one database)::

    open_store(url, "bots.invites", MIGRATIONS)
        └─ engine (SQLite: WAL, waits for a busy file) ─▶ lock the store's version row
             version > newest known ─▶ refused: the database is newer than this code
             version < newest ──────▶ apply each later migration (Alembic's operations,
                                       batch mode on SQLite), record it, commit
                                       — all or nothing: PostgreSQL and SQLite both
                                       run DDL inside the transaction

A store made before versions existed has its tables and no row: its migration 1 creates
what is missing and adopts what is there (``create_missing``). ``parta db upgrade`` runs
the same for every store of a school.

Changing a schema: add a migration with the next number to the store's list; never edit
one that has shipped (databases out there have run it). Migration 1 holds its own frozen
copy of the first tables for that reason.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import sqlalchemy.dialects.postgresql
import sqlalchemy.dialects.sqlite
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy.engine import Connection, Engine

_META = sa.MetaData()
versions = sa.Table(
    "parta_schema",
    _META,
    sa.Column("store", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
)


class StoreError(Exception):
    """A store cannot be opened: unreachable, unreadable, or from a newer release."""

    transient = False


class SchemaTooNew(StoreError):
    def __init__(self, store: str, found: int, known: int, url: str) -> None:
        super().__init__(
            f"the {store} store at {url} is at schema version {found}, newer than this "
            f"release knows ({known}): run the newer release, or restore a backup made by "
            "this one"
        )
        self.store, self.found, self.known = store, found, known


@dataclass(frozen=True)
class Migration:
    version: int
    summary: str
    apply: Callable[[Operations], None]


def safe_url(url: str) -> str:
    """The URL without a password, fit for a message."""
    return sa.engine.make_url(url).render_as_string(hide_password=True)


def engine_for(url: str) -> Engine:
    """An engine; a SQLite file's folder is made, and the file shared by processes (WAL)."""
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    # a server's connections die with its restart: each is tried before use, so the first
    # request after one does not fail (a SQLite file has no connection to lose)
    remote = parsed.get_backend_name() != "sqlite"
    engine = sa.create_engine(url, future=True, pool_pre_ping=remote)
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(connection: Any, _record: object) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")  # acknowledged means on disk
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def open_store(url: str, store: str, migrations: Sequence[Migration]) -> Engine:
    """The store's engine, its database brought up to the newest migration."""
    try:
        engine = engine_for(url)
        upgrade(engine, store, migrations)
    except sa.exc.SQLAlchemyError as e:
        reason = getattr(e, "orig", None) or e
        raise StoreError(f"cannot open the {store} store at {safe_url(url)}: {reason}") from e
    return engine


def upgrade(engine: Engine, store: str, migrations: Sequence[Migration]) -> tuple[int, int]:
    """(version before, version after); raises :class:`SchemaTooNew`."""
    known = _check(store, migrations)
    _create_version_table(engine)
    try:
        return _upgrade_once(engine, store, migrations, known)
    except sa.exc.IntegrityError:  # another process made the store's row first: it is there now
        return _upgrade_once(engine, store, migrations, known)


def _upgrade_once(
    engine: Engine, store: str, migrations: Sequence[Migration], known: int
) -> tuple[int, int]:
    with engine.begin() as connection:
        found = _lock_version(connection, store)
        if found > known:
            raise SchemaTooNew(store, found, known, safe_url(str(engine.url)))
        operations = Operations(MigrationContext.configure(connection))
        for migration in migrations:
            if migration.version > found:
                migration.apply(operations)
        if known > found:
            connection.execute(
                versions.update().where(versions.c.store == store).values(version=known)
            )
    return found, known


def version_of(engine: Engine, store: str) -> int | None:
    """The recorded version; None when the store has never been opened here."""
    if not sa.inspect(engine).has_table(versions.name):
        return None
    with engine.connect() as connection:
        found = connection.execute(
            sa.select(versions.c.version).where(versions.c.store == store)
        ).scalar()
    return None if found is None else int(found)


def create_missing(operations: Operations, *tables: sa.Table) -> None:
    """Migration 1's work: create the tables a store made before versions may lack."""
    bind = operations.get_bind()
    for table in tables:
        table.create(bind, checkfirst=True)


def _check(store: str, migrations: Sequence[Migration]) -> int:
    numbers = [m.version for m in migrations]
    if numbers != list(range(1, len(numbers) + 1)):
        raise ValueError(f"{store}: migrations must be numbered 1, 2, 3 …: {numbers}")
    return len(numbers)


def _create_version_table(engine: Engine) -> None:
    """Two processes may open the same database at once: either may create the table."""
    try:
        _META.create_all(engine, checkfirst=True)
    except (sa.exc.IntegrityError, sa.exc.ProgrammingError, sa.exc.OperationalError):
        if not sa.inspect(engine).has_table(versions.name):
            raise


def _lock_version(connection: Connection, store: str) -> int:
    """The store's version, its row locked until the transaction ends (PostgreSQL: the row;
    SQLite: the whole file, taken by the write), so two processes never migrate at once."""
    touched = connection.execute(
        versions.update().where(versions.c.store == store).values(version=versions.c.version)
    )
    if touched.rowcount == 0:
        connection.execute(versions.insert().values(store=store, version=0))
    found = connection.execute(
        sa.select(versions.c.version).where(versions.c.store == store)
    ).scalar_one()
    return int(found)


def insert_new(connection: Connection, table: sa.Table, row: dict[str, Any]) -> bool:
    """Insert unless the primary key (or a unique column) is taken; True when inserted."""
    key = next(iter(table.primary_key.columns))
    statement = _insert(connection, table).values(**row).on_conflict_do_nothing()
    # rowcount is -1 on PostgreSQL's fast insert path: ask for the key back instead
    return connection.execute(statement.returning(key)).first() is not None


def upsert(connection: Connection, table: sa.Table, row: dict[str, Any]) -> None:
    """Insert, or replace the row with the same primary key."""
    keys = [c.name for c in table.primary_key.columns]
    statement = _insert(connection, table).values(**row)
    changes = {name: statement.excluded[name] for name in row if name not in keys}
    connection.execute(statement.on_conflict_do_update(index_elements=keys, set_=changes))


def _insert(connection: Connection, table: sa.Table) -> Any:
    if connection.dialect.name == "postgresql":
        return sa.dialects.postgresql.insert(table)
    return sa.dialects.sqlite.insert(table)
