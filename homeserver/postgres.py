"""Create (and, for tests, drop) the PostgreSQL database a Synapse runs on.

Synapse refuses a database whose collation is not ``C`` (sorting must not depend on the
server's locale), and only ``template0`` may be copied with a different locale: hence
the exact ``CREATE DATABASE`` below. Both functions are idempotent.
"""

from __future__ import annotations

import logging

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

from homeserver.errors import DatabaseError, DatabaseLocaleError, DatabaseUnreachable

logger = logging.getLogger(__name__)

_CREATE = sql.SQL(
    "CREATE DATABASE {} ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0"
)
_DROP = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
_LOCALE = "SELECT datcollate, datctype FROM pg_database WHERE datname = %s"


def ensure_database(admin_dsn: str, dbname: str) -> None:
    """Create ``dbname`` for Synapse unless it exists; refuse an existing one with a bad locale.

    ``admin_dsn`` must connect as a role allowed to create databases (and not to
    ``dbname`` itself).
    """
    with _connect(admin_dsn) as connection:
        locale = connection.execute(_LOCALE, (dbname,)).fetchone()
        if locale is None:
            try:
                connection.execute(_CREATE.format(sql.Identifier(dbname)))
            except psycopg.errors.DuplicateDatabase:
                logger.info("database %s was created concurrently", dbname)
                return
            except psycopg.Error as e:
                raise DatabaseError(f"cannot create database {dbname!r}: {e}") from e
            logger.info("created PostgreSQL database %s", dbname)
            return
    collate, ctype = locale
    if (collate, ctype) != ("C", "C"):
        raise DatabaseLocaleError(dbname, collate, ctype)


def drop_database(admin_dsn: str, dbname: str) -> None:
    """Drop ``dbname`` if it exists, disconnecting whoever still uses it (tests only)."""
    with _connect(admin_dsn) as connection:
        try:
            connection.execute(_DROP.format(sql.Identifier(dbname)))
        except psycopg.Error as e:
            raise DatabaseError(f"cannot drop database {dbname!r}: {e}") from e
    logger.info("dropped PostgreSQL database %s", dbname)


def _connect(admin_dsn: str) -> psycopg.Connection[TupleRow]:
    """Autocommit: CREATE and DROP DATABASE cannot run inside a transaction."""
    try:
        return psycopg.connect(admin_dsn, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as e:
        raise DatabaseUnreachable(f"cannot connect to PostgreSQL: {e}") from e
