"""The keyword leg's two plans: every visible chunk (few visible) or each query lexeme's best postings.

Both score their candidates with the same BM25 over the same statistics, so the
bounded plan may keep fewer chunks, never score one differently.
"""

import random
from pathlib import Path

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from acl.services import document_access_list_set
from index_versions.models import KeywordPosting, MembershipSpan
from index_versions.services.purge import document_purge
from retrieval.search import SearchPlan, search
from sources.models import Document

WORDS = [
    "leave",
    "policy",
    "parental",
    "weeks",
    "paid",
    "employee",
    "manager",
    "approval",
    "request",
    "deploy",
    "wave",
    "bake",
]


def _corpus(count: int, seed: int = 7) -> dict[str, str]:
    rng = random.Random(seed)  # noqa: S311 - a reproducible corpus, not a secret
    files = {}
    for i in range(count):
        words = [rng.choice(WORDS) for _ in range(rng.randint(4, 40))]
        files[f"doc-{i:03}.md"] = f"# Note {i}\n\n" + " ".join(words) + f". Marker z{i}q."
    return files


@pytest.fixture(scope="session")
def notes_snapshot(corpus_snapshot):
    return corpus_snapshot(notes=_corpus(60))


@pytest.fixture
def notes(corpus_restore, notes_snapshot, grant, alice):
    (source,) = corpus_restore(notes_snapshot)
    grant(source, user=alice)
    return source


def _keyword(user, query, settings, *, exact: bool, per_lexeme: int = 200, k: int = 10):
    settings.KEYWORD_EXACT_MAX_CHUNKS = 10**9 if exact else 0
    settings.KEYWORD_CANDIDATES_PER_LEXEME = per_lexeme
    settings.HYBRID_CANDIDATES = k  # the leg's depth: per_lexeme is at least this
    settings.DUPLICATES_FETCH_EXTRA = 0
    return search(user=user, query=query, k=k, mode="keyword")


def test_bounded_plan_with_room_for_every_match_equals_the_exact_plan(notes, alice, settings):
    query = "parental leave approval request"
    exact = _keyword(alice, query, settings, exact=True)
    bounded = _keyword(alice, query, settings, exact=False)
    assert (exact.keyword_plan, bounded.keyword_plan) == (SearchPlan.KEYWORD_EXACT, SearchPlan.KEYWORD_BOUNDED)
    assert len(exact.results) == 10
    assert [(h.chunk_id, h.score) for h in bounded.results] == [(h.chunk_id, h.score) for h in exact.results]


def test_bounded_plan_scores_what_it_keeps_exactly_as_the_exact_plan(notes, alice, settings):
    query = "employee manager weeks deploy"
    exact = {h.chunk_id: h.score for h in _keyword(alice, query, settings, exact=True, k=60).results}
    bounded = _keyword(alice, query, settings, exact=False, per_lexeme=3, k=3)
    assert bounded.results, "the best postings of each word are candidates"
    for hit in bounded.results:
        assert hit.score == pytest.approx(exact[hit.chunk_id])
    # Each word's best posting is a candidate, so the best chunk overall is one of them here.
    assert bounded.results[0].chunk_id == max(exact, key=exact.get)


@pytest.mark.parametrize("exact", [True, False], ids=["exact", "bounded"])
def test_an_access_list_and_a_missing_grant_hide_candidates_in_both_plans(notes, alice, bob, settings, exact):
    hidden = notes.documents.get(external_id="doc-003.md")
    document_access_list_set(document=hidden, principals=["bob"])
    assert _keyword(bob, "z3q", settings, exact=exact).results == []  # bob has no grant on the source
    hits = _keyword(alice, "z3q marker", settings, exact=exact).results
    assert hits and hidden.pk not in {h.document_id for h in hits}


