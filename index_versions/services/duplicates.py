"""Duplicate groups of a version: copies of one text across sources, kept up to date incrementally.

Each revision's signature (exact key, MinHash LSH bands) is computed once
(:func:`revision_signatures_ensure`). Building a version then looks only at the
documents it changed: the groups they were in, and the documents whose signature
they share now (a GIN probe on the bands). Those documents' groups are
recomputed; every other group is inherited from the base by reference (its spans
simply stay open). A version that changes much of the corpus (the first one, a
bulk load) recomputes every group in one set-based statement instead. The
canonical member of a group is the copy from an authoritative source
(``DUPLICATES_AUTHORITATIVE_SOURCES``), else the most recently modified one
(ties: the lowest id).
"""

from django.conf import settings
from django.db import connection

from index_versions.duplicate_detection import scheme, signature
from index_versions.models import DuplicateSpan, IndexVersion, RevisionSignature
from index_versions.selectors import version_rows
from index_versions.services.spans import DUPLICATES, spans_apply
from ragplatform.sql import INDEX_PROBES_ONLY, Sql, compose, read_only_planned
from sources.models import DocumentRevision, Source

_SIGNATURE = RevisionSignature._meta.db_table
_REVISION = DocumentRevision._meta.db_table
# Above this many changed documents (or a fifth of the version), recompute every group at once.
_INCREMENTAL_MAX = 5000


def revision_signatures_ensure(*, revision_ids) -> int:
    """Compute the signatures the revisions lack (or that were cut under another scheme); returns how many."""
    current = scheme(settings.DUPLICATES_NEAR_THRESHOLD)
    ids = set(revision_ids)
    done = set(
        RevisionSignature.objects.filter(revision_id__in=list(ids), scheme=current).values_list(
            "revision_id", flat=True
        )
    )
    todo = list(ids - done)
    for start in range(0, len(todo), 500):
        batch = DocumentRevision.objects.filter(pk__in=todo[start : start + 500]).values_list("pk", "content")
        RevisionSignature.objects.bulk_create(
            [
                RevisionSignature(
                    revision_id=revision_id, exact_key=sig.exact_key, bands=list(sig.bands), scheme=current
                )
                for revision_id, sig in (
                    (revision_id, signature(content, threshold=settings.DUPLICATES_NEAR_THRESHOLD))
                    for revision_id, content in batch
                )
            ],
            update_conflicts=True,
            unique_fields=["revision"],
            update_fields=["exact_key", "bands", "scheme"],
        )
    return len(todo)


def _query(statement: Sql) -> list[tuple]:
    statement = statement.checked()
    with connection.cursor() as cursor:
        cursor.execute(statement.text, statement.params)
        return cursor.fetchall()


def _probed(statement: Sql) -> list[tuple]:
    """``statement`` run as index probes only.

    PostgreSQL cannot estimate how few signatures share a band (it guesses a few
    percent), so on a corpus of thousands it scans every signature and every row of
    the version, a cost that grows with the corpus instead of with the change.
    """
    statement = statement.checked()
    with read_only_planned(INDEX_PROBES_ONLY) as cursor:
        cursor.execute(statement.text, statement.params)
        return cursor.fetchall()


def _held(version: IndexVersion, document_ids: set[int] | None) -> Sql:
    """The rows of ``version``, of these documents only unless ``None``."""
    if document_ids is None:
        return version_rows(version)
    return compose(
        "SELECT * FROM ({rows}) held WHERE held.document_id = ANY(%(documents)s)",
        {"documents": sorted(document_ids)},
        rows=version_rows(version),
    )


def _signatures_ensure(version: IndexVersion, document_ids: set[int] | None) -> None:
    rows = _query(compose("SELECT revision_id FROM ({held}) rows", held=_held(version, document_ids)))
    revision_signatures_ensure(revision_ids=[revision_id for (revision_id,) in rows])


def _collisions(version: IndexVersion, document_ids: set[int] | None) -> list[list[int]]:
    """Sets (two or more) of these documents of ``version`` sharing an exact key or an LSH band."""
    return [
        members
        for (members,) in _query(
            compose(
                f"""
                SELECT array_agg(DISTINCT document_id) FROM (
                    SELECT rows.document_id, 'k:' || sig.exact_key AS link
                    FROM ({{held}}) rows JOIN {_SIGNATURE} sig ON sig.revision_id = rows.revision_id
                    UNION ALL
                    SELECT rows.document_id, 'b:' || band::text
                    FROM ({{held}}) rows JOIN {_SIGNATURE} sig ON sig.revision_id = rows.revision_id,
                         unnest(sig.bands) band
                ) links
                GROUP BY link HAVING count(DISTINCT document_id) > 1
                """,
                held=_held(version, document_ids),
            )
        )
    ]


