"""The search statement's invariants, checked on the SQL text itself: no database needed.

Every part that reads a version's rows holds the caller's visibility condition,
filters come after it (they can only narrow), and every placeholder has exactly
one value.
"""

from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import User

from acl.selectors import visible_sources_condition
from index_versions.models import IndexVersion, MembershipSpan, Pipeline
from index_versions.selectors import version_rows
from ragplatform.sql import Sql, SqlParameterError, compose
from retrieval.search import NO_FILTERS, SearchFilters, SearchMode, SearchPlan, SearchStatement

VECTOR = [0.1] * 8
FILTERS = SearchFilters(
    sources=(3, 4),
    modified_after=datetime(2026, 1, 1, tzinfo=UTC),
    document_types=("md",),
    metadata=(("status", ("open",)), ("team", ("hr", "ops"))),
)


def _statement(
    mode: str,
    plan: str | None,
    filters: SearchFilters = NO_FILTERS,
    keyword_plan: str = SearchPlan.KEYWORD_BOUNDED,
    parallel: bool = False,
) -> SearchStatement:
    """As hybrid_search composes it; ``parallel``: the vector leg's rows come from a second connection."""
    user = User(pk=41, username="ann", email="ann@example.com", is_active=True)
    pipeline = Pipeline(pk=2, key="k", chunker={}, embedding_model="m", dimensions=8)
    version = IndexVersion(pk=7, pipeline=pipeline, counts={"documents": 10, "chunks": 20})
    statement = SearchStatement(user=user, version=version, mode=mode, k=5, filters=filters)
    if parallel:
        statement.vector_rows_use([(21, 3, 4, 22, 0.25), (23, 5, 4, 24, 0.5)])
    elif mode != SearchMode.KEYWORD:
        statement.add_vector_leg(plan=plan, query_vector=VECTOR)
    if mode != SearchMode.VECTOR:
        statement.add_keyword_leg(query="parental leave", plan=keyword_plan)
    if mode == SearchMode.HYBRID:  # as hybrid_search does: the keyword leg's rows, from its own statement
        statement.keyword_rows_use([(11, 3, 4, 12, 2.5), (13, 5, 4, 14, 1.5)])
    return statement


CASES = [
    (SearchMode.VECTOR, SearchPlan.EXACT, False),
    (SearchMode.VECTOR, SearchPlan.HNSW, False),
    (SearchMode.KEYWORD, None, False),
    (SearchMode.HYBRID, SearchPlan.EXACT, False),
    (SearchMode.HYBRID, SearchPlan.HNSW, False),
    (SearchMode.HYBRID, None, True),
]


KEYWORD_PLANS = [SearchPlan.KEYWORD_EXACT, SearchPlan.KEYWORD_BOUNDED]


@pytest.mark.parametrize(("mode", "plan", "parallel"), CASES)
@pytest.mark.parametrize("filters", [NO_FILTERS, FILTERS], ids=["no-filters", "filters"])
@pytest.mark.parametrize("keyword_plan", KEYWORD_PLANS)
def test_every_leg_that_reads_rows_holds_the_visibility_condition(mode, plan, parallel, filters, keyword_plan):
    statement = _statement(mode, plan, filters, keyword_plan, parallel)
    statement.plan_probe(limit=100)
    statement.sql()
    expected = {"plan_probe", "also_in"}
    expected |= {"vector_rows" if parallel else "vector"} if mode != SearchMode.KEYWORD else set()
    expected |= {"keyword", "keyword_statistics", "keyword_candidates"} if mode != SearchMode.VECTOR else set()
    expected |= {"keyword_rows"} if mode == SearchMode.HYBRID else set()
    assert set(statement.legs) == expected
    rows = version_rows(statement.version).text
    membership = MembershipSpan._meta.db_table
    readable = visible_sources_condition(user=statement.user, source_column="st.source_id").text
    for name, leg in statement.legs.items():
        if name == "keyword_statistics":  # per-source aggregates, no content: the readable sources only
            assert leg.text.count(readable) == 2 and membership not in leg.text
            continue
        assert statement.visible.text in leg.text, f"{name} reads rows without the ACL"
        assert rows in leg.text, f"{name} does not read the version through version_rows"
        assert leg.text.count(membership) == leg.text.count(rows), f"{name} joins the membership table directly"
    assert "acl_sourcegrant" in statement.visible.text and "acl_documentaccesslist" in statement.visible.text


