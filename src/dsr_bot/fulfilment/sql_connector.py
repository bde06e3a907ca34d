"""Find, export and erase one person's rows in a SQL database (any SQLAlchemy URL).

Safety rules, because this code deletes other people's business data:
- Table and column names come from the data-source file and are checked against the
  database's own catalogue (reflection) before any statement runs; statements are built
  with SQLAlchemy, so identifiers are quoted and every value is a bound parameter.
- Erasure touches exactly the rows `find` returned, by primary key, never "whatever matches
  now", and runs in ONE transaction per source: all tables change, or none do.
- A failure is reported, not raised, with the table and the database's one-line reason;
  the database's DETAIL line is dropped since it can quote the values of a row.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa

from dsr_bot.fulfilment.findings import (
    ErasureReport,
    Findings,
    TableFindings,
    TableOutcome,
    erasure_preview,
)
from dsr_bot.fulfilment.person import Person, phone_key
from dsr_bot.fulfilment.sources import DataSourceError, ErasureAction, SqlSource, TableMapping

# Shorter keys match too many numbers by their ending; such a phone is not used to match.
MIN_PHONE_DIGITS = 6
# SQLite allowed at most 999 bound parameters per statement before 3.32.
CHUNK = 500
_PHONE_PUNCTUATION = " -()+./"


def source_engine(url: str) -> sa.Engine:
    """An engine for someone else's database: no pool kept open, FKs enforced on SQLite."""
    if not url.startswith("sqlite"):
        return sa.create_engine(url, poolclass=sa.pool.NullPool)
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        # SQLite ignores foreign keys unless asked; without this, deleting a customer would
        # orphan the invoices we must keep instead of refusing.
        dbapi_conn.isolation_level = None
        dbapi_conn.execute("PRAGMA foreign_keys=ON")

    @sa.event.listens_for(engine, "begin")
    def _begin(conn):  # type: ignore[no-untyped-def]
        # pysqlite's implicit BEGIN comes only before the first write; ours covers the read.
        conn.exec_driver_sql("BEGIN")

    return engine


