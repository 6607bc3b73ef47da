"""Search: the active version's chunks nearest to a query (vector), matching it (keyword),
or both fused (hybrid), under the caller's ACL, in one SQL statement."""

import dataclasses
import functools
import json
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from acl.selectors import visibility_condition
from index_versions import embedding
from index_versions.models import Chunk, Embedding, IndexVersion, VersionDocument
from index_versions.services import index_version_active
from retrieval import reranking
from retrieval.models import DuplicateMember
from sources.models import DocumentRevision, Source


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
    # Other copies of this text the same user may read (see retrieval.duplicates); never invisible ones.
    also_in: tuple = ()
    # The revision's metadata (sources.metadata): ticket fields, front matter...
    metadata: dict = field(default_factory=dict, hash=False, compare=False)


class SearchPlan:
    EXACT = "exact"
    HNSW = "hnsw"
    KEYWORD = "keyword"  # keyword mode: the full-text index only, no vector leg


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

    def sql(self, *, membership: str = "vd") -> tuple[str, list]:
        """``(sql, params)`` to AND into a leg's WHERE; ``TRUE`` when nothing is restricted.

        Conditions on the revision (date, type, metadata) are a primary-key probe per
        candidate, so the legs keep their plans (index order for HNSW, the GIN index for
        keywords). Metadata is JSONB containment: per key,
        ``r.metadata @> ANY('{"k": v}', '{"k": [v]}', ...)`` over the key's values (any
        of them; the array form matches a list-valued key holding v); keys are ANDed.
        """
        parts, params = [], []
        if self.sources:
            parts.append(f"{membership}.source_id = ANY(%s)")
            params.append(list(self.sources))
        revision_parts = []
        if self.modified_after is not None:
            revision_parts.append("r.modified_at >= %s")
            params.append(self.modified_after)
        if self.modified_before is not None:
            revision_parts.append("r.modified_at < %s")
            params.append(self.modified_before)
        if self.document_types:
            revision_parts.append(r"lower(substring(r.uri from '\.([A-Za-z0-9]+)(?:[?#].*)?$')) = ANY(%s)")
            params.append([t.lower().lstrip(".") for t in self.document_types])
        for key, values in self.metadata:
            revision_parts.append("r.metadata @> ANY(%s::jsonb[])")
            params.append([json.dumps({key: shape}) for value in values for shape in (value, [value])])
        if revision_parts:
            parts.append(
                f"EXISTS (SELECT 1 FROM {_REVISION} r WHERE r.id = {membership}.revision_id AND "
                + " AND ".join(revision_parts)
                + ")"
            )
        return (" AND ".join(parts) or "TRUE"), params


NO_FILTERS = SearchFilters()


@dataclass(frozen=True)
class NearestChunks:
    hits: list[SearchHit]
    plan: str  # SearchPlan: how the database found them


@dataclass(frozen=True)
class SearchOutcome:
    results: list[SearchHit]
    index_version: int | None
    took_ms: float
    plan: str | None = None
    id: int | None = None  # the search's audit event, once recorded (retrieval.services.search_run)
    mode: str = SearchMode.HYBRID
    # The searched version's embedding model: what answer generators compare sentences with.
    embedding_model: str | None = None
    reranked: bool = False  # the results are in CrossEncoder order, scored by it (retrieval.reranking)
    recency_half_life_days: float | None = None  # the recency boost applied, if any (see recency_boosted)


_EMBEDDING = Embedding._meta.db_table
_CHUNK = Chunk._meta.db_table
_MEMBERSHIP = VersionDocument._meta.db_table
_REVISION = DocumentRevision._meta.db_table
_DUPLICATE = DuplicateMember._meta.db_table
_SOURCE = Source._meta.db_table


