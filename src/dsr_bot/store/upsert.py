"""INSERT … ON CONFLICT DO NOTHING on both databases we run on.

SQLAlchemy spells it per dialect (`sqlalchemy.dialects.postgresql.insert` and
`sqlalchemy.dialects.sqlite.insert`); this is the one place that chooses, so the domain and
the adapters never import a dialect.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session


def insert_ignore(
    session: Session, table: sa.Table | Any, values: dict[str, Any], *, returning: Any = None
) -> Any:
    """Insert `values` unless a unique key already holds them.

    Returns the `returning` column's value of the new row, or None when the insert was
    skipped; without `returning`, True/False. RETURNING rather than rowcount: psycopg 3
    reports -1 for a skipped ON CONFLICT insert.

    On PostgreSQL a concurrent insert of the same key waits for the first transaction and
    then skips, so exactly one of two racing writers wins.
    """
    table = getattr(table, "__table__", table)
    # Imported here, not at the top: the dialect in use is loaded already, and importing
    # this module (as the domain does) must not load one.
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql as dialect
    else:
        from sqlalchemy.dialects import sqlite as dialect
    column = returning if returning is not None else next(iter(table.primary_key.columns))
    statement = dialect.insert(table).values(**values).on_conflict_do_nothing()
    row = session.execute(statement.returning(column)).first()
    if returning is None:
        return row is not None
    return row[0] if row is not None else None
