"""SQL fragments with named parameters, composed without string-counting.

A :class:`Sql` is text with ``%(name)s`` placeholders plus the values they stand
for. Fragments are combined with :meth:`Sql.join` / :func:`compose`; a name bound
by several fragments must carry the same value in each (it is bound once), and a
name bound to two different values is an error, never a silent override.
"""

import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

import psycopg
from django.db import connection, transaction
from django.db.backends.utils import CursorDebugWrapper

_PLACEHOLDER = re.compile(r"%%|%\((\w+)\)s")


class SqlParameterError(ValueError):
    """A placeholder without a value, or one name bound to two values."""


@dataclass(frozen=True)
class Sql:
    text: str
    params: Mapping[str, object] = field(default_factory=dict)

    def placeholders(self) -> set[str]:
        return {match.group(1) for match in _PLACEHOLDER.finditer(self.text) if match.group(1)}

    def checked(self) -> "Sql":
        """This fragment, after checking that every placeholder has a value and every value a placeholder."""
        names = self.placeholders()
        missing, unused = names - set(self.params), set(self.params) - names
        if missing or unused:
            raise SqlParameterError(f"placeholders without values: {sorted(missing)}; unused values: {sorted(unused)}")
        return self

    def positional(self) -> tuple[str, list]:
        """``(text with %s, [values])`` for APIs that take positional parameters (the ORM's ``as_sql``)."""
        values: list = []

        def replace(match: re.Match) -> str:
            if match.group(1) is None:
                return "%%"
            values.append(self.params[match.group(1)])
            return "%s"

        return _PLACEHOLDER.sub(replace, self.checked().text), values


def merged_params(fragments: Iterable[Sql]) -> dict[str, object]:
    params: dict[str, object] = {}
    for fragment in fragments:
        for name, value in fragment.params.items():
            if name in params and params[name] is not value and params[name] != value:
                raise SqlParameterError(f"%({name})s is bound to {params[name]!r} and to {value!r}")
            params[name] = value
    return params


def compose(template: str, params: Mapping[str, object] | None = None, /, **fragments: Sql) -> Sql:
    """``template`` with ``{name}`` replaced by each fragment's text; its own ``params`` and theirs merged."""
    text = template.format(**{name: fragment.text for name, fragment in fragments.items()})
    return Sql(text, merged_params([Sql("", params or {}), *fragments.values()]))


def join(separator: str, fragments: Iterable[Sql]) -> Sql:
    fragments = list(fragments)
    return Sql(separator.join(fragment.text for fragment in fragments), merged_params(fragments))


TRUE = Sql("TRUE")


def positional_fragment(text: str, values, *, prefix: str) -> Sql:
    """Positional SQL (``%s``, as the ORM compiles it) as a named fragment: value i becomes ``%(prefix_i)s``."""
    values = list(values)
    counter = iter(range(len(values)))

    def replace(match: re.Match) -> str:
        return "%%" if match.group(0) == "%%" else f"%({prefix}_{next(counter)})s"

    text = re.sub(r"%%|%s", replace, text)
    return Sql(text, {f"{prefix}_{i}": value for i, value in enumerate(values)}).checked()


def orm_fragment(queryset, *, prefix: str) -> Sql:
    """A queryset's compiled SELECT as a named fragment, to splice into hand-written SQL."""
    text, values = queryset.query.sql_with_params()
    return positional_fragment(text, values, prefix=prefix)


# Nested loops over indexes only: for statements whose selectivity PostgreSQL overestimates.
INDEX_PROBES_ONLY = {"enable_seqscan": "off", "enable_hashjoin": "off", "enable_mergejoin": "off"}


def planner_options_set(cursor, options: Mapping[str, str]) -> None:
    """``SET LOCAL`` each planner option (``enable_seqscan``, ``hnsw.ef_search``, ...) in one round trip."""
    if not options:
        return
    calls, params = [], {}
    for i, (name, value) in enumerate(options.items()):
        calls.append(f"set_config(%(name_{i})s, %(value_{i})s, true)")
        params[f"name_{i}"], params[f"value_{i}"] = name, str(value)
    cursor.execute("SELECT " + ", ".join(calls), params)


@contextmanager
def read_only_planned(options: Mapping[str, str], *, prepared: bool = False) -> Iterator:
    """A cursor in a read-only transaction (or a savepoint that is rolled back), with planner ``options`` for it alone.

    For read-only statements whose plan PostgreSQL misjudges. Outside a transaction it
    opens one, ``READ ONLY`` so that a write fails, and commits it: the options end
    with it, and, unlike a rollback, a commit keeps the connection's prepared
    statements (psycopg deallocates them all on ``ROLLBACK``). Inside a caller's
    transaction it rolls a savepoint back, which discards the options even though
    the caller's transaction goes on (a released savepoint would keep them).

    ``prepared``: a cursor that binds parameters on the server, so that statements
    it runs again are prepared once per connection (:func:`_server_bound_cursor`).
    """
    outermost = not connection.in_atomic_block
    with transaction.atomic(), _server_bound_cursor() if prepared else connection.cursor() as cursor:
        planner_options_set(cursor, {"transaction_read_only": "on", **options} if outermost else options)
        yield cursor
        if not outermost:
            transaction.set_rollback(True)


def _server_bound_cursor():
    """A Django cursor over a psycopg cursor that binds on the server, and prepares what it runs again.

    Django's own cursors bind on the client (``ClientCursor``), which psycopg never
    prepares; this one sends the parameters apart from the text, so PostgreSQL parses,
    and may plan, a statement once per connection (psycopg prepares a text on its
    second execution; a statement run once is not kept). The wrapper is Django's:
    errors, ``execute_wrapper`` hooks and query logging behave as for any cursor.
    """
    connection.ensure_connection()
    connection.validate_thread_sharing()
    raw = connection.connection
    raw.prepare_threshold = 1  # only this cursor's kind reads it: a ClientCursor never prepares
    cursor = psycopg.Cursor(raw)
    return _BoundTextLogged(cursor, connection) if connection.queries_logged else connection.make_cursor(cursor)


class _BoundTextLogged(CursorDebugWrapper):
    """Logs a server-bound statement with its values in it, as Django logs its own (client-bound) ones:
    a logged or captured statement can be run again as it reads (Django would log its ``$1`` form)."""

    def debug_sql(self, sql=None, params=None, use_last_executed_query=False, many=False):
        if use_last_executed_query:
            sql, use_last_executed_query = psycopg.ClientCursor(self.cursor.connection).mogrify(sql, params), False
        return super().debug_sql(sql, params, use_last_executed_query, many)