# ``nearest`` (chunk_id, document_id, source_id, revision_id, score) -> the hit rows, best first, each
# with its duplicate group and the other copies in it the user may read (the same ACL condition:
# an invisible copy is never named). Parameters: version id, ACL params.
def _with_text(acl_sql: str) -> str:
    return f"""
    SELECT n.chunk_id, n.document_id, r.title, n.source_id, r.uri, c.section, c.text, n.score, r.modified_at,
           dm."group", dm.is_canonical, dup.also_in, r.metadata::json
    FROM nearest n
    JOIN {_CHUNK} c ON c.id = n.chunk_id
    JOIN {_REVISION} r ON r.id = n.revision_id
    LEFT JOIN {_DUPLICATE} dm ON dm.version_id = %s AND dm.document_id = n.document_id
    LEFT JOIN LATERAL (
        SELECT json_agg(json_build_object(
                   'document_id', vd.document_id, 'document_title', other.title,
                   'source_id', vd.source_id, 'uri', other.uri
               ) ORDER BY o.is_canonical DESC, vd.document_id) AS also_in
        FROM {_DUPLICATE} o
        JOIN {_MEMBERSHIP} vd ON vd.version_id = o.version_id AND vd.document_id = o.document_id
        JOIN {_REVISION} other ON other.id = vd.revision_id
        WHERE o.version_id = dm.version_id AND o."group" = dm."group" AND o.document_id <> n.document_id
          AND {acl_sql}
    ) dup ON dm."group" IS NOT NULL
    ORDER BY n.score DESC, dm.is_canonical DESC NULLS LAST, n.chunk_id
"""


def _collapsed(rows, k: int) -> list[SearchHit]:
    """One document per duplicate group: the canonical copy if the user may read it, else their best-ranked one.

    Rows are ACL-filtered already, so the copy kept is always a readable one, even
    when the group's canonical member is not; its ``also_in`` lists the other
    readable copies only.
    """
    shown: dict[int, int] = {}  # group -> the document shown for it
    for row in rows:
        group, document_id, is_canonical = row[9], row[1], row[10]
        if group is not None and (group not in shown or is_canonical):
            shown[group] = document_id
    hits = []
    for row in rows:
        if row[9] is not None and shown[row[9]] != row[1]:
            continue
        hits.append(
            SearchHit(
                *row[:7], score=float(row[7]), modified_at=row[8], also_in=tuple(row[11] or ()), metadata=row[12] or {}
            )
        )
        if len(hits) == k:
            break
    return hits


# websearch_to_tsquery ANDs every word, so a natural-language question matches only chunks
# holding all of its words (almost none). Its top-level ANDs become ORs, so a chunk
# matching more of the words ranks higher instead; quoted phrases (<->) are kept, and a
# query with a negation (-word) keeps its AND meaning, where OR would match nearly everything.
_TSQUERY = """
    SELECT CASE WHEN strpos(w::text, '!') > 0 THEN w ELSE replace(w::text, ' & ', ' | ')::tsquery END AS query
    FROM websearch_to_tsquery('english', %s) w
"""


def _vector_leg(*, plan: str, dims: int, acl_sql: str, filter_sql: str) -> str:
    """CTEs ending in ``vec`` (chunk_id, document_id, source_id, revision_id, distance), nearest first.

    Parameters, in order: vector, pipeline id, version id, model, ACL params, filter params, depth.
    """
    if plan == SearchPlan.EXACT:
        return f"""
            scored AS MATERIALIZED (
                SELECT c.id AS chunk_id, vd.document_id, vd.source_id, c.revision_id,
                       e.vector::vector({dims}) <=> %s::vector({dims}) AS distance
                FROM {_MEMBERSHIP} vd
                JOIN {_CHUNK} c ON c.revision_id = vd.revision_id AND c.pipeline_id = %s
                JOIN {_EMBEDDING} e ON e.id = c.embedding_id
                WHERE vd.version_id = %s AND e.dimensions = {dims} AND e.model = %s AND {acl_sql} AND {filter_sql}
            ), vec AS (
                SELECT * FROM scored ORDER BY distance, chunk_id LIMIT %s
            )"""
    return f"""
            vec AS MATERIALIZED (
                SELECT c.id AS chunk_id, vd.document_id, vd.source_id, c.revision_id,
                       e.vector::vector({dims}) <=> %s::vector({dims}) AS distance
                FROM {_EMBEDDING} e
                JOIN {_CHUNK} c ON c.embedding_id = e.id AND c.pipeline_id = %s
                JOIN {_MEMBERSHIP} vd ON vd.revision_id = c.revision_id AND vd.version_id = %s
                WHERE e.dimensions = {dims} AND e.model = %s AND {acl_sql} AND {filter_sql}
                ORDER BY distance
                LIMIT %s
            )"""


