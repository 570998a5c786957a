"""Server-side prepared statements for the few reads every page runs.

    SESSION_LOOKUP = Prepared("session_lookup", build_the_select)
    row = SESSION_LOOKUP.execute({"token_hash": ...}).first()

PostgreSQL plans a statement each time it receives one. For the home page's reads that was
most of their cost: the feed planned in 0.70 ms and ran in 0.64 ms, the session lookup and
the badge counts each planned in ~0.3 ms and ran in 0.05 ms (EXPLAIN ANALYZE, 300 posts), on
every request. psycopg2 sends statements as text and cannot prepare them (psycopg 3 can, but
the stack is psycopg2), so this module does what a driver would: the statement, compiled once
with numbered parameters, is sent as `PREPARE name AS …` the first time a pooled connection
needs it, and as `EXECUTE name(…)` afterwards. After five executions PostgreSQL keeps one
generic plan for it when that plan costs no more than the custom ones, and planning stops.

The PREPARE goes straight to the driver, outside SQLAlchemy's statement events: it is set-up
of the connection, like a SET, and is not counted as the request's statement. It survives a
rollback (prepared statements are not transactional) and dies with the connection; the pool's
per-connection `info` remembers what is prepared under each name (another text under a known
name is DEALLOCATEd first) and is emptied when a connection is replaced.
The EXECUTE goes to the driver on the session's connection (its transaction), values
converted by the statement's own bind types, the statement events fired around it.

For selects with no data-dependent shape: what the statement is must not depend on the
parameters (an IN list is compiled at its one size). Not for PgBouncer in transaction mode,
which does not keep a connection's prepared statements (docs/operations.md).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.dialects.postgresql.psycopg2 import PGDialect_psycopg2
from sqlalchemy.exc import DBAPIError, MultipleResultsFound, NoResultFound
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from blog.extensions import db

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_INFO_KEY = "blog.prepared"
_DOLLAR = re.compile(r"\$(\d+)\b")


@dataclass(frozen=True)
class _Compiled:
    prepare_sql: str
    execute: str  # EXECUTE name(%(a)s, ...), for the driver
    defaults: dict[str, Any]  # values the statement itself binds and the text could not hold
    arguments: list[str]  # the parameters, in $n order
    processors: dict[str, Callable[[Any], Any]]  # their types' conversions for the driver
    readers: Mapping[int, Callable[[Any], Any]]  # result columns' conversions, by position


class Prepared:
    """One select, prepared per connection on first use. `build` makes the statement (called
    once, on the first execution, when every model is mapped). Rows come back by position,
    as the driver converts them: a Core select of columns, not of ORM entities."""

    def __init__(self, name: str, build: Callable[[], Select[Any]]):
        if not _NAME.match(name):
            raise ValueError(f"not a statement name: {name!r}")
        self.name = name
        self._build = build

    @cached_property
    def _compiled(self) -> _Compiled:
        statement = self._build()
        dialect = PGDialect_psycopg2(paramstyle="numeric_dollar")
        # An IN list is written out at its size (render_postcompile), which needs a value for
        # every parameter: the caller's ones get a stand-in (they stay $n in the text).
        plain = statement.compile(dialect=dialect)
        required = {n: None for n, b in plain.binds.items() if b.required}
        compiled = statement.params(required).compile(
            dialect=dialect, compile_kwargs={"render_postcompile": True}
        )
        expanded = compiled._post_compile_expanded_state
        values = dict(expanded.parameters if expanded else plain.construct_params(_check=False))
        # $1..$n in the order of positiontup; a name used twice has one number.
        order = list(dict.fromkeys(compiled.positiontup or []))

        def type_of(name: str) -> Any:
            # An IN list's items are named after the list's parameter (level_1 -> level_1_1).
            bind = compiled.binds.get(name)
            if bind is None:
                bind = compiled.binds.get(name.rsplit("_", 1)[0])
            return bind.type if bind is not None else None

        # The statement's own values (a status, an IN list's items, the LIMIT) are written
        # into the text: PostgreSQL keeps a generic plan only when it costs no more than the
        # custom ones, and a generic plan knows no LIMIT $n (it costs every row).
        literal: dict[str, str] = {}
        for name in order:
            kind = type_of(name)
            render = kind.literal_processor(dialect) if kind is not None else None
            if name not in required and values.get(name) is not None and render is not None:
                literal[name] = render(values[name])
        arguments = [name for name in order if name not in literal]

        def number(match: re.Match[str]) -> str:
            name = order[int(match.group(1)) - 1]
            return literal[name] if name in literal else f"${arguments.index(name) + 1}"

        # SQLAlchemy writes `$n` for parameters only (no dollar quoting in its output).
        prepare_sql = _DOLLAR.sub(number, str(compiled))
        # EXECUTE goes to the driver as it is (_on_driver: nothing is compiled): going
        # through the ORM session's execute cost more than PostgreSQL's side of it. So values
        # are converted here, both ways, with the statement's own types' processors (psycopg2
        # converts uuid, json, timestamptz itself; bytea comes back as a memoryview that
        # LargeBinary turns into bytes).
        readers = {
            i: reader
            for i, selected in enumerate(statement.selected_columns)
            if (reader := selected.type.result_processor(dialect, None)) is not None
        }
        processors = {}
        for name in arguments:
            kind = type_of(name)
            process = kind.bind_processor(dialect) if kind is not None else None
            if process is not None:
                processors[name] = process
        call = (
            f"EXECUTE {self.name}({', '.join(f'%({n})s' for n in arguments)})"
            if arguments
            else f"EXECUTE {self.name}"
        )
        defaults = {
            n: values[n] for n in arguments if n not in required and values.get(n) is not None
        }
        return _Compiled(prepare_sql, call, defaults, arguments, processors, readers)

    def execute(self, params: Mapping[str, Any], session: Session | None = None) -> Rows:
        """Run it in the request's session (its transaction; or in `session`), preparing it
        first on this connection if needed."""
        compiled = self._compiled
        session = session if session is not None else db.session()
        connection = session.connection()
        pooled = connection.connection  # the pool's proxy: .info lives as long as the DBAPI one
        # name -> the text prepared under it on this connection: another statement of the
        # same name (a shape rebuilt after leaving _listing's cache is the same text) is
        # DEALLOCATEd and prepared anew rather than executed as the old one.
        ready: dict[str, str] = pooled.info.setdefault(_INFO_KEY, {})
        known = ready.get(self.name)
        if known is not compiled.prepare_sql and known != compiled.prepare_sql:
            if known is not None:
                _on_driver(connection, pooled, f"DEALLOCATE {self.name}", None, announce=False)
            self._prepare(connection, pooled, compiled.prepare_sql)
            ready[self.name] = compiled.prepare_sql
        merged = {**compiled.defaults, **params}
        values = {name: merged.get(name) for name in compiled.arguments}
        for name, process in compiled.processors.items():
            values[name] = process(values[name])
        rows = _on_driver(connection, pooled, compiled.execute, values, announce=True)
        if not compiled.readers:
            return Rows(rows)
        readers = compiled.readers
        return Rows(
            [tuple(readers[i](v) if i in readers else v for i, v in enumerate(row)) for row in rows]
        )

    def _prepare(self, connection: Connection, pooled: Any, sql: str) -> None:
        # Set-up of the connection, like a SET: not announced as one of the request's
        # statements (tests count those).
        _on_driver(connection, pooled, f"PREPARE {self.name} AS {sql}", None, announce=False)


def _on_driver(
    connection: Connection,
    pooled: Any,
    statement: str,
    params: Mapping[str, Any] | None,
    *,
    announce: bool,
) -> list[Any]:
    """Run `statement` on the driver's own cursor, in the connection's transaction; its rows
    (none for a PREPARE). SQLAlchemy's execute around it cost ~100 us a statement (its
    execution context and result metadata, for rows read by position anyway), more than the
    driver's own work. What SQLAlchemy would do that matters is done here: the statement
    events fire (statement counts, the slow-statement log, blog.auth.sessions' write watch),
    and an error (a lock timeout, a lost server) is raised as SQLAlchemy's, as the
    statement's own would be, a lost connection dropped from the pool."""
    raw = pooled.dbapi_connection
    dialect = connection.dialect
    dispatch = connection.dispatch
    cursor = raw.cursor()
    try:
        if announce:
            for listener in dispatch.before_cursor_execute:
                listener(connection, cursor, statement, params, None, False)
        cursor.execute(statement, params)
        if announce:
            for listener in dispatch.after_cursor_execute:
                listener(connection, cursor, statement, params, None, False)
        return cursor.fetchall() if cursor.description is not None else []
    except dialect.loaded_dbapi.Error as exc:
        gone = dialect.is_disconnect(exc, raw, cursor)
        if gone:
            pooled.invalidate(exc)
        raise DBAPIError.instance(
            statement,
            params,
            exc,
            dialect.loaded_dbapi.Error,
            connection_invalidated=gone,
            dialect=dialect,
        ) from exc
    finally:
        with contextlib.suppress(Exception):
            cursor.close()


class Rows:
    """The rows of one execution, by position (`all`, `first`, `one` as a Result has them)."""

    __slots__ = ("_rows",)

    def __init__(self, rows: list[Any]):
        self._rows = rows

    def all(self) -> list[Any]:
        return self._rows

    def first(self) -> Any:
        return self._rows[0] if self._rows else None

    def one(self) -> Any:
        if len(self._rows) != 1:
            raise NoResultFound if not self._rows else MultipleResultsFound
        return self._rows[0]
