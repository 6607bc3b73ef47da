"""What a search takes and returns: modes, plans, filters, hits and outcomes."""

import json
from dataclasses import dataclass, field
from datetime import datetime

from ragplatform.sql import Sql
from sources.models import DocumentRevision

_REVISION = DocumentRevision._meta.db_table


@dataclass(frozen=True)
class SearchHit:
    chunk_id: int
    document_id: int
    document_title: str
    source_id: int
    uri: str
    section: str
    text: str
    score: float
    modified_at: datetime | None = None
    # Other copies of this text the same user may read (see index_versions.services.duplicates); never invisible ones.
    also_in: tuple = ()
    # The revision's metadata (sources.metadata): ticket fields, front matter...
    metadata: dict = field(default_factory=dict, hash=False, compare=False)


class SearchPlan:
    EXACT = "exact"
    HNSW = "hnsw"
    KEYWORD = "keyword"  # keyword mode: the full-text index only, no vector leg
    # How the keyword leg found its candidates (SearchOutcome.keyword_plan).
    KEYWORD_EXACT = "keyword_exact"  # every visible chunk: few are visible
    KEYWORD_BOUNDED = "keyword_bounded"  # each query lexeme's best visible postings


class SearchMode:
    HYBRID = "hybrid"
    VECTOR = "vector"
    KEYWORD = "keyword"
    ALL = (HYBRID, VECTOR, KEYWORD)


@dataclass(frozen=True)
class SearchFilters:
    """Restrictions a search applies inside its SQL, on top of (never instead of) the ACL."""

    sources: tuple[int, ...] = ()
    modified_after: datetime | None = None
    modified_before: datetime | None = None
    # File extensions without the dot ("md", "pdf"), matched on the end of the document's URI.
    document_types: tuple[str, ...] = ()
    # ((key, (value, ...)), ...): the revision's metadata has each key with one of its values.
    metadata: tuple[tuple[str, tuple], ...] = ()

    def sql(self, *, membership: str = "vd") -> Sql:
        """A fragment to AND into a leg's WHERE (after the ACL); ``TRUE`` when nothing is restricted.

        Conditions on the revision (date, type, metadata) are a primary-key probe per
        candidate, so the legs keep their plans (index order for HNSW, the GIN index for
        keywords). Metadata is JSONB containment: per key,
        ``r.metadata @> ANY('{"k": v}', '{"k": [v]}', ...)`` over the key's values (any
        of them; the array form matches a list-valued key holding v); keys are ANDed.
        """
        parts, params = [], {}
        if self.sources:
            parts.append(f"{membership}.source_id = ANY(%(filter_sources)s)")
            params["filter_sources"] = list(self.sources)
        revision_parts = []
        if self.modified_after is not None:
            revision_parts.append("r.modified_at >= %(filter_after)s")
            params["filter_after"] = self.modified_after
        if self.modified_before is not None:
            revision_parts.append("r.modified_at < %(filter_before)s")
            params["filter_before"] = self.modified_before
        if self.document_types:
            revision_parts.append(
                r"lower(substring(r.uri from '\.([A-Za-z0-9]+)(?:[?#].*)?$')) = ANY(%(filter_types)s)"
            )
            params["filter_types"] = [t.lower().lstrip(".") for t in self.document_types]
        for i, (key, values) in enumerate(self.metadata):
            revision_parts.append(f"r.metadata @> ANY(%(filter_metadata_{i})s::jsonb[])")
            params[f"filter_metadata_{i}"] = [
                json.dumps({key: shape}) for value in values for shape in (value, [value])
            ]
        if revision_parts:
            parts.append(
                f"EXISTS (SELECT 1 FROM {_REVISION} r WHERE r.id = {membership}.revision_id AND "
                + " AND ".join(revision_parts)
                + ")"
            )
        return Sql(" AND ".join(parts) or "TRUE", params)


NO_FILTERS = SearchFilters()


@dataclass(frozen=True)
class NearestChunks:
    hits: list[SearchHit]
    plan: str  # SearchPlan: how the database found them
    keyword_plan: str | None = None  # SearchPlan.KEYWORD_*: how the keyword leg did, if there was one


@dataclass(frozen=True)
class SearchOutcome:
    results: list[SearchHit]
    index_version: int | None
    took_ms: float
    plan: str | None = None
    keyword_plan: str | None = None
    id: int | None = None  # the search's audit event, once recorded (retrieval.services.search_run)
    mode: str = SearchMode.HYBRID
    # The searched version's embedding model: what answer generators compare sentences with.
    embedding_model: str | None = None
    reranked: bool = False  # the results are in CrossEncoder order, scored by it (retrieval.reranking)
    recency_half_life_days: float | None = None  # the recency boost applied, if any (see recency_boosted)