def _keyword_leg(*, acl_sql: str, filter_sql: str) -> str:
    """CTEs ending in ``kw`` (chunk_id, document_id, source_id, revision_id, rank), best first: Okapi BM25.

    ``ts_rank_cd`` has no inverse document frequency, so a question's common words
    outweigh its rare ones (nDCG@10 0.36 on SciFact, against 0.66 for BM25). BM25
    needs each query word's document frequency: counted per query through the GIN
    index over the chunks of this version the user may read (statistics over
    invisible chunks would let scores leak how many of them hold a word). The
    document length is the chunk's number of distinct lexemes, and the average
    length that of the matching chunks.

    Parameters, in order: query text; query text, version id, pipeline id, ACL params
    (document frequencies); pipeline id, version id, ACL params, filter params
    (matches); chunk count, k1, k1, b, b; depth.
    """
    return f"""
            q AS MATERIALIZED ({_TSQUERY}),
            terms AS MATERIALIZED (
                SELECT t.lexeme, (
                    SELECT count(*) FROM {_CHUNK} c
                    JOIN {_MEMBERSHIP} vd ON vd.revision_id = c.revision_id AND vd.version_id = %s
                    WHERE c.search_vector @@ quote_literal(t.lexeme)::tsquery AND c.pipeline_id = %s AND {acl_sql}
                ) AS df
                FROM unnest(tsvector_to_array(to_tsvector('english', %s))) t(lexeme)
            ),
            matched AS MATERIALIZED (
                SELECT c.id AS chunk_id, vd.document_id, vd.source_id, c.revision_id, c.search_vector
                FROM q
                JOIN {_CHUNK} c ON c.search_vector @@ q.query AND c.pipeline_id = %s
                JOIN {_MEMBERSHIP} vd ON vd.revision_id = c.revision_id AND vd.version_id = %s
                WHERE {acl_sql} AND {filter_sql}
            ),
            kw AS MATERIALIZED (
                SELECT m.chunk_id, m.document_id, m.source_id, m.revision_id, coalesce(s.rank, 0) AS rank
                FROM matched m
                CROSS JOIN (SELECT greatest(avg(length(search_vector)), 1) AS avgdl FROM matched) a
                CROSS JOIN LATERAL (
                    SELECT sum(
                        ln(1 + (greatest(%s, t.df) - t.df + 0.5) / (t.df + 0.5))
                        * x.tf * (%s + 1) / (x.tf + %s * (1 - %s + %s * length(m.search_vector) / a.avgdl))
                    ) AS rank
                    FROM (SELECT u.lexeme, array_length(u.positions, 1) AS tf FROM unnest(m.search_vector) u) x
                    JOIN terms t ON t.lexeme = x.lexeme
                ) s
                ORDER BY rank DESC, m.chunk_id
                LIMIT %s
            )"""