@pytest.mark.parametrize(("mode", "plan", "parallel"), CASES)
@pytest.mark.parametrize("keyword_plan", KEYWORD_PLANS)
def test_filters_only_ever_narrow_the_acl(mode, plan, parallel, keyword_plan):
    statement = _statement(mode, plan, FILTERS, keyword_plan, parallel)
    narrowing = statement.filters.sql().text
    for name in ("vector", "vector_rows", "keyword", "keyword_candidates", "keyword_rows"):
        if name in statement.legs:
            leg = statement.legs[name].text
            # ANDed straight after the visibility condition, never ORed with it.
            assert f"{statement.visible.text} AND {narrowing}" in leg
            assert f"OR {narrowing}" not in leg


@pytest.mark.parametrize(("mode", "plan", "parallel"), CASES)
@pytest.mark.parametrize("filters", [NO_FILTERS, FILTERS], ids=["no-filters", "filters"])
@pytest.mark.parametrize("keyword_plan", KEYWORD_PLANS)
def test_every_placeholder_has_exactly_one_value(mode, plan, parallel, filters, keyword_plan):
    statement = _statement(mode, plan, filters, keyword_plan, parallel)
    statements = [statement.sql()] + ([statement.keyword_sql()] if mode != SearchMode.VECTOR else [])
    statements += [statement.vector_sql()] if "vector" in statement.legs else []
    for sql in statements:
        assert sql.placeholders() == set(sql.params)
        assert "%s" not in sql.text.replace("%%", "")  # no positional placeholder survives


def test_a_hybrid_statement_reads_the_keyword_rows_it_was_given_and_not_the_keyword_leg():
    statement = _statement(SearchMode.HYBRID, SearchPlan.HNSW)
    sql = statement.sql()
    assert statement.legs["keyword_rows"].text in sql.text
    assert "websearch_to_tsquery" not in sql.text and "query" not in sql.params
    assert sql.params["kw_chunk"] == [11, 13] and sql.params["kw_rank"] == [2.5, 1.5]
    keyword = statement.keyword_sql()
    assert "websearch_to_tsquery" in keyword.text and keyword.params["query"] == "parental leave"
    assert "vector" not in keyword.params


def test_a_hybrid_statement_given_both_legs_rows_reads_neither_leg_itself():
    """Two connections: the fused statement only checks and fuses the rows each leg's statement returned."""
    statement = _statement(SearchMode.HYBRID, None, parallel=True)
    sql = statement.sql()
    assert statement.legs["vector_rows"].text in sql.text and statement.legs["keyword_rows"].text in sql.text
    assert "<=>" not in sql.text and "vector" not in sql.params and "websearch_to_tsquery" not in sql.text
    assert sql.params["vec_chunk"] == [21, 23] and sql.params["vec_distance"] == [0.25, 0.5]
    alone = _statement(SearchMode.HYBRID, SearchPlan.HNSW).vector_sql()
    assert "<=>" in alone.text and "kw_chunk" not in alone.params and "query" not in alone.params


def test_statistics_are_summed_over_readable_sources_only_without_filters():
    """BM25 statistics: over the sources the caller may read (never more), independent of the filters."""
    statement = _statement(SearchMode.KEYWORD, None, FILTERS)
    statistics = statement.legs["keyword_statistics"].text
    assert "acl_sourcegrant" in statistics
    assert statement.filters.sql().text not in statistics


def test_a_name_bound_to_two_values_is_refused():
    with pytest.raises(SqlParameterError):
        compose("{a} AND {b}", a=Sql("x = %(v)s", {"v": 1}), b=Sql("y = %(v)s", {"v": 2}))
    with pytest.raises(SqlParameterError):
        Sql("x = %(v)s AND y = %(w)s", {"v": 1}).checked()
    with pytest.raises(SqlParameterError):
        Sql("x = 1", {"v": 1}).checked()


def test_a_fragment_spliced_twice_binds_its_parameters_once():
    visible = Sql("s = ANY(%(acl_sources)s)", {"acl_sources": [1, 2]})
    both = compose("{a} AND {b}", a=visible, b=visible).checked()
    text, values = both.positional()
    assert both.params == {"acl_sources": [1, 2]}
    assert text == "s = ANY(%s) AND s = ANY(%s)" and values == [[1, 2], [1, 2]]
