import re
import threading
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from django.contrib.auth.models import Group, User
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from acl.models import SourceGrant
from acl.services import document_access_list_set
from index_versions.models import Chunk, IndexVersion
from index_versions.selectors import index_version_active, version_entries
from index_versions.services.activation import index_version_activate
from ragplatform.sql import read_only_planned
from retrieval.search import SearchFilters, SearchHit, SearchPlan, recency_boosted, search, vector_search
from retrieval.search.selectors import hnsw_ef_search, vector_plan, visible_chunks
from retrieval.search.statement import SearchStatement
from retrieval.search.types import NO_FILTERS
from sources.models import DocumentRevision
from tests.corpus import HR, WIKI, WIKI_WITH_STYLE
from tests.retrieval.conftest import unit

DIMS = 384


@pytest.fixture
def two_sources(wiki_and_hr):
    wiki, hr = wiki_and_hr
    return hr, wiki


@pytest.fixture(params=[SearchPlan.EXACT, SearchPlan.HNSW])
def plan(request, settings):
    """Run the test under each plan: a threshold of 0 sends every search through HNSW and bounded keywords."""
    settings.SEARCH_EXACT_MAX_CHUNKS = 10**9 if request.param == SearchPlan.EXACT else 0
    settings.KEYWORD_EXACT_MAX_CHUNKS = settings.SEARCH_EXACT_MAX_CHUNKS
    return request.param


def test_results_come_only_from_granted_sources(two_sources, grant, alice, plan):
    _, wiki = two_sources
    grant(wiki, user=alice)
    outcome = search(user=alice, query="parental leave weeks", k=10)
    assert {hit.source_id for hit in outcome.results} == {wiki.pk}
    assert outcome.plan == plan


def test_no_grant_means_no_results(two_sources, alice, plan):
    assert search(user=alice, query="parental leave", k=10).results == []


def test_revoked_grant_hides_source_on_next_query(two_sources, grant, alice, plan):
    hr, _ = two_sources
    hr_grant = grant(hr, group="people")
    alice.groups.add(hr_grant.group)
    assert search(user=alice, query="parental leave", k=10).results
    SourceGrant.objects.filter(pk=hr_grant.pk).delete()
    assert search(user=alice, query="parental leave", k=10).results == []


def test_document_access_list_hides_a_document_of_a_granted_source(two_sources, grant, alice, bob, plan):
    hr, _ = two_sources
    grant(hr, group="people")
    for user in (alice, bob):
        user.groups.add(Group.objects.get(name="people"))
    document_access_list_set(document=hr.documents.get(), principals=["bob"])
    assert search(user=alice, query="parental leave", k=10).results == []
    assert {hit.source_id for hit in search(user=bob, query="parental leave", k=10).results} == {hr.pk}


def test_access_list_alone_gives_nothing_without_the_source_grant(two_sources, alice, plan):
    hr, _ = two_sources
    document_access_list_set(document=hr.documents.get(), principals=["alice"])
    assert search(user=alice, query="parental leave", k=10).results == []


def test_everyone_group_grant_makes_a_source_public(two_sources, grant, make_user, plan):
    _, wiki = two_sources
    grant(wiki, group="everyone")
    newcomer = make_user("newcomer")  # in no group at all
    assert {hit.source_id for hit in search(user=newcomer, query="deploys", k=10).results} == {wiki.pk}


@pytest.mark.parametrize("plan", [SearchPlan.EXACT, SearchPlan.HNSW], indirect=True)
def test_acl_filter_runs_inside_the_search_sql_and_its_plan(two_sources, grant, alice, plan):
    """The filter is in the SQL (and in PostgreSQL's plan), and each plan uses the index it should."""
    _, wiki = two_sources
    grant(wiki, user=alice)
    with CaptureQueriesContext(connection) as queries:
        search(user=alice, query="deploy", k=5)
    search_sql = next(q["sql"] for q in queries.captured_queries if "<=>" in q["sql"])
    assert "acl_sourcegrant" in search_sql and "acl_documentaccesslist" in search_sql
    options = [q["sql"] for q in queries.captured_queries if "set_config" in q["sql"]]
    with transaction.atomic(), connection.cursor() as cursor:
        for sql in options:
            cursor.execute(sql)
        if plan == SearchPlan.HNSW:
            # With two chunks in the table, sorting them is cheaper than any index and the planner
            # may rightly skip HNSW; at real sizes it is the other way round. Pricing the sort as
            # it would be at scale shows that the statement is one the HNSW index can serve.
            cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute("EXPLAIN " + search_sql)
        explained = "\n".join(row[0] for row in cursor.fetchall())
    assert "acl_sourcegrant" in explained and "acl_documentaccesslist" in explained
    if plan == SearchPlan.HNSW:
        assert "embedding_vector_384_hnsw" in explained
    else:
        assert "embedding_vector_384_hnsw" not in explained
        assert "CTE scored" in explained


def test_options_do_not_outlive_the_search_even_inside_a_callers_transaction(two_sources, grant, alice, plan):
    _, wiki = two_sources
    grant(wiki, user=alice)
    with connection.cursor() as cursor:
        cursor.execute("SHOW enable_seqscan")
        before = cursor.fetchone()[0]
        search(user=alice, query="deploy", k=5)
        cursor.execute("SHOW enable_seqscan")
        assert cursor.fetchone()[0] == before == "on"
        cursor.execute("SELECT current_setting('hnsw.iterative_scan', true)")
        assert cursor.fetchone()[0] in (None, "", "off")


