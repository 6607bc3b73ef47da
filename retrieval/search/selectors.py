"""Search: the active version's chunks nearest to a query (vector), matching it (keyword),
or both fused (hybrid), under the caller's ACL, in SQL (:mod:`retrieval.search.statement`): one statement,
or for hybrid the keyword leg's, run while the query is embedded, and then the fused one.

How the plans are chosen and why: ``docs/search.md``.
"""

import dataclasses
import functools
import time
from concurrent.futures import Future
from datetime import datetime

from django.conf import settings
from django.db import close_old_connections, connection, connections
from django.utils import timezone

from index_versions import embedding
from index_versions.models import IndexVersion
from index_versions.selectors import index_version_active
from ragplatform.sql import INDEX_PROBES_ONLY, planner_options_set, read_only_planned
from ragplatform.threads import background_pool, on_each_pool_thread
from retrieval import reranking
from retrieval.search.statement import SearchStatement
from retrieval.search.types import (
    NO_FILTERS,
    NearestChunks,
    SearchFilters,
    SearchHit,
    SearchMode,
    SearchOutcome,
    SearchPlan,
)


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


# The threads that read a hybrid search's vector leg, each on a connection of its own.
LEG_POOL = "search-leg"

# The planner cannot see through the ACL subqueries and guesses that most rows are
# visible; for the bounded count and the exact scan the right plan is nested loops
# over indexes, starting from the granted sources. No parallel workers: they made it
# scan every row of the version in parallel instead (117 ms for 100 visible chunks of
# 100,000, against 4 ms), and an interactive query should not take cores from the others.
_SEARCH_OPTIONS = {**INDEX_PROBES_ONLY, "jit": "off", "max_parallel_workers_per_gather": "0"}


@dataclasses.dataclass(frozen=True)
class Visible:
    """What the plan probe found: about how many ``chunks`` are visible (counted only up to one past the
    larger plan threshold, unless all of the granted sources' are), and ``share``, about the share of the
    version the caller may read (their sources' share, less what a sample of the documents of those
    holding access lists found hidden)."""

    chunks: float
    share: float
    # About how many chunks are visible: ``chunks``, or where the count stopped at its limit, the share's worth.
    estimate: float


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

    **vector**: cosine similarity to ``query_vector`` (score = 1 - distance; a ``Future`` of
    it is awaited only once the plan is chosen);
    **keyword**: Okapi BM25 over the chunks' full-text column; **hybrid**: both
    fused by reciprocal rank (``sum(weight / (RRF_K + rank))``). Every leg holds
    the version's rows, the ACL and ``filters`` (:class:`SearchStatement`).
    Planner options hold for this statement alone (:func:`ragplatform.sql.read_only_planned`).
    A hybrid search outside a transaction, over enough visible chunks, runs its two legs at
    once, on two connections (:func:`_legs_in_parallel`).
    """
    statement = SearchStatement(user=user, version=version, mode=mode, k=k, filters=filters)
    outside_transaction = not connection.in_atomic_block  # read before the savepoint below opens one
    with _search_planned() as cursor:
        visible = visible_chunks(cursor, statement=statement)
        in_parallel = mode == SearchMode.HYBRID and _legs_in_parallel(visible.chunks, outside_transaction)
        keyword_plan = plan = None
        if mode != SearchMode.VECTOR:
            few = visible.chunks <= settings.KEYWORD_EXACT_MAX_CHUNKS
            keyword_plan = SearchPlan.KEYWORD_EXACT if few else SearchPlan.KEYWORD_BOUNDED
            statement.add_keyword_leg(query=query, plan=keyword_plan)
        if mode != SearchMode.KEYWORD:
            plan = vector_plan(
                visible=visible.estimate,
                share=visible.share,
                depth=statement.depth,
                version_chunks=_version_chunks(statement.version),
            )
        vector_rows = None
        if in_parallel:
            vector_rows = background_pool(LEG_POOL, max_workers=4).submit(
                _vector_rows_read,
                statement=SearchStatement(user=user, version=version, mode=mode, k=k, filters=filters),
                plan=plan,
                visible=visible,
                query_vector=query_vector,
            )
        if mode == SearchMode.HYBRID:
            # The keyword leg runs on its own while the query is still being embedded (docs/search.md).
            keyword = statement.keyword_sql()
            cursor.execute(keyword.text, keyword.params)
            statement.keyword_rows_use(cursor.fetchall())
        if vector_rows is not None:
            statement.vector_rows_use(vector_rows.result())
        elif plan is not None:
            planner_options_set(cursor, _vector_options(plan, statement, visible))
            statement.add_vector_leg(plan=plan, query_vector=_resolved(query_vector))
        sql = statement.sql()
        cursor.execute(sql.text, sql.params)
        rows = cursor.fetchall()
    return NearestChunks(hits=_collapsed(rows, k), plan=plan or SearchPlan.KEYWORD, keyword_plan=keyword_plan)


def leg_connections_close() -> None:
    """Close the connections the search's pool threads hold: before their database is dropped, at shutdown."""
    on_each_pool_thread(LEG_POOL, connections.close_all)


