"""Reads on index versions. Those taking ``user`` apply the ACL visibility filter.

Every reader of a version's content goes through :func:`version_rows` (SQL) or
:func:`version_entries` (ORM): "the (document, revision) rows of version V,
optionally of source S". Nothing else joins the membership table, so the way a
version stores its rows can change behind these two functions.
"""

from dataclasses import dataclass, field

from django.db import connection
from django.db.models import Exists, OuterRef, QuerySet, Subquery

from acl.selectors import VisibleTo, visibility_condition
from index_versions.models import DuplicateSpan, IndexVersion, MembershipSpan
from ragplatform.sql import Sql, compose
from sources.models import Document

_SPANS = MembershipSpan._meta.db_table
_DUPLICATES = DuplicateSpan._meta.db_table


def index_version_active() -> IndexVersion | None:
    """The version searches read (at most one: a partial unique index)."""
    return IndexVersion.objects.filter(state=IndexVersion.State.ACTIVE).select_related("pipeline").first()


def index_version_list() -> QuerySet[IndexVersion]:
    """Versions hold no content by themselves (counts and pipeline only): no ACL applies."""
    return IndexVersion.objects.select_related("pipeline")


def version_rows(version: IndexVersion | int, *, source_id: int | None = None, name: str = "version") -> Sql:
    """Internal (no ACL): ``SELECT document_id, revision_id, source_id`` of the rows of ``version``.

    A subquery to join as ``(...) alias``; PostgreSQL pulls it up, so a join on
    ``revision_id`` probes ``span_revision`` and a filter on ``source_id`` scans
    ``span_source``. ``name`` prefixes the parameters, so that two versions can be
    read in one statement (a diff).
    """
    version_id = version if isinstance(version, int) else version.pk
    text = (
        f"SELECT document_id, revision_id, source_id FROM {_SPANS} "
        f"WHERE valid_from <= %({name}_id)s AND valid_to > %({name}_id)s"
    )
    params = {f"{name}_id": version_id}
    if source_id is not None:
        text += f" AND source_id = %({name}_source)s"
        params[f"{name}_source"] = source_id
    return Sql(text, params)


def version_entries(version: IndexVersion | None = None, *, source_id: int | None = None) -> QuerySet:
    """Internal (no ACL): the rows of ``version`` (default: the active one) as an ORM queryset.

    Rows have ``document_id``, ``revision_id`` and ``source_id``; the active
    version is resolved inside the query, so the queryset costs one statement.
    """
    if version is None:
        version_id = Subquery(IndexVersion.objects.filter(state=IndexVersion.State.ACTIVE).values("pk")[:1])
    else:
        version_id = version.pk
    entries = MembershipSpan.objects.filter(valid_from__lte=version_id, valid_to__gt=version_id)
    if source_id is not None:
        entries = entries.filter(source_id=source_id)
    return entries


def version_revisions(version: IndexVersion, *, source_id: int | None = None) -> dict[int, int]:
    """Internal: ``{document id: revision id}`` of ``version`` (of one source if given)."""
    return dict(version_entries(version, source_id=source_id).values_list("document_id", "revision_id"))


def document_list(*, user, source_id: int | None = None) -> QuerySet[Document]:
    """Documents in the active index version that ``user`` may read (staff included: no bypass)."""
    in_active_version = version_entries().filter(document_id=OuterRef("pk"))
    # Source grant and the document's own access list, both in this query's SQL.
    documents = Document.objects.filter(Exists(in_active_version), VisibleTo(user, source="source_id", document="id"))
    if source_id is not None:
        documents = documents.filter(source_id=source_id)
    # The metadata of the revision the active version holds (a subquery: no query per document).
    documents = documents.annotate(active_metadata=Subquery(in_active_version.values("revision__metadata")[:1]))
    return documents.select_related("source")


@dataclass
class VersionDiff:
    version: int
    against: int
    added: list[dict] = field(default_factory=list)
    removed: list[dict] = field(default_factory=list)
    changed: list[dict] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        return {"added": len(self.added), "removed": len(self.removed), "changed": len(self.changed)}


def index_version_diff(*, version: IndexVersion, against: IndexVersion, user) -> VersionDiff:
    """Documents added, removed and changed in ``version`` relative to ``against``.

    Staff (operators deciding on a rollback) see every document; anyone else only
    documents they may read, through the same visibility filter as search.
    """
    condition = Sql("TRUE")
    if not user.is_staff:
        condition = visibility_condition(
            user=user,
            source_column="coalesce(a.source_id, b.source_id)",
            document_column="coalesce(a.document_id, b.document_id)",
        )
    # Only documents with a span opened or closed between the two versions can differ: O(differences).
    low, high = sorted((version.pk, against.pk))
    statement = compose(
        f"""
        WITH touched AS (
            SELECT document_id FROM {_SPANS} WHERE valid_from > %(low)s AND valid_from <= %(high)s
            UNION
            SELECT document_id FROM {_SPANS} WHERE valid_to > %(low)s AND valid_to <= %(high)s
        )
        SELECT coalesce(a.document_id, b.document_id), a.revision_id, b.revision_id
        FROM (SELECT * FROM ({{a}}) rows WHERE rows.document_id IN (SELECT document_id FROM touched)) a
        FULL JOIN (SELECT * FROM ({{b}}) rows WHERE rows.document_id IN (SELECT document_id FROM touched)) b
            ON a.document_id = b.document_id
        WHERE a.revision_id IS DISTINCT FROM b.revision_id AND {{visible}}
        ORDER BY 1
        """,
        {"low": low, "high": high},
        a=version_rows(version, name="version"),
        b=version_rows(against, name="against"),
        visible=condition,
    ).checked()
    with connection.cursor() as cursor:
        cursor.execute(statement.text, statement.params)
        rows = cursor.fetchall()
    documents = Document.objects.in_bulk([document_id for document_id, _, _ in rows])
    diff = VersionDiff(version=version.pk, against=against.pk)
    for document_id, revision, other_revision in rows:
        document = documents[document_id]
        entry = {"document_id": document_id, "source_id": document.source_id, "title": document.title}
        if other_revision is None:
            diff.added.append(entry)
        elif revision is None:
            diff.removed.append(entry)
        else:
            diff.changed.append(entry)
    return diff


def version_duplicates(version: IndexVersion | int, *, name: str = "duplicates") -> Sql:
    """Internal (no ACL): ``SELECT document_id, "group", kind, is_canonical`` of ``version``'s duplicate groups.

    Documents without a copy have no row. Join it to rows already filtered by the ACL.
    """
    version_id = version if isinstance(version, int) else version.pk
    text = (
        f'SELECT document_id, "group", kind, is_canonical FROM {_DUPLICATES} '
        f"WHERE valid_from <= %({name}_version)s AND valid_to > %({name}_version)s"
    )
    return Sql(text, {f"{name}_version": version_id})
