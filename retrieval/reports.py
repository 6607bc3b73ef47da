"""Staff reports on what a version holds: the stale duplicates (copies that disagree on their date).

Operator reports, internal/staff: they name every copy, with no ACL.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection

from index_versions.models import IndexVersion
from index_versions.selectors import version_duplicates, version_rows
from ragplatform.sql import Sql, compose
from sources.models import DocumentRevision, Source

_REVISION = DocumentRevision._meta.db_table
_SOURCE = Source._meta.db_table


@dataclass(frozen=True)
class DuplicateCopy:
    document_id: int
    title: str
    uri: str
    source_id: int
    source_name: str
    modified_at: datetime | None
    is_canonical: bool


@dataclass(frozen=True)
class StaleDuplicateGroup:
    group: int  # the canonical document's id (retrieval.models.DuplicateMember.group)
    kind: str
    spread: timedelta  # newest minus oldest modified_at of the copies that have one
    newest_modified_at: datetime
    oldest_modified_at: datetime
    canonical: DuplicateCopy
    # Every copy, the canonical first, then newest first.
    members: tuple[DuplicateCopy, ...]

    @property
    def canonical_is_newest(self) -> bool:
        """False when an authoritative source's copy is older than another: the case to fix first."""
        return self.canonical.modified_at == self.newest_modified_at


class StaleDuplicates:
    """Internal/staff, no ACL: the duplicate groups of ``version`` whose copies disagree on their date.

    A group is stale when its copies' ``modified_at`` (of the revisions the version
    holds) span more than ``min_days`` days (default 0: any difference); copies without
    a date do not count. Ordered by spread, widest first, then group. Lazy and
    sliceable, so a paginator runs two queries per page: one ``count()`` and, for the
    slice, the page's groups (aggregated over ``duplicate_member_group``) with their
    copies in the same statement.
    """

    def __init__(self, *, version: IndexVersion, min_days: float = 0):
        self.version = version
        self.min_spread = timedelta(days=min_days)

    def _groups(self) -> Sql:
        return compose(
            f"""
        SELECT dm."group", min(dm.kind) AS kind, max(r.modified_at) - min(r.modified_at) AS spread,
               max(r.modified_at) AS newest, min(r.modified_at) AS oldest
        FROM ({{duplicates}}) dm
        JOIN ({{rows}}) vd ON vd.document_id = dm.document_id
        JOIN {_REVISION} r ON r.id = vd.revision_id
        GROUP BY dm."group"
        HAVING max(r.modified_at) - min(r.modified_at) > %(min_spread)s""",
            {"min_spread": self.min_spread},
            duplicates=version_duplicates(self.version),
            rows=version_rows(self.version),
        )

    def count(self) -> int:
        statement = compose("SELECT count(*) FROM ({groups}) stale", groups=self._groups()).checked()
        with connection.cursor() as cursor:
            cursor.execute(statement.text, statement.params)
            return cursor.fetchone()[0]

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, page: slice) -> list[StaleDuplicateGroup]:
        if not isinstance(page, slice) or page.step not in (None, 1):
            raise TypeError("StaleDuplicates supports slices only: stale[offset:offset + limit]")
        offset = page.start or 0
        limit = None if page.stop is None else max(page.stop - offset, 0)
        statement = compose(
            f"""
                WITH page AS (
                    {{groups}}
                    ORDER BY spread DESC, dm."group"
                    LIMIT %(limit)s OFFSET %(offset)s
                )
                SELECT p."group", p.kind, p.spread, p.newest, p.oldest,
                       dm.document_id, r.title, r.uri, vd.source_id, s.name, r.modified_at, dm.is_canonical
                FROM page p
                JOIN ({{duplicates}}) dm ON dm."group" = p."group"
                JOIN ({{rows}}) vd ON vd.document_id = dm.document_id
                JOIN {_REVISION} r ON r.id = vd.revision_id
                JOIN {_SOURCE} s ON s.id = vd.source_id
                ORDER BY p.spread DESC, p."group", dm.is_canonical DESC, r.modified_at DESC NULLS LAST,
                         dm.document_id""",
            {"limit": limit, "offset": offset},
            groups=self._groups(),
            duplicates=version_duplicates(self.version),
            rows=version_rows(self.version),
        ).checked()
        with connection.cursor() as cursor:
            cursor.execute(statement.text, statement.params)
            rows = cursor.fetchall()
        groups: dict[int, list] = {}
        for row in rows:
            groups.setdefault(row[0], []).append(row)
        found = []
        for group, members in groups.items():
            copies = tuple(DuplicateCopy(*member[5:]) for member in members)
            _, kind, spread, newest, oldest = members[0][:5]
            canonical = next((c for c in copies if c.is_canonical), copies[0])
            found.append(
                StaleDuplicateGroup(
                    group=group,
                    kind=kind,
                    spread=spread,
                    newest_modified_at=newest,
                    oldest_modified_at=oldest,
                    canonical=canonical,
                    members=copies,
                )
            )
        return found


def stale_duplicates(*, version: IndexVersion, min_days: float = 0) -> StaleDuplicates:
    """Internal/staff (no ACL): see :class:`StaleDuplicates`; slice it or hand it to a paginator."""
    return StaleDuplicates(version=version, min_days=min_days)
