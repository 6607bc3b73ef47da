"""Writing spans (docs/versions.md): the newest content made equal to a version's, row by changed row.

A new version N is "base B with these documents changed". The newest content (the
open spans) may differ from B, after a rollback or a held version; so the
documents to touch are those changed since B (spans opened or closed after it)
plus the change itself. Each of them whose newest row differs from what N holds
gets its open span closed at N and, unless N drops the document, a new span
opened at N. Versions before N keep their content: closing at N only ends a span
where N begins, and nothing opened at N is visible to an earlier version.

Callers hold the version lock (:func:`index_versions.services.locking.versions_lock`),
and N is the newest version id, so no version lies after N.
"""

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import connection

from index_versions.models import OPEN, DuplicateSpan, MembershipSpan

_BATCH = 5000


@dataclass(frozen=True)
class SpanTable:
    """A table of spans: ``key`` fields name a row (a document; a source and lexeme), ``values`` what it holds.

    ``scope`` restricts every read and write to one part of the table (a pipeline's
    statistics); rows written carry it.
    """

    model: type
    values: tuple[str, ...]
    key: tuple[str, ...] = ("document_id",)
    scope: tuple[tuple[str, object], ...] = ()

    def scoped(self, **scope) -> "SpanTable":
        return SpanTable(self.model, self.values, self.key, tuple(sorted(scope.items())))

    def _rows(self):
        return self.model.objects.filter(**dict(self.scope))

    def _key_of(self, row) -> object:
        return row[0] if len(self.key) == 1 else tuple(row[: len(self.key)])

    def _filter_keys(self, rows, keys: list):
        if len(self.key) == 1:
            return rows.filter(**{f"{self.key[0]}__in": keys})
        # Composite keys: narrow by each field, then keep exact tuples (callers pass one source's keys, or few).
        for i, field in enumerate(self.key):
            rows = rows.filter(**{f"{field}__in": sorted({key[i] for key in keys})})
        return rows

    def content_at(self, version_id: int, keys: Iterable) -> dict:
        """``{key: values}`` in version ``version_id`` for these keys (those it holds)."""
        found: dict = {}
        if version_id <= 0:
            return found
        keys = list(keys)
        wanted = set(keys)
        for start in range(0, len(keys), _BATCH):
            rows = self._filter_keys(
                self._rows().filter(valid_from__lte=version_id, valid_to__gt=version_id), keys[start : start + _BATCH]
            ).values_list(*self.key, *self.values)
            for row in rows:
                key = self._key_of(row)
                if key in wanted:
                    found[key] = tuple(row[len(self.key) :])
        return found

    def changed_since(self, version_id: int) -> set:
        """Keys whose newest row differs, or may differ, from their row in version ``version_id``."""
        opened = self._rows().filter(valid_from__gt=version_id).values_list(*self.key)
        closed = self._rows().filter(valid_to__gt=version_id, valid_to__lt=OPEN).values_list(*self.key)
        return {self._key_of(row) for row in opened} | {self._key_of(row) for row in closed}

    def newest(self, keys: list) -> dict:
        """``{key: (span id, values)}`` of the open spans of these keys."""
        rows = self._filter_keys(self._rows().filter(valid_to=OPEN), keys).values_list("pk", *self.key, *self.values)
        found = {}
        wanted = set(keys)
        for row in rows:
            key = self._key_of(row[1:])
            if key in wanted:
                found[key] = (row[0], tuple(row[1 + len(self.key) :]))
        return found

    def insert(self, spans: list[tuple], version_id: int) -> None:
        """Open a span at ``version_id`` for each ``(key, values)``: one statement per batch, no model objects.

        The build writes thousands of statistics spans; building a model instance per row
        cost more than the database's work.
        """
        names = [name for name, _ in self.scope] + [*self.key, *self.values, "valid_from"]
        fields = [self.model._meta.get_field(name) for name in names]
        columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
        arrays = ", ".join(f"%s::{f.db_type(connection)}[]" for f in fields)
        scope = [value for _, value in self.scope]
        for start in range(0, len(spans), _BATCH):
            rows = [
                (*scope, *((key,) if len(self.key) == 1 else key), *values, version_id)
                for key, values in spans[start : start + _BATCH]
            ]
            with connection.cursor() as cursor:
                cursor.execute(
                    f"INSERT INTO {self.model._meta.db_table} ({columns}, valid_to) "
                    f"SELECT *, {OPEN} FROM unnest({arrays})",
                    [list(column) for column in zip(*rows, strict=True)],
                )


MEMBERSHIP = SpanTable(MembershipSpan, ("revision_id", "source_id"))
DUPLICATES = SpanTable(DuplicateSpan, ("group", "kind", "is_canonical"))


def spans_apply(
    table: SpanTable, *, version_id: int, base_id: int, delta: dict
) -> dict[object, tuple[tuple | None, tuple | None]]:
    """Make version ``version_id`` hold base ``base_id``'s rows with ``delta`` applied (``None``: dropped).

    Returns ``{document: (row in base, row in the new version)}`` for the documents
    ``delta`` really changes. Costs O(documents changed since the base + delta).
    """
    touched = table.changed_since(base_id) | set(delta)
    base = table.content_at(base_id, touched)
    closes: list[int] = []
    opens: list[tuple] = []
    keys = list(touched)
    for start in range(0, len(keys), _BATCH):
        batch = keys[start : start + _BATCH]
        newest = table.newest(batch)
        for key in batch:
            final = delta[key] if key in delta else base.get(key)
            span = newest.get(key)
            if span is not None and span[1] != final:
                closes.append(span[0])
            if final is not None and (span is None or span[1] != final):
                opens.append((key, final))
    for start in range(0, len(closes), _BATCH):
        table.model.objects.filter(pk__in=closes[start : start + _BATCH]).update(valid_to=version_id)
    table.insert(opens, version_id)
    return {key: (base.get(key), final) for key, final in delta.items() if base.get(key) != final}
