"""The SQL of one search, composed leg by leg with named parameters.

The rule a reader can check here, and ``tests/retrieval/test_search_statement.py``
checks without a database: every part of the statement that reads a version's
rows (the plan probe, the vector leg, the keyword leg and its statistics, the
other copies in ``also_in``) reads them through
:func:`index_versions.selectors.version_rows` ANDed with the caller's
visibility condition, and filters are ANDed after it, so a filter can only
narrow what the ACL lets through, never widen it. How the plans work and why:
``docs/search.md``.
"""

from dataclasses import dataclass, field

from django.conf import settings

from acl.selectors import access_listed_sources, visibility_condition, visible_sources_condition
from index_versions.models import Chunk, Embedding, IndexVersion, KeywordPosting, SourceStatSpan, TermStatSpan
from index_versions.selectors import version_duplicates, version_rows
from ragplatform.sql import Sql, compose, join, merged_params
from retrieval.search.types import NO_FILTERS, SearchFilters, SearchMode, SearchPlan
from sources.models import Document, DocumentRevision

_EMBEDDING = Embedding._meta.db_table
_CHUNK = Chunk._meta.db_table
_REVISION = DocumentRevision._meta.db_table
_DOCUMENT = Document._meta.db_table
_TERM_STATS = TermStatSpan._meta.db_table
_POSTING = KeywordPosting._meta.db_table
_SOURCE_STATS = SourceStatSpan._meta.db_table

# websearch_to_tsquery ANDs every word, so a natural-language question matches only chunks
# holding all of its words (almost none). Its top-level ANDs become ORs, so a chunk
# matching more of the words ranks higher instead; quoted phrases (<->) are kept, and a
# query with a negation (-word) keeps its AND meaning, where OR would match nearly everything.
# ``plain``: neither, so the query is an OR of single lexemes, which every chunk holding one of them matches.
_TSQUERY = """
    SELECT CASE WHEN strpos(w::text, '!') > 0 THEN w ELSE replace(w::text, ' & ', ' | ')::tsquery END AS query,
           strpos(w::text, '!') = 0 AND strpos(w::text, '<') = 0 AS plain
    FROM websearch_to_tsquery('english', %(query)s) w
"""


# Okapi BM25 of query lexeme ``t`` (df) in the chunk of posting ``p`` (frequency, length), corpus ``a``.
_CONTRIBUTION = """(
    ln(1 + (greatest(a.n, t.df) - t.df + 0.5) / (t.df + 0.5))
    * p.frequency * (%(k1)s + 1)
    / (p.frequency + %(k1)s * (1 - %(b)s + %(b)s * p.length / a.avgdl))
)"""


# Rounding a unit vector's components to half precision turns it by at most about 4.9e-4 radians (2^-11 of
# each component, and 2^-25 each below 2^-14), the query's as well: a cosine distance at half precision is
# within 1e-3 of the full one. Every chunk within twice that of the ``depth``-th nearest at half precision
# is re-ranked at full precision, so the exact plan stays exact, ties included (docs/search.md).
HALF_PRECISION_MARGIN = 2e-3


def vector_literal(vector) -> str:
    return "[" + ",".join(f"{float(x):.7g}" for x in vector) + "]"