def hybrid_search(
    *,
    user,
    version: IndexVersion,
    query: str,
    query_vector,
    k: int,
    mode: str = SearchMode.HYBRID,
    filters: SearchFilters = NO_FILTERS,
) -> NearestChunks:
    """The k best chunks of ``version`` for ``query`` that ``user`` may read, by ``mode``.

    * **vector**: cosine similarity to ``query_vector`` (score = 1 - distance).
    * **keyword**: PostgreSQL full text (``websearch_to_tsquery`` on the English
      configuration, top-level words ORed, ranked by ``ts_rank_cd`` normalised by
      length) over ``index_versions_chunk.search_vector``, a generated column with a
      GIN index (Bitmap Index Scan ``chunk_search_vector_gin``, then the membership
      by ``revision_id``).
    * **hybrid**: reciprocal rank fusion of both: each leg yields its best
      ``HYBRID_CANDIDATES`` chunks, a chunk scores
      ``sum(weight / (RRF_K + rank))`` over the legs it appears in
      (``HYBRID_VECTOR_WEIGHT``, ``HYBRID_KEYWORD_WEIGHT``), all in one statement.

    Every leg holds the same two restrictions: the version's membership and the ACL
    (:func:`acl.selectors.visibility_condition`), plus ``filters``; a chunk the user
    may not read never leaves the database, in either leg. The vector leg picks its
    plan as described in :func:`vector_search` (the bounded count includes the
    filters). Options are ``SET LOCAL`` and rolled back with the savepoint.
    """
    dims = version.pipeline.dimensions
    acl_sql, acl_params = visibility_condition(
        user=user, source_column="vd.source_id", document_column="vd.document_id"
    )
    filter_sql, filter_params = filters.sql()
    # Room for the copies a duplicate group collapses to one result.
    fetch = k + min(k, settings.DUPLICATES_FETCH_EXTRA)
    depth = fetch if mode != SearchMode.HYBRID else max(fetch, settings.HYBRID_CANDIDATES)
    with transaction.atomic(), connection.cursor() as cursor:
        # The planner cannot see through the ACL subqueries and guesses that most rows are
        # visible; for the bounded count and the exact scan the right plan is nested loops
        # over indexes, starting from the granted sources.
        cursor.execute(
            """
            SELECT set_config('enable_seqscan', 'off', true), set_config('enable_hashjoin', 'off', true),
                   set_config('enable_mergejoin', 'off', true), set_config('jit', 'off', true)
            """
        )
        ctes, params = [], []
        if mode == SearchMode.KEYWORD:
            plan = SearchPlan.KEYWORD
        else:
            plan = _vector_plan(cursor, version=version, acl=(acl_sql, acl_params), filters=(filter_sql, filter_params))
            if plan == SearchPlan.HNSW:
                # Hash joins back on: the ACL's semi-join with the granted sources is one hash probe
                # per candidate, where a nested loop would scan every grant.
                cursor.execute(
                    """
                    SELECT set_config('enable_hashjoin', 'on', true),
                           set_config('hnsw.iterative_scan', 'relaxed_order', true),
                           set_config('hnsw.ef_search', %s, true), set_config('hnsw.max_scan_tuples', %s, true)
                    """,
                    [str(max(settings.HNSW_EF_SEARCH, depth)), str(settings.HNSW_MAX_SCAN_TUPLES)],
                )
            ctes.append(_vector_leg(plan=plan, dims=dims, acl_sql=acl_sql, filter_sql=filter_sql))
            params += [
                embedding_literal(query_vector), version.pipeline_id, version.pk, version.pipeline.embedding_model,
                *acl_params, *filter_params, depth,
            ]  # fmt: skip
        if mode != SearchMode.VECTOR:
            ctes.append(_keyword_leg(acl_sql=acl_sql, filter_sql=filter_sql))
            k1, b = settings.BM25_K1, settings.BM25_B
            params += [
                query, version.pk, version.pipeline_id, *acl_params, query,
                version.pipeline_id, version.pk, *acl_params, *filter_params,
                float((version.counts or {}).get("chunks") or 0), k1, k1, b, b, depth,
            ]  # fmt: skip
        if mode == SearchMode.VECTOR:
            ctes.append(
                """
            nearest AS (
                SELECT chunk_id, document_id, source_id, revision_id, 1 - distance AS score
                FROM vec ORDER BY distance, chunk_id LIMIT %s
            )"""
            )
            params.append(fetch)
        elif mode == SearchMode.KEYWORD:
            ctes.append(
                """
            nearest AS (
                SELECT chunk_id, document_id, source_id, revision_id, rank AS score
                FROM kw ORDER BY rank DESC, chunk_id LIMIT %s
            )"""
            )
            params.append(fetch)
        else:
            ctes.append(
                """
            fused AS (
                SELECT chunk_id, document_id, source_id, revision_id, %s::float8 / (%s + row_number() OVER (
                           ORDER BY distance, chunk_id)) AS part
                FROM vec
                UNION ALL
                SELECT chunk_id, document_id, source_id, revision_id, %s::float8 / (%s + row_number() OVER (
                           ORDER BY rank DESC, chunk_id)) AS part
                FROM kw
            ), nearest AS (
                SELECT chunk_id, document_id, source_id, revision_id, sum(part) AS score
                FROM fused GROUP BY chunk_id, document_id, source_id, revision_id
                ORDER BY score DESC, chunk_id LIMIT %s
            )"""
            )
            rrf_k = settings.RRF_K
            params += [settings.HYBRID_VECTOR_WEIGHT, rrf_k, settings.HYBRID_KEYWORD_WEIGHT, rrf_k, fetch]
        cursor.execute("WITH " + ",".join(ctes) + _with_text(acl_sql), [*params, version.pk, *acl_params])
        rows = cursor.fetchall()
        # Read-only, so roll back: that discards the options even when a caller's transaction
        # encloses this one (a released savepoint would keep them until the caller commits).
        transaction.set_rollback(True)
    return NearestChunks(hits=_collapsed(rows, k), plan=plan)