def _legs_in_parallel(visible: float, outside_transaction: bool) -> bool:
    """Whether a hybrid search reads its vector leg on a second connection.

    Only outside a transaction: inside one (a test's, the evaluation gate's) the second
    connection could not see what the transaction wrote, such as a version not yet committed.
    And only when at least ``HYBRID_PARALLEL_MIN_CHUNKS`` are visible: legs over a few
    hundred chunks cost less than the second connection's round trips (docs/search.md).
    """
    return settings.HYBRID_PARALLEL_LEGS and outside_transaction and visible >= settings.HYBRID_PARALLEL_MIN_CHUNKS


def _vector_rows_read(*, statement: SearchStatement, plan: str, visible: Visible, query_vector) -> list[tuple]:
    """The vector leg's rows, read on this (pool) thread's own connection; the caller checks them again."""
    close_old_connections()
    try:
        with _search_planned(_vector_options(plan, statement, visible)) as cursor:
            statement.add_vector_leg(plan=plan, query_vector=_resolved(query_vector))
            sql = statement.vector_sql()
            cursor.execute(sql.text, sql.params)
            return cursor.fetchall()
    finally:
        close_old_connections()  # as a request's end does: CONN_MAX_AGE, and a connection that failed


def _search_planned(extra: dict[str, str] | None = None):
    """Every search statement's scope: ``_SEARCH_OPTIONS`` and ``extra``, prepared per connection unless turned off.

    Prepared, each statement keeps one generic plan (``SEARCH_GENERIC_PLANS``): the statements fix their own
    join order (lateral probes, materialized steps, index probes only), so a plan made without the values is
    the plan made with them, made once per connection instead of at every search (docs/search.md). The HNSW
    leg's ``extra`` plans it at every run (:func:`_vector_options`).
    """
    options = dict(_SEARCH_OPTIONS)
    if settings.SEARCH_GENERIC_PLANS:
        options["plan_cache_mode"] = "force_generic_plan"
    return read_only_planned({**options, **(extra or {})}, prepared=settings.SEARCH_PREPARED_STATEMENTS)


def _vector_options(plan: str, statement: SearchStatement, visible: Visible) -> dict[str, str]:
    """HNSW's iterative scan keeps reading the graph until k rows pass the ACL (docs/search.md).

    Planned at every run even when prepared: PostgreSQL's generic plan for it, which cannot see the
    LIMIT's value, made vector searches 2.3x slower (50% of 20,000 chunks visible, docs/search.md).
    """
    if plan != SearchPlan.HNSW:
        return {}
    return {
        "plan_cache_mode": "force_custom_plan",
        "hnsw.iterative_scan": "relaxed_order",
        "hnsw.ef_search": str(
            hnsw_ef_search(depth=statement.depth, share=visible.share, chunks=_version_chunks(statement.version))
        ),
        "hnsw.max_scan_tuples": str(settings.HNSW_MAX_SCAN_TUPLES),
    }


def _resolved(query_vector):
    return query_vector.result() if isinstance(query_vector, Future) else query_vector


def visible_chunks(cursor, *, statement: SearchStatement) -> Visible:
    """About how many chunks the caller may read, and the share of the version they may read.

    Both legs choose their plan from the count (``docs/search.md``): the granted sources' chunks
    when none of them holds access lists and no filter narrows the search, otherwise visible
    documents, counted until the threshold is passed, times the version's chunks per document.
    The share sets how far the HNSW scan looks (:func:`hnsw_ef_search`): the granted sources'
    chunks, those of sources holding lists counted at the readable share a sample of their
    documents found (``SEARCH_SHARE_SAMPLE``).
    """
    limit = max(settings.SEARCH_EXACT_MAX_CHUNKS, settings.KEYWORD_EXACT_MAX_CHUNKS)
    chunks_per_document = _chunks_per_document(statement.version)
    # Only the HNSW scan reads the share: a keyword search samples nothing.
    sample = 0 if statement.mode == SearchMode.KEYWORD else settings.SEARCH_SHARE_SAMPLE
    probe = statement.plan_probe(limit=int(limit / chunks_per_document) + 1, share_sample=sample)
    cursor.execute(probe.text, probe.params)
    granted_chunks, documents, listed_chunks, listed_readable = cursor.fetchone()
    total = _version_chunks(statement.version)
    readable = float(granted_chunks)
    if listed_readable is not None:
        readable -= float(listed_chunks) * (1.0 - listed_readable)
    share = min(readable / total, 1.0) if readable > 0 and total else 1.0
    if documents is None:  # not counted: every chunk of the granted sources is visible
        return Visible(chunks=float(granted_chunks), share=share, estimate=float(granted_chunks))
    counted = documents * chunks_per_document
    stopped = documents >= probe.params["probe_limit"]
    return Visible(chunks=counted, share=share, estimate=max(counted, share * total) if stopped else counted)