def _ef_search_of(user, *, mode: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        search(user=user, query="deploy", k=5, mode=mode)
    (value,) = [int(m) for q in queries.captured_queries for m in re.findall(r"'hnsw.ef_search', '(\d+)'", q["sql"])]
    return value


@pytest.mark.parametrize("mode", ["vector", "hybrid"])
def test_the_hnsw_scan_looks_further_for_a_caller_who_may_read_less(two_sources, grant, alice, bob, settings, mode):
    """The graph walk ignores the ACL: the smaller the share the caller may read, the more candidates it keeps."""
    hr, wiki = two_sources
    settings.SEARCH_EXACT_MAX_CHUNKS = 0  # HNSW whatever the size
    grant(wiki, user=alice)
    grant(wiki, user=bob)
    grant(hr, user=bob)
    assert _ef_search_of(bob, mode=mode) == settings.HNSW_EF_SEARCH  # may read the whole version
    assert _ef_search_of(alice, mode=mode) > settings.HNSW_EF_SEARCH


def test_ef_search_grows_as_the_readable_share_shrinks_up_to_pgvectors_bound(settings):
    settings.HNSW_EF_SEARCH = 100
    assert [hnsw_ef_search(depth=20, share=share) for share in (1.0, 0.5, 0.1, 0.0)] == [100, 152, 398, 1000]
    assert hnsw_ef_search(depth=150, share=1.0) == 150  # never below the leg's depth


def test_ef_search_grows_with_the_version_beyond_the_size_it_is_set_for(settings):
    settings.HNSW_EF_SEARCH, settings.HNSW_EF_SEARCH_CHUNKS = 100, 100_000
    assert [hnsw_ef_search(depth=20, share=1.0, chunks=n) for n in (2_000, 100_000, 300_000, 1_000_000)] == [
        100,
        100,
        300,
        1000,
    ]
    assert hnsw_ef_search(depth=20, share=0.5, chunks=300_000) == 455
    settings.HNSW_EF_SEARCH_CHUNKS = 0  # the size is not read
    assert hnsw_ef_search(depth=20, share=1.0, chunks=1_000_000) == 100


def test_a_mid_size_visible_set_is_scanned_exactly_where_the_graph_walk_would_read_more(settings):
    """At 1% of a million chunks a vector search's walk (20 rows) reads 2,000 candidates, dearer than 10,000 rows."""
    settings.SEARCH_EXACT_MAX_CHUNKS, settings.HNSW_EF_SEARCH, settings.HNSW_EF_SEARCH_CHUNKS = 3000, 100, 100_000

    def plan(visible: int, total: int, depth: int) -> str:
        return vector_plan(visible=visible, share=visible / total, depth=depth, version_chunks=total)

    assert plan(3_000, 1_000_000, depth=20) == SearchPlan.EXACT  # within the threshold
    assert plan(10_000, 1_000_000, depth=50) == SearchPlan.EXACT
    assert plan(10_000, 1_000_000, depth=20) == SearchPlan.EXACT  # a vector search's shorter walk too
    assert plan(20_000, 1_000_000, depth=20) == SearchPlan.HNSW  # 2%: the walk reads about 1,000 candidates
    assert plan(10_000, 100_000, depth=50) == SearchPlan.HNSW  # 10%: the walk finds its rows quickly
    assert plan(100_000, 1_000_000, depth=50) == SearchPlan.HNSW
    settings.SEARCH_EXACT_MAX_CHUNKS = 0  # no exact plan at all
    assert plan(10, 1_000_000, depth=50) == SearchPlan.HNSW


@pytest.fixture(scope="session")
def team_pages_snapshot(corpus_snapshot):
    pages = {f"page-{n:02}.md": f"# Page {n}\n\nDeploy notes of team page {n}." for n in range(24)}
    return corpus_snapshot(teams=pages)


@pytest.fixture
def team_pages(corpus_restore, team_pages_snapshot):
    (teams,) = corpus_restore(team_pages_snapshot)
    return teams


def test_a_source_with_access_lists_counts_in_the_share_at_what_the_caller_may_read_of_it(
    team_pages, grant, alice, bob, settings
):
    """The lists come in one run of neighbouring documents: the sample spreads over all of them, a prefix would not."""
    grant(team_pages, user=alice)
    grant(team_pages, user=bob)
    pages = list(team_pages.documents.order_by("id"))
    for n, page in enumerate(pages):
        document_access_list_set(document=page, principals=["alice"] if n < len(pages) // 4 else ["bob"])
    version = index_version_active()

    def share(user, *, sample: int, mode: str = "vector") -> float:
        settings.SEARCH_SHARE_SAMPLE = sample
        statement = SearchStatement(user=user, version=version, mode=mode, k=5)
        with read_only_planned({}) as cursor:
            return visible_chunks(cursor, statement=statement).share

    # The source is the whole version: counted whole, either caller may read all of it.
    assert share(alice, sample=0) == share(bob, sample=0) == 1.0
    assert 0.15 <= share(alice, sample=200) <= 0.35
    assert 0.65 <= share(bob, sample=200) <= 0.85
    assert share(alice, sample=200, mode="keyword") == 1.0  # only the HNSW scan reads it


@pytest.mark.parametrize(("plan", "queries"), [(SearchPlan.EXACT, 8), (SearchPlan.HNSW, 9)], indirect=["plan"])
def test_search_query_count_is_fixed(two_sources, grant, make_user, django_assert_num_queries, plan, queries):
    """Active version; savepoint; planner options; bounded count; keyword leg; [HNSW options]; fused search;
    rollback; release."""
    _, wiki = two_sources
    member = make_user("member", groups=["a", "b", "c"])
    grant(wiki, user=member)
    grant(wiki, group="a")
    search(user=member, query="warm up the model", k=5)
    with django_assert_num_queries(queries):
        search(user=member, query="deploy", k=5)


def test_plan_is_exact_for_a_small_visible_set_and_hnsw_for_a_large_one(stored_corpus, make_user, grant, settings):
    rng = np.random.default_rng(3)
    version, chunks = stored_corpus(
        {
            "small": {f"s{i}": [rng.standard_normal(DIMS)] for i in range(5)},
            "large": {f"l{i}": [rng.standard_normal(DIMS)] for i in range(80)},
        }
    )
    settings.SEARCH_EXACT_MAX_CHUNKS = 10
    settings.HNSW_EF_SEARCH = 1  # a walk of a few candidates: cheaper than the 80 visible rows (vector_plan)
    few, many = make_user("few"), make_user("many")
    sources = {source.name: source for source, _, _ in chunks.values()}
    grant(sources["small"], user=few)
    grant(sources["large"], user=many)
    query = rng.standard_normal(DIMS)
    assert vector_search(user=few, version=version, query_vector=query, k=3).plan == SearchPlan.EXACT
    assert vector_search(user=many, version=version, query_vector=query, k=3).plan == SearchPlan.HNSW


def test_the_exact_plan_ranks_at_full_precision_chunks_that_half_precision_cannot_tell_apart(
    stored_corpus, make_user, grant
):
    """Sixty chunks whose vectors round to one half-precision vector: the nearest, written last, still comes first.

    The scan ranks by the half-precision copies, where all sixty tie (and ties go to the lowest id); the
    re-ranking at full precision must see every one of them, not a fixed number of the first.
    """
    along = np.zeros(DIMS)
    along[0], along[1] = 1.0, 0.5
    vectors = [along + np.eye(DIMS)[1] * 4e-6 * i for i in reversed(range(60))]  # the last is nearest the query
    halves = {unit(vector).astype(np.float16).tobytes() for vector in vectors}
    assert len(halves) == 1, "the test needs vectors that half precision cannot tell apart"
    version, chunks = stored_corpus({"templates": {"form": vectors}})
    reader = make_user("reader")
    grant(next(source for source, _, _ in chunks.values()), user=reader)
    query = np.zeros(DIMS)
    query[0], query[1] = 0.3, -1.0  # full-precision distances 3e-6 apart, far above float32's rounding

    found = vector_search(user=reader, version=version, query_vector=unit(query), k=3)

    assert found.plan == SearchPlan.EXACT
    assert [hit.chunk_id for hit in found.hits] == sorted(chunks)[-1:-4:-1]


@pytest.mark.django_db(transaction=True)
def test_search_during_an_activation_reads_one_version_only(folder_source, sync_now, grant, alice):
    wiki = folder_source("wiki", {**WIKI, **HR})
    grant(wiki, user=alice)
    old = sync_now(wiki).index_version
    Path(wiki.config["path"], "leave.md").unlink()
    new = sync_now(wiki).index_version
    activated, release = threading.Event(), threading.Event()

    def roll_back_slowly():
        try:
            with transaction.atomic():
                index_version_activate(version=old, reason="rollback")
                activated.set()
                release.wait(timeout=30)
        finally:
            connection.close()

    thread = threading.Thread(target=roll_back_slowly)
    thread.start()
    try:
        assert activated.wait(timeout=30)
        during = search(user=alice, query="parental leave", k=10)
    finally:
        release.set()
        thread.join()
    after = search(user=alice, query="parental leave", k=10)

    assert during.index_version == new.pk
    assert after.index_version == old.pk
    for outcome in (during, after):
        members = set(
            version_entries(IndexVersion.objects.get(pk=outcome.index_version)).values_list("document_id", flat=True)
        )
        assert {hit.document_id for hit in outcome.results} <= members
    assert len({hit.document_id for hit in after.results}) == 2
    assert len({hit.document_id for hit in during.results}) == 1


# --- rollback never restores revoked access ------------------------------------------------


def test_rollback_after_a_revocation_does_not_restore_access(folder_source, sync_now, grant, alice, plan):
    wiki = folder_source("wiki", {**WIKI, **HR})
    wiki_grant = grant(wiki, user=alice)
    old = sync_now(wiki).index_version
    Path(wiki.config["path"], "deploy.md").write_text("# Deploying\n\nDeploys now roll out in one wave.")
    sync_now(wiki)
    assert search(user=alice, query="parental leave", k=10).results
    wiki_grant.delete()
    index_version_activate(version=old, reason="rollback")
    outcome = search(user=alice, query="parental leave", k=10)
    assert outcome.index_version == old.pk
    assert outcome.results == []


def test_rollback_after_an_access_list_change_keeps_the_current_list(folder_source, sync_now, grant, alice, plan):
    wiki = folder_source("wiki", {**WIKI, **HR})
    grant(wiki, user=alice)
    old = sync_now(wiki).index_version
    Path(wiki.config["path"], "leave.md").write_text("# Parental leave\n\nTwenty-four weeks of parental leave.")
    sync_now(wiki)
    leave = wiki.documents.get(external_id="leave.md")
    document_access_list_set(document=leave, principals=["group:hr-only"])
    index_version_activate(version=old, reason="rollback")
    outcome = search(user=alice, query="parental leave", k=10)
    assert outcome.index_version == old.pk
    assert leave.pk not in {hit.document_id for hit in outcome.results}
    assert outcome.results  # the other document is still there


# --- property: nothing invisible comes back, the true nearest visible chunk does -----------

NAMES = ["ann", "ben", "cai"]
# "user:ann" is a group named like a typed user entry: its members must not pass for ann.
GROUPS = ["eng", "hr", "user:ann", "everyone"]
SOURCES = ["s0", "s1", "s2"]


@st.composite
def worlds(draw):
    documents = {
        source: {f"{source}-d{i}": draw(st.integers(1, 3)) for i in range(draw(st.integers(1, 3)))}
        for source in SOURCES
    }
    principal = st.sampled_from(
        [*NAMES, *(f"user:{n}" for n in NAMES), *(f"{n}@Example.com" for n in NAMES), *GROUPS]
        + [f"group:{g}" for g in GROUPS]
        + ["nobody", "group:ghosts", "ANN"]
    )
    access_lists = {
        name: draw(st.none() | st.lists(principal, max_size=3))
        for per_source in documents.values()
        for name in per_source
    }
    memberships = {name: draw(st.sets(st.sampled_from(GROUPS[:3]))) for name in NAMES}
    grants = draw(
        st.sets(st.tuples(st.sampled_from(SOURCES), st.sampled_from([*NAMES, *(f"group:{g}" for g in GROUPS)])))
    )
    seed = draw(st.integers(0, 2**32 - 1))
    return documents, access_lists, memberships, grants, seed


def _may_read(username: str, email: str, groups: set[str], source: str, document: str, world) -> bool:
    """The rule, stated independently of the code under test."""
    _, access_lists, _, grants, _ = world
    groups = groups | {"everyone"}
    granted = (source, username) in grants or any((source, f"group:{g}") in grants for g in groups)
    listed = access_lists[document]
    if listed is None:
        return granted

    def names_the_user(entry: str) -> bool:
        # "user:X" and "group:X" name only a user (by username or email) or only a group; a bare
        # name any of them. Emails compare case-insensitively, the rest exactly.
        kind, typed, rest = entry.partition(":")
        if typed and kind.lower() in ("user", "group"):
            rest = rest.lower() if "@" in rest else rest
            return rest in ({username, email.lower()} if kind.lower() == "user" else groups)
        bare = entry.lower() if "@" in entry else entry
        return bare in {username, email.lower()} | groups

    return granted and any(names_the_user(entry) for entry in listed)


@pytest.mark.parametrize("plan", [SearchPlan.EXACT, SearchPlan.HNSW], indirect=True)
@hypothesis_settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(world=worlds())
# Always tried: ben is in the group named "user:ann", which must not make him ann.
@example(
    world=(
        {"s0": {"s0-d0": 1}, "s1": {"s1-d0": 1}, "s2": {"s2-d0": 1}},
        {"s0-d0": ["user:ann"], "s1-d0": None, "s2-d0": None},
        {"ann": set(), "ben": {"user:ann"}, "cai": set()},
        {("s0", "ben")},
        0,
    )
)
def test_search_returns_only_visible_chunks_and_finds_the_nearest_one(stored_corpus, plan, world):
    documents, access_lists, memberships, grants, seed = world
    rng = np.random.default_rng(seed)
    with transaction.atomic():
        groups = {name: Group.objects.create(name=name) for name in GROUPS}
        users = {}
        for name in NAMES:
            users[name] = User.objects.create(username=name, email=f"{name}@example.com")
            users[name].groups.set([groups[g] for g in memberships[name]])
        layout = {
            source: {doc: list(rng.standard_normal((n, DIMS))) for doc, n in per_source.items()}
            for source, per_source in documents.items()
        }
        version, chunks = stored_corpus(layout)
        sources = {source.name: source for source, _, _ in chunks.values()}
        for source, principal in grants:
            if principal.startswith("group:"):
                SourceGrant.objects.create(source=sources[source], group=groups[principal[6:]])
            else:
                SourceGrant.objects.create(source=sources[source], user=users[principal])
        by_name = {document.external_id: document for _, document, _ in chunks.values()}
        for name, listed in access_lists.items():
            document_access_list_set(document=by_name[name], principals=listed)

        query = rng.standard_normal(DIMS)
        query /= np.linalg.norm(query)
        for name, user in users.items():
            visible = {
                chunk_id: vector
                for chunk_id, (source, document, vector) in chunks.items()
                if _may_read(name, user.email, memberships[name], source.name, document.external_id, world)
            }
            k = 3
            found = vector_search(user=user, version=version, query_vector=query, k=k)
            assert found.plan == (plan if visible else SearchPlan.EXACT)  # nothing visible: nothing to scan
            returned = [hit.chunk_id for hit in found.hits]
            assert set(returned) <= set(visible), f"{name} got chunks they may not read"
            assert len(returned) == min(k, len(visible))
            if visible:
                nearest = max(visible, key=lambda chunk_id: float(visible[chunk_id] @ query))
                assert nearest in returned, f"{name} missed the nearest visible chunk"
        transaction.set_rollback(True)


# --- keyword and hybrid search -------------------------------------------------------------

CODES = {
    "codes.md": "# Error codes\n\nThe XQZ-7731 fault means the flux capacitor lost calibration.",
    "leave.txt": "Parental leave: employees get twenty weeks of paid leave.",
}


@pytest.fixture(scope="session")
def coded_snapshot(corpus_snapshot):
    return corpus_snapshot(wiki=WIKI, hr=HR, codes=CODES)


@pytest.fixture
def coded_corpus(corpus_restore, coded_snapshot):
    """``(hr, wiki, codes)``: the two sources and, synced after them, one with an error code."""
    wiki, hr, codes = corpus_restore(coded_snapshot)
    return hr, wiki, codes


@pytest.fixture
def coded(coded_corpus):
    return coded_corpus[2]


@pytest.mark.parametrize("mode", ["keyword", "hybrid"])
def test_keyword_legs_find_an_exact_code_only_in_granted_sources(coded, grant, alice, mode):
    assert search(user=alice, query="XQZ-7731 fault", k=5, mode=mode).results == []
    grant(coded, user=alice)
    hits = search(user=alice, query="XQZ-7731 fault", k=5, mode=mode).results
    assert "XQZ-7731" in hits[0].text
    assert {hit.source_id for hit in hits} == {coded.pk}


@pytest.mark.parametrize("mode", ["keyword", "hybrid", "vector"])
def test_an_access_list_hides_a_document_from_every_mode(coded, grant, alice, bob, mode, plan):
    grant(coded, group="everyone")
    codes = coded.documents.get(external_id="codes.md")
    document_access_list_set(document=codes, principals=["bob"])
    assert codes.pk not in {h.document_id for h in search(user=alice, query="XQZ-7731", k=10, mode=mode).results}
    assert codes.pk in {h.document_id for h in search(user=bob, query="XQZ-7731", k=10, mode=mode).results}


def test_the_plan_probe_counts_documents_only_where_an_access_list_or_a_filter_may_hide_some(
    coded, grant, alice, settings
):
    grant(coded, user=alice)
    settings.SEARCH_EXACT_MAX_CHUNKS = settings.KEYWORD_EXACT_MAX_CHUNKS = 0  # a count stops at one document
    version = index_version_active()
    in_source = version_entries(version, source_id=coded.pk).values("revision_id")
    chunks = Chunk.objects.filter(pipeline=version.pipeline, revision_id__in=in_source).count()
    assert chunks >= 2

    def probed(filters=NO_FILTERS) -> float:
        statement = SearchStatement(user=alice, version=version, mode="hybrid", k=5, filters=filters)
        with read_only_planned({}) as cursor:
            return visible_chunks(cursor, statement=statement).chunks

    assert probed() == chunks  # the source holds no access list: every chunk of it, and nothing counted
    assert probed(SearchFilters(document_types=("md",))) < chunks
    document_access_list_set(document=coded.documents.get(external_id="codes.md"), principals=["alice"])
    assert probed() < chunks


def test_keyword_search_ors_the_words_of_a_question_and_stems_them(coded, grant, alice):
    grant(coded, user=alice)
    # "calibrations" stems to "calibr"; "unicorn" matches nothing and must not veto the match.
    hits = search(user=alice, query="what do unicorn calibrations mean?", k=5, mode="keyword").results
    assert [hit.uri.rsplit("/", 1)[-1] for hit in hits] == ["codes.md"]
    # A negation keeps AND semantics: nothing has both "leave" and lacks "parental" here.
    assert search(user=alice, query="leave -parental", k=5, mode="keyword").results == []


def test_a_quoted_phrase_matches_only_its_words_in_order(coded, grant, alice):
    """Every candidate holds a query word; only a phrase (or a negation) is checked against the text."""
    grant(coded, user=alice)
    found = search(user=alice, query="leave paid", k=5, mode="keyword").results
    assert [hit.uri.rsplit("/", 1)[-1] for hit in found] == ["leave.txt"]
    phrase = search(user=alice, query='"paid leave"', k=5, mode="keyword").results
    assert [hit.uri.rsplit("/", 1)[-1] for hit in phrase] == ["leave.txt"]
    assert search(user=alice, query='"leave paid"', k=5, mode="keyword").results == []


def test_hybrid_ranks_a_chunk_found_by_both_legs_first(coded, grant, alice):
    grant(coded, user=alice)
    hybrid = search(user=alice, query="flux capacitor calibration fault", k=2, mode="hybrid").results
    assert hybrid[0].uri.endswith("codes.md")
    # Reciprocal rank fusion: rank 1 in both legs scores 2 / (60 + 1).
    assert hybrid[0].score == pytest.approx(2 / 61)


def test_hybrid_runs_the_keyword_leg_then_one_fused_statement_both_under_the_acl(coded, grant, alice):
    grant(coded, user=alice)
    with CaptureQueriesContext(connection) as queries:
        search(user=alice, query="flux capacitor", k=5, mode="hybrid")
    statements = [q["sql"] for q in queries.captured_queries if "<=>" in q["sql"] or "@@" in q["sql"]]
    assert len(statements) == 2
    keyword, fused = statements
    assert "websearch_to_tsquery" in keyword and "<=>" not in keyword  # runs while the query is embedded
    assert "<=>" in fused and "websearch_to_tsquery" not in fused and "unnest(" in fused
    with CaptureQueriesContext(connection) as queries:
        search(user=alice, query="flux capacitor", k=5, mode="vector")
    vector_only = next(q["sql"] for q in queries.captured_queries if "<=>" in q["sql"])
    # The keyword leg holds its own ACL-filtered matches (and grant-filtered statistics), and the fused
    # statement checks its rows again; which part holds which condition: tests/retrieval/test_search_statement.py.
    for table in ("acl_sourcegrant", "acl_documentaccesslist"):
        assert keyword.count(table) > 0
        assert fused.count(table) > vector_only.count(table) > 0


@pytest.mark.django_db(transaction=True)
def test_a_hybrid_search_outside_a_transaction_reads_its_vector_leg_on_a_second_connection(
    folder_source, sync_now, grant, alice, settings, plan
):
    wiki = folder_source("wiki", {**WIKI_WITH_STYLE, **HR})
    grant(wiki, user=alice)
    sync_now(wiki)
    hidden = wiki.documents.get(external_id="leave.md")
    document_access_list_set(document=hidden, principals=["bob"])
    settings.HYBRID_PARALLEL_LEGS = False
    one_connection = search(user=alice, query="parental leave weeks", k=10).results
    settings.HYBRID_PARALLEL_LEGS = True
    settings.HYBRID_PARALLEL_MIN_CHUNKS = 1000  # more than are visible: one connection still
    with CaptureQueriesContext(connection) as queries:
        small = search(user=alice, query="parental leave weeks", k=10).results
    assert [q["sql"] for q in queries.captured_queries if "<=>" in q["sql"]], "a small set searched on two"
    settings.HYBRID_PARALLEL_MIN_CHUNKS = 0
    with CaptureQueriesContext(connection) as queries:
        two_connections = search(user=alice, query="parental leave weeks", k=10).results

    here = [q["sql"] for q in queries.captured_queries]
    assert not [sql for sql in here if "<=>" in sql], "the vector leg ran on this connection"
    assert [sql for sql in here if "websearch_to_tsquery" in sql], "the keyword leg runs here"
    assert small == one_connection
    assert [(hit.chunk_id, hit.score) for hit in two_connections] == [
        (hit.chunk_id, pytest.approx(hit.score)) for hit in one_connection
    ]
    assert len(two_connections) > 1 and hidden.pk not in {hit.document_id for hit in two_connections}


def _search_statements_planned() -> dict[str, tuple[int, int]]:
    """This connection's prepared search statements (those holding the ACL): (generic, custom) plans run."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements")
        return {text: (generic, custom) for text, generic, custom in cursor.fetchall() if "acl_sourcegrant" in text}


@pytest.mark.django_db(transaction=True)
def test_a_search_outside_a_transaction_leaves_its_statements_prepared_for_the_next(
    folder_source, sync_now, grant, alice, settings
):
    """Parsed and planned once per connection: a search commits its read-only transaction, since psycopg
    deallocates every prepared statement on a rollback; each later one runs the prepared statement."""
    wiki = folder_source("wiki", {**WIKI_WITH_STYLE, **HR})
    grant(wiki, user=alice)
    sync_now(wiki)
    settings.HYBRID_PARALLEL_LEGS = False  # every statement on this connection, where the test can see it

    def prepared() -> dict[str, int]:
        return {text: generic + custom for text, (generic, custom) in _search_statements_planned().items()}

    answers = [search(user=alice, query="parental leave weeks", k=5).results for _ in range(4)]
    runs = prepared()
    assert len(runs) == 3  # the plan probe, the keyword leg and the fused statement
    assert all(count >= 2 for count in runs.values())
    assert all(answer == answers[0] for answer in answers) and answers[0]
    settings.SEARCH_PREPARED_STATEMENTS = False
    assert search(user=alice, query="parental leave weeks", k=5).results == answers[0]
    assert prepared() == runs  # client-bound: nothing prepared, nothing run again


@pytest.mark.django_db(transaction=True)
def test_a_search_plans_each_statement_once_per_connection_and_the_hnsw_leg_at_every_run(
    folder_source, sync_now, grant, alice, settings
):
    """A generic plan per prepared statement (``SEARCH_GENERIC_PLANS``): PostgreSQL's own rule planned them
    for their values at every run. Not the HNSW leg, whose plan depends on its LIMIT's value."""
    wiki = folder_source("wiki", {**WIKI_WITH_STYLE, **HR})
    grant(wiki, user=alice)
    sync_now(wiki)
    settings.HYBRID_PARALLEL_LEGS = False  # every statement on this connection, where the test can see it

    def searched(times: int) -> dict[str, tuple[int, int]]:
        before = _search_statements_planned()
        for _ in range(times):
            search(user=alice, query="parental leave weeks", k=5)
        return {
            text: (g - before.get(text, (0, 0))[0], c - before.get(text, (0, 0))[1])
            for text, (g, c) in _search_statements_planned().items()
        }

    exact = searched(4)
    assert len(exact) == 3 and all(generic >= 2 and custom == 0 for generic, custom in exact.values())
    settings.SEARCH_EXACT_MAX_CHUNKS = 0  # the HNSW leg, in the fused statement
    hnsw = searched(4)
    (fused,) = [text for text in hnsw if "<=>" in text and text not in exact]
    assert hnsw[fused][0] == 0 and hnsw[fused][1] >= 2
    assert all(hnsw[text][1] == 0 for text in hnsw if text != fused)
    settings.SEARCH_GENERIC_PLANS = False  # PostgreSQL's own rule: its first five runs are planned for their values
    ran = [(generic, custom) for generic, custom in searched(3).values() if generic or custom]
    assert len(ran) == 3 and all(custom >= 2 for _, custom in ran)


def test_the_full_text_column_is_generated_and_left_unindexed(coded):
    """PostgreSQL computes ``search_vector`` from the section and the text; the keyword leg reads the
    postings and matches candidates by primary key, so no GIN index is maintained on every write."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM index_versions_chunk WHERE search_vector @@ websearch_to_tsquery('english', %s)",
            ["error codes calibrated"],  # the section (heading) and a stemmed word of the text
        )
        assert cursor.fetchone()[0] == 1
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE tablename = 'index_versions_chunk'")
        definitions = [row[0] for row in cursor.fetchall()]
    assert definitions and not [d for d in definitions if "search_vector" in d]


@pytest.mark.parametrize(("mode", "queries"), [("keyword", 7), ("hybrid", 8), ("vector", 7)])
def test_query_count_per_mode_is_fixed(coded, grant, make_user, django_assert_num_queries, mode, queries, settings):
    """Active version; savepoint; options; bounded count; [hybrid: the keyword leg]; search; rollback; release."""
    settings.SEARCH_EXACT_MAX_CHUNKS = 10**9
    member = make_user("member", groups=["a", "b"])
    grant(coded, group="a")
    search(user=member, query="warm up the model", k=5)
    with django_assert_num_queries(queries):
        search(user=member, query="flux capacitor", k=5, mode=mode)


@pytest.mark.parametrize("mode", ["keyword", "hybrid", "vector"])
def test_filters_restrict_sources_types_and_dates_in_every_mode(coded_corpus, grant, alice, mode):
    hr, wiki, coded = coded_corpus
    for source in (hr, wiki, coded):
        grant(source, user=alice)
    query = "parental leave weeks"

    def found(**filters):
        return {(h.source_id, h.uri.rsplit(".", 1)[-1]) for h in search(
            user=alice, query=query, k=10, mode=mode, filters=SearchFilters(**filters)).results}  # fmt: skip

    everything = found()
    assert {source for source, _ in everything} >= {hr.pk, coded.pk}
    assert {source for source, _ in found(sources=(hr.pk,))} == {hr.pk}
    assert {kind for _, kind in found(document_types=("txt",))} == {"txt"}
    assert found(modified_after=timezone.now() + timedelta(days=1)) == set()
    assert found(modified_before=timezone.now() + timedelta(days=1)) == everything


# --- recency boost ------------------------------------------------------------------------------

RELEASES = {
    "spring.md": "# Release notes\n\nThe spring release adds dark mode and a faster search box.",
    "autumn.md": "# Release notes\n\nThe autumn release adds offline sync and a new text editor.",
}
RELEASE_QUERY = "what does the release add"


@pytest.fixture(scope="session")
def releases_snapshot(corpus_snapshot):
    return corpus_snapshot(notes=RELEASES, hr=HR)


@pytest.fixture
def releases(corpus_restore, releases_snapshot, grant, alice):
    """Two equally relevant release notes; the one ranked first is dated 3 years ago, the other yesterday.

    Returns ``(first, second)``: the document ids in their unboosted order.
    """
    notes, hr = corpus_restore(releases_snapshot)
    grant(notes, user=alice)
    first, second = (hit.document_id for hit in search(user=alice, query=RELEASE_QUERY, k=2).results)
    now = timezone.now()
    DocumentRevision.objects.filter(document_id=first).update(modified_at=now - timedelta(days=3 * 365))
    DocumentRevision.objects.filter(document_id=second).update(modified_at=now - timedelta(days=1))
    DocumentRevision.objects.filter(document__source=hr).update(modified_at=now)  # newest, and invisible to alice
    return first, second


def test_recency_boost_lifts_a_newer_document_over_an_older_equally_relevant_one(releases, alice):
    first, second = releases
    plain = search(user=alice, query=RELEASE_QUERY, k=2)
    assert [hit.document_id for hit in plain.results] == [first, second]  # the dates alone change nothing
    boosted = search(user=alice, query=RELEASE_QUERY, k=2, recency_half_life_days=30)
    assert [hit.document_id for hit in boosted.results] == [second, first]
    assert boosted.recency_half_life_days == 30 and plain.recency_half_life_days is None
    # score * (1 + SEARCH_RECENCY_WEIGHT * 0.5 ** (age / half-life)), with the default weight of 1
    assert boosted.results[0].score == pytest.approx(plain.results[1].score * (1 + 0.5 ** (1 / 30)), rel=1e-4)


def test_a_document_without_a_date_gets_no_boost(releases, alice):
    first, second = releases
    DocumentRevision.objects.filter(document_id=second).update(modified_at=None)
    plain = search(user=alice, query=RELEASE_QUERY, k=2).results
    boosted = search(user=alice, query=RELEASE_QUERY, k=2, recency_half_life_days=30).results
    assert [hit.document_id for hit in boosted] == [first, second]
    assert boosted[1].score == plain[1].score


def test_recency_boost_never_changes_which_chunks_are_visible(releases, alice):
    plain = search(user=alice, query="parental leave weeks and releases", k=50).results
    boosted = search(user=alice, query="parental leave weeks and releases", k=50, recency_half_life_days=1).results
    assert sorted(hit.chunk_id for hit in boosted) == sorted(hit.chunk_id for hit in plain)
    assert all("parental" not in hit.text for hit in boosted)  # hr's newest document stays invisible


def _hit(chunk_id: int, score: float, modified_at) -> SearchHit:
    return SearchHit(
        chunk_id=chunk_id, document_id=chunk_id, document_title="t", source_id=1, uri="x:t", section="", text="t",
        score=score, modified_at=modified_at,
    )  # fmt: skip


def test_recency_formula_halves_the_boost_every_half_life_and_never_lowers_a_score():
    now = timezone.now()
    hits = [
        _hit(1, 1.0, None),
        _hit(2, 1.0, now - timedelta(days=10)),  # one half-life old
        _hit(3, 1.0, now),
        _hit(4, -0.5, now),  # a negative similarity is divided, so it still moves up
        _hit(5, 1.0, now + timedelta(days=5)),  # a future date counts as today
    ]
    boosted = {hit.chunk_id: hit.score for hit in recency_boosted(hits, half_life_days=10, weight=0.5, now=now)}
    assert boosted == pytest.approx({1: 1.0, 2: 1.25, 3: 1.5, 4: -0.5 / 1.5, 5: 1.5})
    order = [hit.chunk_id for hit in recency_boosted(hits, half_life_days=10, weight=0.5, now=now)]
    assert order == [3, 5, 2, 1, 4]  # ties keep their order


# --- metadata filter ----------------------------------------------------------------------------

TICKETS = {
    "vpn.md": "---\nstatus: open\nlabels: [network, vpn]\n---\n# VPN\n\nThe VPN drops every hour.",
    "printer.md": "---\nstatus: closed\nlabels: [hardware]\n---\n# Printer\n\nThe printer is out of toner and the VPN.",
    "wifi.md": "---\nstatus: pending\npriority: 1\n---\n# Wifi\n\nThe VPN over wifi drops too.",
}
SECRET_TICKETS = {"board.md": "---\nstatus: open\n---\n# Board\n\nThe board's VPN drops every hour."}


@pytest.fixture(scope="session")
def tickets_snapshot(corpus_snapshot):
    return corpus_snapshot(support=TICKETS, board=SECRET_TICKETS)


@pytest.fixture
def tickets(corpus_restore, tickets_snapshot, grant, alice):
    """``support`` (alice may read it) and ``board`` (she may not), both with an ``open`` ticket."""
    support, board = corpus_restore(tickets_snapshot)
    grant(support, user=alice)
    return support, board


def _titles(user, mode="hybrid", **metadata):
    wanted = tuple((key, tuple(v) if isinstance(v, list) else (v,)) for key, v in metadata.items())
    hits = search(user=user, query="VPN drops", k=10, mode=mode, filters=SearchFilters(metadata=wanted)).results
    return {hit.document_title for hit in hits}


@pytest.mark.parametrize("mode", ["hybrid", "vector", "keyword"])
def test_metadata_filter_keeps_only_matching_documents_and_never_widens_the_acl(tickets, alice, grant, mode, plan):
    _, board = tickets
    assert _titles(alice, mode) == {"VPN", "Printer", "Wifi"}
    assert _titles(alice, mode, status="open") == {"VPN"}  # the board's open ticket stays invisible
    grant(board, user=alice)
    assert _titles(alice, mode, status="open") == {"VPN", "Board"}


def test_a_list_of_values_means_any_of_them_and_keys_are_all_required(tickets, alice):
    assert _titles(alice, status=["open", "pending"]) == {"VPN", "Wifi"}
    assert _titles(alice, labels="vpn") == {"VPN"}  # one value of a list-valued key
    assert _titles(alice, labels=["hardware", "network"]) == {"VPN", "Printer"}
    assert _titles(alice, status="open", labels="hardware") == set()
    assert _titles(alice, priority=1) == {"Wifi"}
    assert _titles(alice, priority="1") == set()  # types are kept: the number 1 is not the string "1"
    assert _titles(alice, status="missing") == set()


def test_hits_carry_their_revisions_metadata(tickets, alice):
    open_only = SearchFilters(metadata=(("status", ("open",)),))
    (hit,) = search(user=alice, query="VPN drops", k=10, filters=open_only).results
    assert hit.metadata == {"status": "open", "labels": ["network", "vpn"]}


def test_metadata_filter_is_a_probe_on_the_revision_inside_the_search_sql(tickets, alice):
    with CaptureQueriesContext(connection) as queries:
        search(user=alice, query="VPN drops", k=3, filters=SearchFilters(metadata=(("status", ("open",)),)))
    count, keyword, fused = [q["sql"] for q in queries.captured_queries if "r.metadata @> ANY" in q["sql"]]
    assert "count(*)" in count  # the plan's bounded count of visible documents holds the filter too
    # In every part that reads rows, next to the ACL condition: the keyword candidates (its matches are
    # among them), then the vector leg and the keyword rows checked again in the fused statement.
    assert keyword.count("r.metadata @> ANY") == 1
    assert fused.count("r.metadata @> ANY") == 2
    assert "r.id = vd.revision_id" in fused