def _vector_plan(cursor, *, version: IndexVersion, acl: tuple[str, list], filters: tuple[str, list]) -> str:
    """Exact scan or HNSW, from a bounded count of the visible documents (see :func:`vector_search`)."""
    limit = settings.SEARCH_EXACT_MAX_CHUNKS
    chunks_per_document = _chunks_per_document(version)
    # Bounded: stops one document past the threshold, however much is visible.
    cursor.execute(
        f"""
        SELECT count(*) FROM (
            SELECT 1 FROM {_MEMBERSHIP} vd WHERE vd.version_id = %s AND {acl[0]} AND {filters[0]} LIMIT %s
        ) visible
        """,
        [version.pk, *acl[1], *filters[1], int(limit / chunks_per_document) + 1],
    )
    return SearchPlan.EXACT if cursor.fetchone()[0] * chunks_per_document <= limit else SearchPlan.HNSW


def vector_search(
    *, user, version: IndexVersion, query_vector, k: int, filters: SearchFilters = NO_FILTERS
) -> NearestChunks:
    """The k chunks of ``version`` nearest to ``query_vector`` that ``user`` may read.

    The ACL condition (:func:`acl.selectors.visibility_condition`) sits inside the
    SQL next to the version membership, so a chunk the user may not read never
    leaves the database. A bounded count of the visible documents (it stops one
    past ``SEARCH_EXACT_MAX_CHUNKS`` / the version's chunks per document) estimates
    the visible chunks and picks one of two plans:

    * **exact**, when the visible set is small: nested loops from the granted
      sources (index ``versiondoc_source``), the access-list anti-join (primary
      key), chunks by revision and embeddings by primary key, into a MATERIALIZED
      CTE that computes every visible distance; no ORDER BY inside it, so the HNSW
      index cannot serve it; a top-k heapsort picks the nearest. Exact by
      construction and proportional to the visible rows only. HNSW would be wrong
      here: with a selective filter the graph walk discards almost every candidate
      (at ef_search 40 a 10% filter leaves about 4) and runs into max_scan_tuples.
    * **hnsw**, otherwise: Index Scan on the partial HNSW index
      ``embedding_vector_<N>_hnsw`` ordered by distance, nested loops to chunk
      (``embedding_id``) and membership (``revision_id``), the access-list
      anti-join, a hash semi-join with the granted sources, LIMIT k. pgvector 0.8's
      iterative scan (``relaxed_order``) keeps reading the graph until k rows pass
      the filters, up to ``HNSW_MAX_SCAN_TUPLES``; the outer query restores exact
      order. At least the threshold's worth of chunks is visible, so few
      candidates are discarded.

    PostgreSQL cannot estimate how selective the ACL subqueries are (it guesses
    most rows pass), so it would hash-join whole tables; sequential scans, hash
    and merge joins are therefore disabled for the count and the exact scan, and
    hash joins enabled again for the HNSW scan. Every option is set with
    ``set_config(..., true)`` (``SET LOCAL``), and the transaction (or savepoint)
    is rolled back at the end, so no option outlives this call, not even inside
    a caller's transaction, nor leaks to a pooled connection.
    """
    return hybrid_search(
        user=user, version=version, query="", query_vector=query_vector, k=k, mode=SearchMode.VECTOR, filters=filters
    )


def _chunks_per_document(version: IndexVersion) -> float:
    """The version's average, from the counts it recorded when built (1 if it has none)."""
    counts = version.counts or {}
    if not counts.get("documents") or not counts.get("chunks"):
        return 1.0
    return max(counts["chunks"] / counts["documents"], 1.0)


def embedding_literal(vector) -> str:
    return "[" + ",".join(f"{float(x):.7g}" for x in vector) + "]"