@dataclass
class SearchStatement:
    """One search's statement: ``add_vector_leg`` and/or ``add_keyword_leg``, then :meth:`sql`.

    ``legs`` keeps each part that reads rows, by name, for the invariant checks.
    """

    user: object
    version: IndexVersion
    mode: str
    k: int
    filters: SearchFilters = NO_FILTERS
    legs: dict[str, Sql] = field(default_factory=dict)

    def __post_init__(self):
        self.visible = visibility_condition(
            user=self.user, source_column="vd.source_id", document_column="vd.document_id"
        )
        self.narrowing = self.filters.sql()
        # Room for the copies a duplicate group collapses to one result.
        self.fetch = self.k + min(self.k, settings.DUPLICATES_FETCH_EXTRA)
        self.depth = self.fetch if self.mode != SearchMode.HYBRID else max(self.fetch, settings.HYBRID_CANDIDATES)
        self.params = {
            "pipeline_id": self.version.pipeline_id,
            "version_id": self.version.pk,
            "depth": self.depth,
            "fetch": self.fetch,
        }

    @property
    def rows(self) -> Sql:
        return version_rows(self.version)

    @property
    def restriction(self) -> Sql:
        """What every leg ANDs: the ACL, then the filters (which can only narrow it)."""
        return compose("{visible} AND {narrowing}", visible=self.visible, narrowing=self.narrowing)

    def plan_probe(self, *, limit: int, share_sample: int = 0) -> Sql:
        """The chunks of the sources the caller may read, and their visible documents counted up to ``limit``.

        Both legs' plan decision, and the HNSW scan's breadth (:func:`search.visible_chunks`). The
        first is the version's per-source statistics summed over the granted sources, as the keyword
        leg's corpus size is: no content, and nothing of a source the caller may not read. The count
        runs only where those chunks may not all be visible: a granted source holds access lists,
        filters narrow the search, or the statistics are missing (NULL otherwise). Where a granted
        source holds lists, the chunks of those sources and the readable share of them in a sample of
        ``share_sample`` documents (:meth:`_listed_share_sampled`) follow (NULL otherwise).
        """
        listed = access_listed_sources(user=self.user)
        counted = Sql("TRUE") if self.filters != NO_FILTERS else compose("cardinality({listed}) > 0", listed=listed)
        probe = compose(
            """SELECT granted.chunks, CASE WHEN {counted} OR granted.chunks = 0 THEN (
                    SELECT count(*) FROM (
                        SELECT 1 FROM ({rows}) vd WHERE {restriction} LIMIT %(probe_limit)s
                    ) visible
                ) END,
                granted.listed_chunks,
                CASE WHEN granted.listed_chunks > 0 AND %(share_sample)s > 0 THEN ({sampled}) END
            FROM (
                SELECT coalesce(sum(st.chunks), 0) AS chunks,
                       coalesce(sum(st.chunks) FILTER (WHERE st.source_id = ANY({listed})), 0) AS listed_chunks
                {statistics}
            ) granted""",
            {"probe_limit": limit, "share_sample": share_sample},
            counted=counted,
            rows=self.rows,
            restriction=self.restriction,
            listed=listed,
            sampled=self._listed_share_sampled(listed),
            statistics=self._readable_source_statistics(),
        )
        self.legs["plan_probe"] = probe
        return probe.checked()

    def _listed_share_sampled(self, listed: Sql) -> Sql:
        """About which share of the documents of the granted sources holding lists the caller may read.

        ``share_sample`` positions spread evenly over the document table's ids (a golden-ratio
        sequence, the same every time, so a plan does not change between two runs of one search), a
        primary-key probe each; of the documents found that belong to such a source, the share that
        passes the visibility condition. Spread over the whole table rather than read from its
        start, since lists tend to come in runs of neighbouring documents. One more visible
        document than found is assumed, so no sample is read as the whole source, as before.
        """
        return compose(
            f"""SELECT (count(*) FILTER (WHERE {{visible}}) + 1)::float8 / (count(*) + 1)
                FROM (SELECT min(id) AS lo, max(id) AS hi FROM {_DOCUMENT}) ids
                CROSS JOIN generate_series(1, %(share_sample)s) g(n)
                CROSS JOIN LATERAL (
                    SELECT d.id, d.source_id FROM {_DOCUMENT} d
                    WHERE d.id >= ids.lo + floor(mod(g.n * 0.6180339887498949, 1) * (ids.hi - ids.lo + 1))::bigint
                    ORDER BY d.id LIMIT 1
                ) d
                WHERE d.source_id = ANY({{listed}})""",
            visible=visibility_condition(user=self.user, source_column="d.source_id", document_column="d.id"),
            listed=listed,
        )

    def _readable_source_statistics(self) -> Sql:
        """``FROM`` the version's per-source statistics (``st``) of the sources the caller may read."""
        return compose(
            f"""FROM {_SOURCE_STATS} st
                WHERE st.pipeline_id = %(pipeline_id)s AND st.valid_from <= %(version_id)s
                  AND st.valid_to > %(version_id)s AND {{readable}}""",
            {"pipeline_id": self.version.pipeline_id, "version_id": self.version.pk},
            readable=visible_sources_condition(user=self.user, source_column="st.source_id"),
        )

    def add_vector_leg(self, *, plan: str, query_vector) -> None:
        """CTEs ending in ``vec`` (chunk_id, document_id, source_id, revision_id, distance), nearest first."""
        dims = int(self.version.pipeline.dimensions)
        self.params.update(vector=vector_literal(query_vector), model=self.version.pipeline.embedding_model)
        distance = f"e.vector::vector({dims}) <=> %(vector)s::vector({dims})"
        if plan == SearchPlan.EXACT:
            # Every visible chunk ranked by its half-precision copy, read with it from the chunk index
            # (no embedding probed), then the shortlist re-ranked exactly from the embeddings (docs/search.md).
            self.params["half_margin"] = HALF_PRECISION_MARGIN
            leg = compose(
                f"""
            scored AS MATERIALIZED (
                SELECT c.id AS chunk_id, vd.document_id, vd.source_id, c.revision_id, c.embedding_id,
                       c.embedding_half <=> %(vector)s::halfvec({dims}) AS near
                FROM ({{rows}}) vd
                JOIN {_CHUNK} c ON c.revision_id = vd.revision_id AND c.pipeline_id = %(pipeline_id)s
                WHERE {{restriction}}
            ), shortlist AS MATERIALIZED (
                SELECT * FROM scored
                WHERE near <= (SELECT max(n.near) FROM (SELECT near FROM scored ORDER BY near LIMIT %(depth)s) n)
                              + %(half_margin)s
            ), reranked AS MATERIALIZED (  -- no ORDER BY: the HNSW index must not serve it
                SELECT s.chunk_id, s.document_id, s.source_id, s.revision_id, {distance} AS distance
                FROM shortlist s
                JOIN {_EMBEDDING} e ON e.id = s.embedding_id
                WHERE e.dimensions = {dims} AND e.model = %(model)s
            ), vec AS (
                SELECT * FROM reranked ORDER BY distance, chunk_id LIMIT %(depth)s
            )""",
                rows=self.rows,
                restriction=self.restriction,
            )
        else:
            leg = compose(
                f"""
            vec AS MATERIALIZED (
                SELECT c.id AS chunk_id, vd.document_id, vd.source_id, c.revision_id, {distance} AS distance
                FROM {_EMBEDDING} e
                JOIN {_CHUNK} c ON c.embedding_id = e.id AND c.pipeline_id = %(pipeline_id)s
                JOIN ({{rows}}) vd ON vd.revision_id = c.revision_id
                WHERE e.dimensions = {dims} AND e.model = %(model)s AND {{restriction}}
                ORDER BY distance
                LIMIT %(depth)s
            )""",
                rows=self.rows,
                restriction=self.restriction,
            )
        self.legs["vector"] = leg

    def add_keyword_leg(self, *, query: str, plan: str = SearchPlan.KEYWORD_BOUNDED) -> None:
        """CTEs ending in ``kw`` (chunk_id, document_id, source_id, revision_id, rank), best first: Okapi BM25.

        The statistics (each query lexeme's document frequency, the chunk count and
        the average chunk length) are the version's, summed over the sources the
        caller may read (:mod:`index_versions.services.keyword_statistics`): never
        over a source they may not read, and not narrowed by the request's filters.
        Candidates are every visible chunk (``keyword_exact``: few are visible) or the
        visible chunks among each query lexeme's best postings (``keyword_bounded``);
        either way they are scored exactly, from their postings.
        """
        # Its own parameters travel with the leg: a hybrid search runs it as a statement of its own.
        own = {"query": query, "k1": settings.BM25_K1, "b": settings.BM25_B}
        readable = visible_sources_condition(user=self.user, source_column="st.source_id")
        statistics = compose(
            f"""
            corpus AS MATERIALIZED (
                SELECT greatest(coalesce(sum(st.chunks), 0), 1)::float8 AS n,
                       greatest(coalesce(sum(st.lexemes)::float8 / nullif(sum(st.chunks), 0), 1), 1) AS avgdl
                {{sources}}
            ),
            terms AS MATERIALIZED (
                SELECT t.lexeme, coalesce((
                    SELECT sum(st.chunks) FROM {_TERM_STATS} st
                    WHERE st.pipeline_id = %(pipeline_id)s AND st.lexeme = t.lexeme
                      AND st.valid_from <= %(version_id)s AND st.valid_to > %(version_id)s AND {{readable}}
                ), 0) AS df
                FROM unnest(tsvector_to_array(to_tsvector('english', %(query)s))) t(lexeme)
            )""",
            sources=self._readable_source_statistics(),
            readable=readable,
        )
        own["rescored"] = max(self.depth, settings.KEYWORD_RESCORED)
        if plan == SearchPlan.KEYWORD_EXACT:
            # Every visible chunk holding a query lexeme, with its whole (exact) score.
            # The visible chunks first (from the granted sources, as the exact vector scan), then their postings.
            candidates = compose(
                f"""
                WITH visible AS MATERIALIZED (
                    SELECT c.id AS chunk_id, vd.revision_id, vd.document_id, vd.source_id
                    FROM ({{rows}}) vd
                    JOIN {_CHUNK} c ON c.revision_id = vd.revision_id AND c.pipeline_id = %(pipeline_id)s
                    WHERE {{restriction}}
                )
                SELECT v.chunk_id, v.revision_id, v.document_id, v.source_id, sum({_CONTRIBUTION}) AS partial
                FROM visible v
                CROSS JOIN LATERAL (  -- a primary-key probe per visible chunk (OFFSET 0: not flattened)
                    SELECT p.lexeme, p.frequency, p.length FROM {_POSTING} p
                    WHERE p.chunk_id = v.chunk_id AND p.lexeme = ANY(ARRAY(SELECT lexeme FROM terms)) OFFSET 0
                ) p
                JOIN terms t ON t.lexeme = p.lexeme
                CROSS JOIN corpus a
                GROUP BY v.chunk_id, v.revision_id, v.document_id, v.source_id
                ORDER BY partial DESC, v.chunk_id
                LIMIT %(rescored)s""",
                rows=self.rows,
                restriction=self.restriction,
            )
        else:
            # Per lexeme, its postings in impact order, stopping at the first ``per_lexeme`` visible ones; a
            # chunk's partial score sums the lexemes it was found under, and only the best partial scores are
            # rescored. The ACL is checked on the posting's own source (from the index) and document (its
            # access list) before the version's membership is probed, so the postings a list hides cost no
            # membership probe; then once more, whole, on the membership's row (docs/search.md).
            own["per_lexeme"] = max(self.depth, settings.KEYWORD_CANDIDATES_PER_LEXEME)
            candidates = compose(
                f"""
                SELECT best.chunk_id, best.revision_id, best.document_id, best.source_id,
                       sum(best.contribution) AS partial
                FROM terms t
                CROSS JOIN corpus a
                CROSS JOIN LATERAL (
                    SELECT p.chunk_id, p.revision_id, vd.document_id, vd.source_id, {_CONTRIBUTION} AS contribution
                    FROM (  -- OFFSET 0: not flattened, so the planner cannot probe the membership first
                        SELECT p.chunk_id, p.revision_id, p.frequency, p.length, p.impact FROM {_POSTING} p
                        WHERE p.pipeline_id = %(pipeline_id)s AND p.lexeme = t.lexeme AND {{posted_visible}}
                        ORDER BY p.impact DESC OFFSET 0
                    ) p
                    JOIN ({{rows}}) vd ON vd.revision_id = p.revision_id
                    WHERE {{restriction}}
                    ORDER BY p.impact DESC
                    LIMIT %(per_lexeme)s
                ) best
                GROUP BY best.chunk_id, best.revision_id, best.document_id, best.source_id
                ORDER BY partial DESC, best.chunk_id
                LIMIT %(rescored)s""",
                rows=self.rows,
                posted_visible=visibility_condition(
                    user=self.user, source_column="p.source_id", document_column="p.document_id"
                ),
                restriction=self.restriction,
            )
        # Candidates passed the version's rows and the restriction above, in this statement: only the
        # query's own meaning (phrases, negations) is checked here. A plain query needs no check: each
        # candidate holds a posting of a query lexeme, and postings are its search vector's lexemes.
        # Each branch is gated by a one-time filter, so a plain query reads no chunk here.
        matches = Sql(
            f"""
                SELECT cd.chunk_id, cd.document_id, cd.source_id, cd.revision_id
                FROM candidates cd
                WHERE (SELECT plain FROM q)
                UNION ALL
                SELECT cd.chunk_id, cd.document_id, cd.source_id, cd.revision_id
                FROM candidates cd
                -- A primary-key probe per candidate (OFFSET 0: not flattened into a scan of every chunk).
                CROSS JOIN LATERAL (SELECT c.search_vector FROM {_CHUNK} c WHERE c.id = cd.chunk_id OFFSET 0) c
                WHERE (SELECT NOT plain FROM q) AND c.search_vector @@ (SELECT query FROM q)"""
        )
        self.legs["keyword_statistics"] = statistics
        self.legs["keyword_candidates"] = candidates
        self.legs["keyword"] = compose(
            f"""
            q AS MATERIALIZED ({_TSQUERY}),
            {{statistics}},
            candidates AS MATERIALIZED ({{candidates}}),
            matched AS MATERIALIZED ({{matches}}),
            kw AS MATERIALIZED (
                SELECT m.chunk_id, m.document_id, m.source_id, m.revision_id, coalesce(s.rank, 0) AS rank
                FROM matched m
                CROSS JOIN corpus a
                CROSS JOIN LATERAL (  -- one primary-key descent per candidate reads all its query lexemes
                    SELECT sum({_CONTRIBUTION}) AS rank
                    FROM (
                        SELECT p.lexeme, p.frequency, p.length FROM {_POSTING} p
                        WHERE p.chunk_id = m.chunk_id AND p.lexeme = ANY(ARRAY(SELECT lexeme FROM terms)) OFFSET 0
                    ) p
                    JOIN terms t ON t.lexeme = p.lexeme
                ) s
                ORDER BY rank DESC, m.chunk_id
                LIMIT %(depth)s
            )""",
            own,
            statistics=statistics,
            candidates=candidates,
            matches=matches,
        )

    def keyword_sql(self) -> Sql:
        """The keyword leg as a statement of its own: its rows, best first.

        A hybrid search runs it while the query is still being embedded, then hands the
        rows to :meth:`keyword_rows_use` for the statement that fuses them.
        """
        return self._leg_alone("keyword", cte="kw", score="rank")

    def vector_sql(self) -> Sql:
        """The vector leg as a statement of its own: its rows, nearest first.

        A hybrid search outside a transaction runs it on a second connection while this
        one runs the keyword leg, then hands the rows to :meth:`vector_rows_use`.
        """
        return self._leg_alone("vector", cte="vec", score="distance")

    def keyword_rows_use(self, rows) -> None:
        """The fused statement reads the keyword leg's rows from :meth:`keyword_sql`, checked again.

        Each row is joined to the version's rows and passes the visibility condition in
        this statement too, so a grant revoked between the two statements applies.
        """
        self._rows_leg("keyword_rows", cte="kw", score="rank", rows=rows)

    def vector_rows_use(self, rows) -> None:
        """The fused statement reads the vector leg's rows from :meth:`vector_sql`, checked again.

        They were read on another connection, in its own snapshot: each row is joined to
        the version's rows and passes the visibility condition in this statement too.
        """
        self._rows_leg("vector_rows", cte="vec", score="distance", rows=rows)

    def _leg_alone(self, name: str, *, cte: str, score: str) -> Sql:
        leg = self.legs[name]
        return self._bound(
            Sql(f"WITH {leg.text} SELECT chunk_id, document_id, source_id, revision_id, {score} FROM {cte}", leg.params)
        )

    def _bound(self, statement: Sql) -> Sql:
        """``statement`` with the statement-wide parameters it uses (not every statement reads every leg)."""
        shared = {key: value for key, value in self.params.items() if key in statement.placeholders()}
        return Sql(statement.text, merged_params([statement, Sql("", shared)])).checked()

    def _rows_leg(self, name: str, *, cte: str, score: str, rows) -> None:
        """Leg ``name``: CTE ``cte`` from rows a leg statement returned, under the visibility condition again."""
        self.params.update(
            {
                f"{cte}_chunk": [row[0] for row in rows],
                f"{cte}_revision": [row[3] for row in rows],
                f"{cte}_{score}": [float(row[4]) for row in rows],
            }
        )
        self.legs[name] = compose(
            f"""
            {cte} AS MATERIALIZED (
                SELECT g.chunk_id, vd.document_id, vd.source_id, g.revision_id, g.{score}
                FROM unnest(%({cte}_chunk)s::bigint[], %({cte}_revision)s::bigint[], %({cte}_{score})s::float8[])
                     AS g(chunk_id, revision_id, {score})
                JOIN ({{rows}}) vd ON vd.revision_id = g.revision_id
                WHERE {{restriction}}
            )""",
            rows=self.rows,
            restriction=self.restriction,
        )

    def _nearest(self) -> str:
        if self.mode == SearchMode.VECTOR:
            return """
            nearest AS (
                SELECT chunk_id, document_id, source_id, revision_id, 1 - distance AS score
                FROM vec ORDER BY distance, chunk_id LIMIT %(fetch)s
            )"""
        if self.mode == SearchMode.KEYWORD:
            return """
            nearest AS (
                SELECT chunk_id, document_id, source_id, revision_id, rank AS score
                FROM kw ORDER BY rank DESC, chunk_id LIMIT %(fetch)s
            )"""
        self.params.update(
            vector_weight=settings.HYBRID_VECTOR_WEIGHT,
            keyword_weight=settings.HYBRID_KEYWORD_WEIGHT,
            rrf_k=settings.RRF_K,
        )
        return """
            fused AS (
                SELECT chunk_id, document_id, source_id, revision_id,
                       %(vector_weight)s::float8
                       / (%(rrf_k)s + row_number() OVER (ORDER BY distance, chunk_id)) AS part
                FROM vec
                UNION ALL
                SELECT chunk_id, document_id, source_id, revision_id,
                       %(keyword_weight)s::float8
                       / (%(rrf_k)s + row_number() OVER (ORDER BY rank DESC, chunk_id)) AS part
                FROM kw
            ), nearest AS (
                SELECT chunk_id, document_id, source_id, revision_id, sum(part) AS score
                FROM fused GROUP BY chunk_id, document_id, source_id, revision_id
                ORDER BY score DESC, chunk_id LIMIT %(fetch)s
            )"""

    def _with_text(self) -> Sql:
        """``nearest`` -> the hit rows, best first, each with its duplicate group and the other copies
        in it the user may read (the same ACL condition: an invisible copy is never named)."""
        also_in = compose(
            f"""
        SELECT json_agg(json_build_object(
                   'document_id', vd.document_id, 'document_title', other.title,
                   'source_id', vd.source_id, 'uri', other.uri
               ) ORDER BY o.is_canonical DESC, vd.document_id) AS also_in
        FROM ({{copies}}) o
        JOIN ({{rows}}) vd ON vd.document_id = o.document_id
        JOIN {_REVISION} other ON other.id = vd.revision_id
        WHERE o."group" = dm."group" AND o.document_id <> n.document_id
          AND {{visible}}""",
            copies=version_duplicates(self.version),
            rows=self.rows,
            visible=self.visible,
        )
        self.legs["also_in"] = also_in
        return compose(
            f"""
    SELECT n.chunk_id, n.document_id, r.title, n.source_id, r.uri, c.section, c.text, n.score, r.modified_at,
           dm."group", dm.is_canonical, dup.also_in, r.metadata::json
    FROM nearest n
    JOIN {_CHUNK} c ON c.id = n.chunk_id
    JOIN {_REVISION} r ON r.id = n.revision_id
    LEFT JOIN ({{groups}}) dm ON dm.document_id = n.document_id
    LEFT JOIN LATERAL ({{also_in}}) dup ON dm."group" IS NOT NULL
    ORDER BY n.score DESC, dm.is_canonical DESC NULLS LAST, n.chunk_id""",
            groups=version_duplicates(self.version),
            also_in=also_in,
        )

    def sql(self) -> Sql:
        """The whole statement, every placeholder bound exactly once."""
        vector = "vector_rows" if "vector_rows" in self.legs else "vector"
        keyword = "keyword_rows" if "keyword_rows" in self.legs else "keyword"
        ctes = [self.legs[name] for name in (vector, keyword) if name in self.legs]
        statement = compose(
            "WITH {ctes}, {nearest} {rows}", ctes=join(",", ctes), nearest=Sql(self._nearest()), rows=self._with_text()
        )
        return self._bound(statement)
