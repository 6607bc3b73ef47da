"""REST contract of ``POST /api/v1/answer``: shape, citations under the ACL, nothing-found, SQL budget."""

import pytest

from retrieval.generators import NOTHING_FOUND

CITATION_FIELDS = {"n", "document_id", "title", "uri", "chunk_id", "text"}


@pytest.fixture
def synced(two_page_wiki_and_hr):
    return two_page_wiki_and_hr


def answer(client, query: str, **extra):
    response = client.post("/api/v1/answer", {"query": query, **extra}, format="json")
    assert response.status_code == 200, response.content[:500]
    return response.json()


def test_answer_cites_its_sources_as_numbers_with_their_chunks(api, alice, grant, synced):
    wiki, _ = synced
    grant(wiki, user=alice)
    body = answer(api(alice), "how are deploys rolled out?")
    assert set(body) == {"id", "answer", "citations", "index_version", "generator", "took_ms"}
    assert body["generator"] == "extractive" and body["citations"]
    for citation in body["citations"]:
        assert set(citation) == CITATION_FIELDS
        assert f"[{citation['n']}]" in body["answer"]
    assert "three waves" in body["answer"] and body["citations"][0]["uri"].endswith("deploy.md")


def test_answer_never_cites_or_quotes_what_the_caller_may_not_read(api, alice, grant, synced):
    wiki, _ = synced
    grant(wiki, user=alice)
    body = answer(api(alice), "how many weeks of parental leave do employees get?")
    assert "twenty weeks" not in body["answer"]
    assert all(not c["uri"].endswith("leave.md") for c in body["citations"])


def test_answer_says_nothing_was_found_instead_of_guessing(api, alice, synced):
    body = answer(api(alice), "how many weeks of parental leave?")
    assert (body["answer"], body["citations"]) == (NOTHING_FOUND, [])


def test_unknown_generator_is_a_400(api, alice, db):
    response = api(alice).post("/api/v1/answer", {"query": "x", "generator": "magic"}, format="json")
    assert response.status_code == 400 and response.json()["error"]["details"] == {"generator": ["unknown generator"]}


def test_answer_runs_a_fixed_number_of_sql_queries(api, alice, grant, synced, django_assert_num_queries):
    """Token; active version; the search's 7 (savepoint .. release); the version's pipeline; the audit INSERT."""
    wiki, _ = synced
    grant(wiki, user=alice)
    client = api(alice)
    answer(client, "warm up")
    with django_assert_num_queries(10):
        answer(client, "how are deploys rolled out?", k=3)