def test_an_edit_is_posted_by_its_sync_and_found_by_the_bounded_plan(notes, alice, sync_now, settings):
    (Path(notes.config["path"]) / "doc-010.md").write_text("# Note 10\n\nThe quokka budget was approved.")
    sync_now(notes)
    hits = _keyword(alice, "quokka", settings, exact=False).results
    assert [h.uri.rsplit("/", 1)[-1] for h in hits] == ["doc-010.md"]


def test_a_purge_takes_the_documents_postings_with_it(notes, alice, staff, settings):
    document = notes.documents.get(external_id="doc-005.md")
    revisions = list(document.revisions.values_list("pk", flat=True))
    assert KeywordPosting.objects.filter(revision_id__in=revisions, lexeme="z5q").exists()
    document_purge(document=document, actor=staff)
    assert not KeywordPosting.objects.filter(revision_id__in=revisions).exists()
    assert Document.objects.filter(pk=document.pk, purged_at__isnull=False).exists()
    assert _keyword(alice, "z5q", settings, exact=False).results == []


def test_postings_carry_their_chunks_document_and_its_source(notes):
    postings = KeywordPosting.objects.filter(source_id=notes.pk)
    assert postings.count() > 60
    documents = dict(notes.documents.values_list("revisions__pk", "pk"))
    for revision_id, document_id in postings.values_list("revision_id", "document_id").distinct():
        assert documents[revision_id] == document_id


def _plan_nodes(node: dict):
    yield node
    for child in node.get("Plans", ()):
        yield from _plan_nodes(child)


def test_the_bounded_plan_probes_the_membership_only_for_postings_their_access_list_lets_through(
    notes, alice, settings
):
    """The access list is probed by the posting's own document first: a hidden document costs no membership probe."""
    documents = list(notes.documents.order_by("pk"))
    readable = {document.pk for document in documents[:6]}
    for document in documents[6:]:
        document_access_list_set(document=document, principals=["bob"])
    with CaptureQueriesContext(connection) as queries:
        found = _keyword(alice, "leave", settings, exact=False)
    assert found.results and {hit.document_id for hit in found.results} <= readable
    keyword_sql = next(q["sql"] for q in queries.captured_queries if "websearch_to_tsquery" in q["sql"])
    with transaction.atomic(), connection.cursor() as cursor:
        for sql in (q["sql"] for q in queries.captured_queries if "set_config" in q["sql"]):
            cursor.execute(sql)  # the search's own planner options
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + keyword_sql)
        (explained,) = cursor.fetchone()[0]
        transaction.set_rollback(True)
    (candidates,) = [n for n in _plan_nodes(explained["Plan"]) if n.get("Subplan Name") == "CTE candidates"]
    nodes = list(_plan_nodes(candidates))
    read = sum(n["Actual Rows"] * n["Actual Loops"] for n in nodes if n.get("Index Name") == "posting_impact")
    # By either index of the membership by revision: which one the planner takes depends on the statistics.
    membership = MembershipSpan._meta.db_table
    probed = sum(n["Actual Loops"] for n in nodes if n.get("Relation Name") == membership and "Index Name" in n)
    postings = KeywordPosting.objects.filter(source_id=notes.pk, lexeme="leav")
    assert read == postings.count() > 2 * postings.filter(document_id__in=readable).count()
    assert probed == postings.filter(document_id__in=readable).count() > 0


def test_a_posting_naming_another_document_still_cannot_show_a_hidden_one(notes, alice, settings):
    """The posting's own document only spares probes: the whole ACL is checked again on the version's row."""
    hidden, readable = notes.documents.get(external_id="doc-003.md"), notes.documents.get(external_id="doc-004.md")
    document_access_list_set(document=hidden, principals=["bob"])
    KeywordPosting.objects.filter(document_id=hidden.pk).update(document_id=readable.pk)  # as a faulty writer would
    hits = _keyword(alice, "z3q marker", settings, exact=False).results
    assert hits and hidden.pk not in {hit.document_id for hit in hits}