def search(
    *,
    user,
    query: str,
    k: int,
    mode: str = SearchMode.HYBRID,
    filters: SearchFilters = NO_FILTERS,
    version: IndexVersion | None = None,
    rerank: bool = False,
    recency_half_life_days: float | None = None,
    query_vector=None,
) -> SearchOutcome:
    """Search the active version (or ``version``: the evaluation's) as ``user``.

    The query is embedded only when a vector leg needs it and ``query_vector`` (the
    query embedded beforehand by the version's model, as the evaluation gate does
    outside its lock) is not given. With ``rerank`` (the
    caller checks :func:`retrieval.reranking.rerank_available`) or a recency
    boost, the SQL fetches a larger pool (``RERANK_CANDIDATES``, at least ``k``)
    of ACL-filtered, duplicate-collapsed hits, which are then re-ordered in
    Python: first by the CrossEncoder, then by :func:`recency_boosted`, and cut
    to ``k``. Both only re-order what the SQL returned, so neither can change
    which chunks the user sees, nor add a query.
    """
    started = time.perf_counter()
    outcome = functools.partial(
        SearchOutcome, mode=mode, reranked=rerank, recency_half_life_days=recency_half_life_days
    )
    version = version or index_version_active()
    if version is None:
        return outcome(results=[], index_version=None, took_ms=_elapsed_ms(started))
    if mode == SearchMode.KEYWORD:
        query_vector = None
    elif query_vector is None:
        query_vector = embedding.embed_query(query, model=version.pipeline.embedding_model)
    reorders = rerank or bool(recency_half_life_days)
    found = hybrid_search(
        user=user, version=version, query=query, query_vector=query_vector,
        k=reranking.rerank_candidates(k=k) if reorders else k, mode=mode, filters=filters,
    )  # fmt: skip
    hits = found.hits
    if rerank:
        hits = reranking.rerank(query=query, hits=hits, k=len(hits))
    if recency_half_life_days:
        hits = recency_boosted(
            hits, half_life_days=recency_half_life_days, weight=settings.SEARCH_RECENCY_WEIGHT, now=timezone.now()
        )
    return outcome(
        results=hits[:k],
        index_version=version.pk,
        took_ms=_elapsed_ms(started),
        plan=found.plan,
        embedding_model=version.pipeline.embedding_model,
    )


def recency_boosted(hits: list[SearchHit], *, half_life_days: float, weight: float, now: datetime) -> list[SearchHit]:
    """``hits`` re-ordered with newer documents lifted: each score times a boost that halves with age.

    ``boost = 1 + weight * 0.5 ** (age_days / half_life_days)``, ``age_days`` from
    the revision's ``modified_at`` to ``now`` (a future date counts as age 0). A
    document modified today scores up to ``1 + weight`` times its relevance, one a
    half-life old ``1 + weight / 2`` times, an old one about its relevance alone;
    a document with no date gets no boost. A negative score (cosine similarity
    below zero, a CrossEncoder without a sigmoid) is divided by the boost instead,
    so the boost always moves a hit up, never down. It multiplies rather than adds
    so that it means the same on every scale (cosine, BM25, RRF, CrossEncoder),
    and it is at most ``1 + weight``: a new document never overtakes an old one
    more than that many times as relevant. Ties keep their order. Only re-orders:
    the hits are the ACL-filtered ones.
    """
    boosted = []
    for hit in hits:
        boost = 1.0
        if hit.modified_at is not None:
            age_days = max((now - hit.modified_at).total_seconds(), 0.0) / 86400
            boost = 1.0 + weight * 0.5 ** (age_days / half_life_days)
        score = hit.score * boost if hit.score >= 0 else hit.score / boost
        boosted.append(dataclasses.replace(hit, score=score))
    return sorted(boosted, key=lambda hit: -hit.score)


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