class SqlConnector:
    """One `kind = "sql"` source. Use as a context manager so its engine is disposed."""

    def __init__(
        self, source: SqlSource, *, phone_country_code: str = "46", engine: sa.Engine | None = None
    ) -> None:
        self.source = source
        self.country_code = phone_country_code
        self._own_engine = engine is None
        self._engine = engine
        self._mappings = {t.name: t for t in source.tables}

    def __enter__(self) -> SqlConnector:
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._own_engine and self._engine is not None:
            self._engine.dispose()

    @property
    def engine(self) -> sa.Engine:
        if self._engine is None:
            self._engine = source_engine(self.source.resolved_url())
        return self._engine

    # -- public ---------------------------------------------------------------------------
    def check(self) -> None:
        """Raise DataSourceError if the file names a table or column the database lacks."""
        with self.engine.connect() as conn:
            self._reflect(conn)

    def find(self, person: Person) -> Findings:
        with self.engine.connect() as conn, conn.begin() as trans:
            findings = self._find(conn, self._reflect(conn), person, lock=False)
            trans.rollback()
        return findings

    def preview(self, person: Person) -> ErasureReport:
        """What erasure would do, counted from `find`; reads only."""
        try:
            findings = self.find(person)
        except (DataSourceError, sa.exc.SQLAlchemyError) as exc:
            return ErasureReport(self.source.name, True, error=describe_error(exc), mode="preview")
        return erasure_preview(self.source.name, findings)

    def erase(self, person: Person, *, dry_run: bool = False) -> ErasureReport:
        """Erase in one transaction. `dry_run` executes every statement and rolls back,
        so constraints and triggers that would stop the real erasure show up now."""
        mode = "rehearsal" if dry_run else "executed"
        outcomes: list[TableOutcome] = []
        at: TableFindings | None = None
        try:
            with self.engine.connect() as conn, conn.begin() as trans:
                tables = self._reflect(conn)
                findings = self._find(conn, tables, person, lock=True)
                for at in _children_first(findings.tables, self._mappings):
                    count = self._apply(conn, tables[at.table], self._mappings[at.table], at)
                    outcomes.append(_outcome(at, count))
                if dry_run:
                    trans.rollback()
        except (DataSourceError, sa.exc.SQLAlchemyError) as exc:
            where = f"at table {at.table} ({at.erasure.value}): " if at is not None else ""
            error = (
                f"{where}{describe_error(exc)}; "
                f"rolled back, nothing in {self.source.name} was changed"
            )
            return ErasureReport(self.source.name, dry_run, tuple(outcomes), error, mode)
        return ErasureReport(self.source.name, dry_run, tuple(outcomes), mode=mode)

    # -- internals ------------------------------------------------------------------------
    def _reflect(self, conn: sa.Connection) -> dict[str, sa.Table]:
        metadata = sa.MetaData()
        schema = self.source.schema_name
        tables: dict[str, sa.Table] = {}
        for mapping in self.source.tables:
            where = f"{self.source.name}: table {mapping.name!r}"
            try:
                table = sa.Table(mapping.name, metadata, autoload_with=conn, schema=schema)
            except sa.exc.NoSuchTableError:
                raise DataSourceError(f"{where} does not exist in the database") from None
            missing = mapping.columns_named() - set(table.c.keys())
            if missing:
                raise DataSourceError(f"{where} has no column(s) {sorted(missing)}")
            if mapping.erasure is not ErasureAction.KEEP and not table.primary_key.columns:
                raise DataSourceError(
                    f"{where} has no primary key; erasure addresses rows by key so that it "
                    "touches exactly the rows found"
                )
            tables[mapping.name] = table
        for mapping in self.source.tables:
            link = mapping.person_via
            if link is not None and link.key not in tables[link.table].c:
                raise DataSourceError(
                    f"{self.source.name}: {mapping.name}.person_via references "
                    f"{link.references}, which does not exist"
                )
        return tables

    def _find(
        self, conn: sa.Connection, tables: dict[str, sa.Table], person: Person, *, lock: bool
    ) -> Findings:
        phone = phone_key(person.phone, self.country_code) if person.phone else ""
        if len(phone) < MIN_PHONE_DIGITS:
            phone = ""
        found: dict[str, TableFindings] = {}
        direct = [m for m in self.source.tables if m.person_via is None]
        linked = [m for m in self.source.tables if m.person_via is not None]
        for mapping in direct:
            table = tables[mapping.name]
            candidates = self._select(conn, table, self._match(table, mapping, person, phone), lock)
            rows = [r for r in candidates if self._is_person(r, mapping, person, phone)]
            found[mapping.name] = _table_findings(self.source.name, mapping, table, rows)
        for mapping in linked:
            assert mapping.person_via is not None
            table = tables[mapping.name]
            link = mapping.person_via
            parents = found[link.table].rows
            values = sorted({r[link.key] for r in parents if r[link.key] is not None})
            rows = []
            for chunk in _chunks(values):
                rows += self._select(conn, table, table.c[link.column].in_(chunk), lock)
            found[mapping.name] = _table_findings(self.source.name, mapping, table, rows)
        ordered = tuple(found[m.name] for m in self.source.tables)
        return Findings(person, ordered)

    def _match(
        self, table: sa.Table, mapping: TableMapping, person: Person, phone: str
    ) -> sa.ColumnElement[bool]:
        conditions: list[sa.ColumnElement[bool]] = [
            sa.func.lower(sa.func.trim(table.c[col])) == person.email
            for col in mapping.email_columns
        ]
        if phone:
            for col in mapping.phone_columns:
                stripped: sa.ColumnElement[Any] = table.c[col]
                for char in _PHONE_PUNCTUATION:
                    stripped = sa.func.replace(stripped, char, "")
                # Narrows in SQL (the number ends with the key); `_is_person` decides exactly.
                conditions.append(stripped.like("%" + phone))
        return sa.or_(*conditions) if conditions else sa.false()

    def _is_person(
        self, row: dict[str, Any], mapping: TableMapping, person: Person, phone: str
    ) -> bool:
        for col in mapping.email_columns:
            if isinstance(row[col], str) and row[col].strip().lower() == person.email:
                return True
        return bool(phone) and any(
            isinstance(row[col], str) and phone_key(row[col], self.country_code) == phone
            for col in mapping.phone_columns
        )

    @staticmethod
    def _select(
        conn: sa.Connection, table: sa.Table, condition: sa.ColumnElement[bool], lock: bool
    ) -> list[dict[str, Any]]:
        query = sa.select(table).where(condition).order_by(*table.primary_key.columns)
        if lock:
            query = query.with_for_update()  # no-op on SQLite, whose BEGIN locks the file
        return [dict(row) for row in conn.execute(query).mappings()]

    @staticmethod
    def _apply(
        conn: sa.Connection, table: sa.Table, mapping: TableMapping, found: TableFindings
    ) -> int:
        if mapping.erasure is ErasureAction.KEEP:
            return len(found.rows)  # Art. 17(3)(b): reported with the reason, untouched
        count = 0
        for chunk in _chunks(list(found.keys)):
            where = _key_in(table, chunk)
            if mapping.erasure is ErasureAction.DELETE:
                statement: sa.Executable = sa.delete(table).where(where)
            else:
                values: dict[str, Any] = dict.fromkeys(mapping.set_null)
                values.update(mapping.set_values)
                statement = sa.update(table).where(where).values(values)
            count += conn.execute(statement).rowcount
        return count


def _table_findings(
    source: str, mapping: TableMapping, table: sa.Table, rows: list[dict[str, Any]]
) -> TableFindings:
    key_cols = [c.name for c in table.primary_key.columns]
    return TableFindings(
        source=source,
        table=mapping.name,
        description=mapping.description,
        columns=tuple(table.c.keys()),
        rows=tuple(rows),
        keys=tuple(tuple(r[c] for c in key_cols) for r in rows) if key_cols else (),
        provided_by_subject=mapping.provided_by_subject,
        erasure=mapping.erasure,
        keep_reason=mapping.keep_reason,
    )


def _children_first(
    tables: Sequence[TableFindings], mappings: dict[str, TableMapping]
) -> list[TableFindings]:
    """Rows found through a key go first, so deleting the row they point to is not refused
    by a foreign key that we are about to satisfy anyway."""
    return sorted(tables, key=lambda t: mappings[t.table].person_via is None)


def _key_in(table: sa.Table, keys: Sequence[tuple[Any, ...]]) -> sa.ColumnElement[bool]:
    cols = list(table.primary_key.columns)
    if len(cols) == 1:
        return cols[0].in_([k[0] for k in keys])
    return sa.or_(*(sa.and_(*(c == v for c, v in zip(cols, k, strict=True))) for k in keys))


def _chunks(values: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]


def _outcome(found: TableFindings, rows: int) -> TableOutcome:
    return TableOutcome(found.table, found.erasure, rows, found.description, found.keep_reason)


def describe_error(exc: Exception) -> str:
    """One line for staff: our own message, or the driver's first line (no DETAIL)."""
    if isinstance(exc, DataSourceError):
        return str(exc)
    original = getattr(exc, "orig", None) or exc
    lines = str(original).strip().splitlines()
    return f"{type(original).__name__}: {lines[0] if lines else 'no message'}"[:300]