# How ef_search grows as the share the caller may read shrinks: HNSW walks the graph regardless of the
# ACL, so its first candidate list holds about ef x share visible rows (docs/search.md, the measurements).
_EF_SHARE_EXPONENT = 0.6
_EF_SEARCH_MAX = 1000  # pgvector's own bound on hnsw.ef_search


def hnsw_ef_search(*, depth: int, share: float, chunks: int = 0) -> int:
    """``HNSW_EF_SEARCH`` (at least ``depth``), times the version's ``chunks`` over ``HNSW_EF_SEARCH_CHUNKS``
    where it holds more, divided by ``share ** 0.6``; at most pgvector's bound.

    100 at 100%, 152 at 50%, 398 at 10% of 100,000 chunks; 1,000 at any share of 1,000,000 (docs/search.md).
    """
    base = max(settings.HNSW_EF_SEARCH, depth)
    grown = base * max(chunks / settings.HNSW_EF_SEARCH_CHUNKS, 1.0) if settings.HNSW_EF_SEARCH_CHUNKS > 0 else base
    return min(round(grown / _share_bounded(share) ** _EF_SHARE_EXPONENT), max(_EF_SEARCH_MAX, base))


def _share_bounded(share: float) -> float:
    """A share as the plan rules divide by it: above zero, at most the whole version."""
    return min(max(share, 1e-6), 1.0)


def _version_chunks(version: IndexVersion) -> int:
    return int((version.counts or {}).get("chunks") or 0)


# One candidate of the HNSW walk costs about as much as this many rows of the exact scan: at 1% of a
# million chunks, a vector search's walk (20 visible rows, about 2,000 candidates) took 42 ms with the
# query vector given and the exact scan of the 10,000 visible rows, reading their half-precision copies
# from the chunk index, 25 ms (docs/benchmarks.md, 2026-12-08; 4 before those copies).
_HNSW_CANDIDATE_COST = 8


def vector_plan(*, visible: float, share: float, depth: int, version_chunks: int) -> str:
    """``exact`` when at most ``SEARCH_EXACT_MAX_CHUNKS`` are visible, or when the graph walk would cost more.

    The walk reads at least ``ef_search`` candidates, and about ``depth / share`` of them before
    ``depth`` visible rows pass the ACL; the exact scan reads every visible row (docs/search.md).
    A threshold of 0 keeps the exact plan for nothing visible only.
    """
    if visible <= settings.SEARCH_EXACT_MAX_CHUNKS:
        return SearchPlan.EXACT
    if settings.SEARCH_EXACT_MAX_CHUNKS <= 0:
        return SearchPlan.HNSW
    walk = max(hnsw_ef_search(depth=depth, share=share, chunks=version_chunks), depth / _share_bounded(share))
    return SearchPlan.EXACT if visible <= _HNSW_CANDIDATE_COST * walk else SearchPlan.HNSW


def vector_search(
    *, user, version: IndexVersion, query_vector, k: int, filters: SearchFilters = NO_FILTERS
) -> NearestChunks:
    """The k chunks of ``version`` nearest to ``query_vector`` that ``user`` may read (exact or HNSW plan)."""
    return hybrid_search(
        user=user, version=version, query="", query_vector=query_vector, k=k, mode=SearchMode.VECTOR, filters=filters
    )


def _chunks_per_document(version: IndexVersion) -> float:
    """The version's average, from the counts it recorded when built (1 if it has none)."""
    counts = version.counts or {}
    if not counts.get("documents") or not counts.get("chunks"):
        return 1.0
    return max(counts["chunks"] / counts["documents"], 1.0)


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
        # Embedded while hybrid_search composes the statement and probes the plan; it waits only when it needs it.
        query_vector = embedding.embed_query_started(query, model=version.pipeline.embedding_model)
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
        keyword_plan=found.keyword_plan,
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