# --- stale duplicates (internal/staff) -----------------------------------------------------------


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

    _GROUPS = f"""
        SELECT dm."group", min(dm.kind) AS kind, max(r.modified_at) - min(r.modified_at) AS spread,
               max(r.modified_at) AS newest, min(r.modified_at) AS oldest
        FROM {_DUPLICATE} dm
        JOIN {_MEMBERSHIP} vd ON vd.version_id = dm.version_id AND vd.document_id = dm.document_id
        JOIN {_REVISION} r ON r.id = vd.revision_id
        WHERE dm.version_id = %s
        GROUP BY dm."group"
        HAVING max(r.modified_at) - min(r.modified_at) > %s
    """

    def count(self) -> int:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM ({self._GROUPS}) stale", [self.version.pk, self.min_spread])
            return cursor.fetchone()[0]

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, page: slice) -> list[StaleDuplicateGroup]:
        if not isinstance(page, slice) or page.step not in (None, 1):
            raise TypeError("StaleDuplicates supports slices only: stale[offset:offset + limit]")
        offset = page.start or 0
        limit = None if page.stop is None else max(page.stop - offset, 0)
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                WITH page AS (
                    {self._GROUPS}
                    ORDER BY spread DESC, dm."group"
                    LIMIT %s OFFSET %s
                )
                SELECT p."group", p.kind, p.spread, p.newest, p.oldest,
                       dm.document_id, r.title, r.uri, vd.source_id, s.name, r.modified_at, dm.is_canonical
                FROM page p
                JOIN {_DUPLICATE} dm ON dm.version_id = %s AND dm."group" = p."group"
                JOIN {_MEMBERSHIP} vd ON vd.version_id = dm.version_id AND vd.document_id = dm.document_id
                JOIN {_REVISION} r ON r.id = vd.revision_id
                JOIN {_SOURCE} s ON s.id = vd.source_id
                ORDER BY p.spread DESC, p."group", dm.is_canonical DESC, r.modified_at DESC NULLS LAST,
                         dm.document_id
                """,
                [self.version.pk, self.min_spread, limit, offset, self.version.pk],
            )
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


# --- feedback datasets (internal/staff) ---------------------------------------------------------

FINE_TUNING_SYSTEM_PROMPT = "Answer from the documents provided and cite them as [n]."


def feedback_dataset_rows(*, kind: str):
    """Internal/staff: JSONL rows built from rated searches and answers, oldest first.

    Only what the audit kept goes out, so its privacy settings apply: a query the
    audit redacted is exported redacted, a dropped one is skipped; comments are
    masked the same way. ``evaluation``: one row per rating with the query, the
    cited chunks and, for a rating up, ``relevant_documents``: the documents of
    those chunks, so the file can be the evaluation gate's set
    (``EVALUATION_GATE_SET``, :mod:`retrieval.gate`) as it is. ``fine-tuning``:
    chat-message rows from answers rated up whose text the audit kept
    (``AUDIT_ANSWER_TEXT=keep``).
    """
    from acl.services import query_text_retained
    from retrieval.models import Feedback

    rows = Feedback.objects.select_related("event").order_by("id")
    if kind == "fine-tuning":
        rows = rows.filter(rating=Feedback.Rating.UP, event__action="answer")
    batch: list = []
    for feedback in rows.iterator(chunk_size=500):
        batch.append(feedback)
        if len(batch) == 500:
            yield from _feedback_rows(batch, kind=kind, query_text_retained=query_text_retained)
            batch = []
    yield from _feedback_rows(batch, kind=kind, query_text_retained=query_text_retained)


def _feedback_rows(batch: list, *, kind: str, query_text_retained):
    from retrieval.models import Feedback

    document_of: dict[int, int] = {}  # cited chunk -> its document, one query per batch
    if kind != "fine-tuning":
        cited = {
            chunk_id
            for feedback in batch
            if feedback.rating == Feedback.Rating.UP
            for chunk_id in (feedback.event.details or {}).get("cited_chunks", [])
            if isinstance(chunk_id, int)
        }
        document_of = dict(Chunk.objects.filter(pk__in=cited).values_list("pk", "revision__document_id"))
    for feedback in batch:
        details = feedback.event.details or {}
        query = details.get("query")
        if not query:
            continue
        if kind == "fine-tuning":
            if not details.get("answer"):
                continue
            yield {
                "messages": [
                    {"role": "system", "content": FINE_TUNING_SYSTEM_PROMPT},
                    {"role": "user", "content": query},
                    {"role": "assistant", "content": details["answer"]},
                ]
            }
            continue
        cited_chunks = details.get("cited_chunks", [])
        relevant = []
        if feedback.rating == Feedback.Rating.UP:
            relevant = list(dict.fromkeys(document_of[c] for c in cited_chunks if c in document_of))
        yield {
            "id": feedback.event_id,
            "kind": feedback.event.action,
            "query": query,
            "rating": feedback.rating,
            "comment": query_text_retained(feedback.comment) or "",
            "index_version": feedback.event.index_version,
            "cited_chunks": cited_chunks,
            "relevant_documents": relevant,
            "created_at": feedback.created_at.isoformat(),
        }
