"""Read-only queries of Synapse's own database, for the benchmarks' probes.

Synapse's tables are its own business and may change between versions; a benchmark reads
them only to know what Synapse did (events persisted, background work caught up), never to
decide anything in the product.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import psycopg

from kernel.config import SchoolConfig


def synapse_row(config: SchoolConfig, query: str) -> tuple[Any, ...]:
    """The first row of ``query`` on the school's Synapse database (SQLite or PostgreSQL)."""
    if config.database.kind == "sqlite":
        path = config.state_dir.resolve() / "homeserver" / "homeserver.db"
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            row = db.execute(query).fetchone()
    else:
        dsn = config.database.dsn.rsplit("/", 1)[0] + "/" + config.synapse_db_name
        with psycopg.connect(dsn) as pg:
            row = pg.execute(query).fetchone()
    if row is None:
        raise LookupError(f"Synapse's database returned no row for {query!r}")
    return tuple(row)