def _linked(version: IndexVersion, document_ids: set[int]) -> set[int]:
    """Documents of ``version`` sharing an exact key or a band with one of these (a GIN probe per band)."""
    if not document_ids:
        return set()
    probes = _query(
        compose(
            f"SELECT sig.exact_key, sig.bands FROM ({{held}}) rows "
            f"JOIN {_SIGNATURE} sig ON sig.revision_id = rows.revision_id",
            held=_held(version, document_ids),
        )
    )
    keys = sorted({key for key, _ in probes})
    bands = sorted({band for _, bands in probes for band in bands or ()})
    found = _probed(
        compose(
            f"""
            WITH linked AS MATERIALIZED (
                SELECT revision_id FROM {_SIGNATURE} WHERE bands && %(bands)s::bigint[]
                UNION
                SELECT revision_id FROM {_SIGNATURE} WHERE exact_key = ANY(%(keys)s)
            )
            SELECT rows.document_id FROM linked JOIN ({{rows}}) rows ON rows.revision_id = linked.revision_id
            """,
            {"bands": bands, "keys": keys},
            rows=version_rows(version),
        )
    )
    return {document_id for (document_id,) in found}


def _groups_at(version_id: int, *, documents=None, groups=None) -> dict[int, int]:
    """``{document: group}`` at version ``version_id``, for these documents or these groups."""
    if version_id <= 0:
        return {}
    spans = DuplicateSpan.objects.filter(valid_from__lte=version_id, valid_to__gt=version_id)
    if documents is not None:
        spans = spans.filter(document_id__in=list(documents))
    if groups is not None:
        spans = spans.filter(group__in=list(groups))
    return dict(spans.values_list("document_id", "group"))


def _components(collisions: list[list[int]]) -> list[set[int]]:
    parent: dict[int, int] = {}

    def find(x):
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for members in collisions:
        for other in members[1:]:
            parent[find(other)] = find(members[0])
    groups: dict[int, set[int]] = {}
    for document_id in list(parent):
        groups.setdefault(find(document_id), set()).add(document_id)
    return [ids for ids in groups.values() if len(ids) > 1]


def _wanted(version: IndexVersion, groups: list[set[int]]) -> dict[int, tuple]:
    """``{document: (group, kind, is_canonical)}`` for the members of ``groups``."""
    members = {document_id for ids in groups for document_id in ids}
    if not members:
        return {}
    info = {
        document_id: (source_id, modified_at, key)
        for document_id, source_id, modified_at, key in _query(
            compose(
                f"""
                SELECT rows.document_id, rows.source_id, r.modified_at, sig.exact_key FROM ({{held}}) rows
                JOIN {_REVISION} r ON r.id = rows.revision_id
                JOIN {_SIGNATURE} sig ON sig.revision_id = rows.revision_id
                """,
                held=_held(version, members),
            )
        )
    }
    authoritative = set(
        Source.objects.filter(name__in=settings.DUPLICATES_AUTHORITATIVE_SOURCES).values_list("pk", flat=True)
    )

    def preference(document_id):
        source_id, modified_at, _ = info[document_id]
        return (source_id in authoritative, modified_at is not None, modified_at or 0, -document_id)

    wanted = {}
    for ids in groups:
        canonical = max(ids, key=preference)
        kind = DuplicateSpan.Kind.EXACT if len({info[i][2] for i in ids}) == 1 else DuplicateSpan.Kind.NEAR
        wanted.update({document_id: (canonical, kind, document_id == canonical) for document_id in ids})
    return wanted


def duplicates_apply(
    *, version: IndexVersion, base: IndexVersion | None, changed_documents: set[int], regroup: bool = False
) -> int:
    """Bring ``version``'s duplicate groups up to date after ``changed_documents`` changed against ``base``.

    ``version``'s rows are written already. ``regroup`` recomputes every group (after
    a change of ``DUPLICATES_AUTHORITATIVE_SOURCES``). Returns the number of
    documents whose group changed.
    """
    base_id = base.pk if base is not None else 0
    documents_in_version = (version.counts or {}).get("documents") or 0
    if regroup or base is None or len(changed_documents) > max(_INCREMENTAL_MAX, documents_in_version // 5):
        _signatures_ensure(version, None)
        groups = _components(_collisions(version, None))
        considered = {d for ids in groups for d in ids} | set(
            DuplicateSpan.objects.filter(valid_from__lte=base_id, valid_to__gt=base_id).values_list(
                "document_id", flat=True
            )
        )
    else:
        _signatures_ensure(version, changed_documents)
        considered = set(changed_documents) | set(
            _groups_at(base_id, groups=set(_groups_at(base_id, documents=changed_documents).values()))
        )
        linked = _linked(version, changed_documents)
        considered |= linked | set(_groups_at(base_id, groups=set(_groups_at(base_id, documents=linked).values())))
        _signatures_ensure(version, considered)
        groups = _components(_collisions(version, considered))
    wanted = _wanted(version, groups)
    before = DUPLICATES.content_at(base_id, considered)
    delta = {d: wanted.get(d) for d in considered if wanted.get(d) != before.get(d)}
    return len(spans_apply(DUPLICATES, version_id=version.pk, base_id=base_id, delta=delta))
