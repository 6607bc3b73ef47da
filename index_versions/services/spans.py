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

from index_versions.models import OPEN, DuplicateSpan, MembershipSpan

_BATCH = 5000


@dataclass(frozen=True)
class SpanTable:
    model: type
    values: tuple[str, ...]  # the fields a document's row holds besides its span

    def content_at(self, version_id: int, document_ids: Iterable[int]) -> dict[int, tuple]:
        """``{document: values}`` in version ``version_id`` for these documents (those it holds)."""
        found: dict[int, tuple] = {}
        if version_id <= 0:
            return found
        ids = list(document_ids)
        for start in range(0, len(ids), _BATCH):
            rows = self.model.objects.filter(
                document_id__in=ids[start : start + _BATCH], valid_from__lte=version_id, valid_to__gt=version_id
            ).values_list("document_id", *self.values)
            found.update((row[0], tuple(row[1:])) for row in rows)
        return found

    def changed_since(self, version_id: int) -> set[int]:
        """Documents whose newest row differs, or may differ, from their row in version ``version_id``."""
        opened = self.model.objects.filter(valid_from__gt=version_id).values_list("document_id", flat=True)
        closed = self.model.objects.filter(valid_to__gt=version_id, valid_to__lt=OPEN).values_list(
            "document_id", flat=True
        )
        return set(opened) | set(closed)


MEMBERSHIP = SpanTable(MembershipSpan, ("revision_id", "source_id"))
DUPLICATES = SpanTable(DuplicateSpan, ("group", "kind", "is_canonical"))


def spans_apply(
    table: SpanTable, *, version_id: int, base_id: int, delta: dict[int, tuple | None]
) -> dict[int, tuple[tuple | None, tuple | None]]:
    """Make version ``version_id`` hold base ``base_id``'s rows with ``delta`` applied (``None``: dropped).

    Returns ``{document: (row in base, row in the new version)}`` for the documents
    ``delta`` really changes. Costs O(documents changed since the base + delta).
    """
    touched = table.changed_since(base_id) | set(delta)
    base = table.content_at(base_id, touched)
    fields = ("document_id", *table.values)
    closes: list[int] = []
    opens: list = []
    ids = list(touched)
    for start in range(0, len(ids), _BATCH):
        batch = ids[start : start + _BATCH]
        newest = {
            row[1]: (row[0], tuple(row[2:]))
            for row in table.model.objects.filter(document_id__in=batch, valid_to=OPEN).values_list("pk", *fields)
        }
        for document_id in batch:
            final = delta[document_id] if document_id in delta else base.get(document_id)
            span = newest.get(document_id)
            if span is not None and span[1] != final:
                closes.append(span[0])
            if final is not None and (span is None or span[1] != final):
                opens.append(
                    table.model(
                        document_id=document_id, valid_from=version_id, **dict(zip(table.values, final, strict=True))
                    )
                )
    for start in range(0, len(closes), _BATCH):
        table.model.objects.filter(pk__in=closes[start : start + _BATCH]).update(valid_to=version_id)
    table.model.objects.bulk_create(opens, batch_size=_BATCH)
    return {
        document_id: (base.get(document_id), final)
        for document_id, final in delta.items()
        if base.get(document_id) != final
    }
