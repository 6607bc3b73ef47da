"""CrossEncoder reranking: the order and scores are the model's, over ACL-filtered, collapsed candidates only.

The reranker is a real CrossEncoder built from the bundled embedding model with a
seeded head (``cross_encoder_dir`` in conftest); each test recomputes the expected
order with its own instance of it, never through ``retrieval.reranking``.
"""

import os
import time

import pytest
from sentence_transformers import CrossEncoder

from acl.models import AuditEvent
from acl.services import document_access_list_set
from retrieval.search import search

WIKI = {
    "deploy.md": "# Deploying\n\nDeploys roll out in three waves with a bake time between waves.",
    "oncall.md": "# On call\n\nThe pager rotates weekly between the platform engineers.",
    "style.md": "# Style guide\n\nWrite short sentences and use the active voice.",
    "review.md": "# Code review\n\nEvery change needs one approving review before it is merged and deployed.",
    "freeze.md": "# Release freeze\n\nNo deploys during the December freeze, except for security fixes.",
    "rollback.md": "# Rollback\n\nA bad deploy is rolled back by redeploying the previous release.",
}
HR = {"leave.md": "# Parental leave\n\nEmployees get twenty weeks of paid parental leave before deploys."}
QUERY = "how are deploys rolled out and rolled back"


@pytest.fixture(scope="session")
def deploys_snapshot(corpus_snapshot):
    return corpus_snapshot(wiki=WIKI, hr=HR)


@pytest.fixture
def synced(corpus_restore, deploys_snapshot):
    return corpus_restore(deploys_snapshot)


@pytest.fixture(scope="module")
def judge(cross_encoder_dir):
    """The test's own instance of the reranker, loaded from the same folder."""
    return CrossEncoder(cross_encoder_dir, local_files_only=True, device="cpu")


def judged_text(hit) -> str:
    # The documented passage: "Title > Section", a blank line, the chunk. Here every section is a title.
    assert hit.section in ("", hit.document_title), "this corpus has one heading per document"
    return f"{hit.document_title}\n\n{hit.text}"


def expected_order(judge, query: str, candidates) -> list[tuple[int, float]]:
    """(chunk id, score) of ``candidates`` sorted by ``judge``'s scores, best first."""
    scores = judge.predict([(query, judged_text(hit)) for hit in candidates], show_progress_bar=False)
    ranked = sorted(zip(candidates, scores, strict=True), key=lambda pair: -float(pair[1]))
    return [(hit.chunk_id, float(score)) for hit, score in ranked]


def test_reranked_results_come_in_cross_encoder_order_with_its_scores(synced, grant, alice, reranker, judge):
    wiki, _ = synced
    grant(wiki, user=alice)
    candidates = search(user=alice, query=QUERY, k=50).results  # the first stage's pool: all of the wiki here
    assert len(candidates) == len(WIKI)
    expected = expected_order(judge, QUERY, candidates)[:4]

    outcome = search(user=alice, query=QUERY, k=4, rerank=True)

    assert outcome.reranked
    assert [hit.chunk_id for hit in outcome.results] == [chunk_id for chunk_id, _ in expected]
    assert [hit.score for hit in outcome.results] == pytest.approx([score for _, score in expected], abs=1e-5)
    # The seeded head disagrees with the first stage, so this order is the reranker's doing.
    assert [hit.chunk_id for hit in outcome.results] != [hit.chunk_id for hit in candidates[:4]]


def test_only_the_best_rerank_candidates_of_the_first_stage_are_reranked(
    synced, grant, alice, reranker, judge, settings
):
    wiki, _ = synced
    grant(wiki, user=alice)
    settings.RERANK_CANDIDATES = 3
    first_stage = search(user=alice, query=QUERY, k=3).results
    outcome = search(user=alice, query=QUERY, k=2, rerank=True)
    assert [hit.chunk_id for hit in outcome.results] == [c for c, _ in expected_order(judge, QUERY, first_stage)[:2]]


def test_rerank_never_brings_in_a_chunk_the_user_may_not_read(synced, grant, alice, reranker, judge):
    wiki, _ = synced
    grant(wiki, user=alice)  # not hr, whose leave document mentions deploys too
    hidden = wiki.documents.get(external_id="rollback.md")
    document_access_list_set(document=hidden, principals=["bob"])
    visible = search(user=alice, query=QUERY, k=50).results

    reranked = search(user=alice, query=QUERY, k=50, rerank=True).results

    assert {hit.source_id for hit in reranked} == {wiki.pk}
    assert hidden.pk not in {hit.document_id for hit in reranked}
    assert sorted(hit.chunk_id for hit in reranked) == sorted(hit.chunk_id for hit in visible)
    assert [hit.chunk_id for hit in reranked] == [c for c, _ in expected_order(judge, QUERY, visible)]


POLICY = (
    "# Expense policy\n\nTravel expenses are reimbursed within thirty days of the claim. Receipts are "
    "required for every item above twenty euros, and claims go through the finance portal."
)


def test_rerank_keeps_one_result_per_duplicate_group_and_its_also_in(folder_source, sync_now, grant, alice, reranker):
    old = folder_source("archive", {"policy.md": POLICY})
    sync_now(old)
    new = folder_source("handbook", {"policy.md": POLICY, **WIKI})
    path = os.path.join(new.config["path"], "policy.md")
    os.utime(path, (time.time() + 60, time.time() + 60))  # the handbook's copy is canonical
    sync_now(new)
    grant(old, user=alice)
    grant(new, user=alice)

    hits = search(user=alice, query="travel expenses reimbursed", k=20, rerank=True).results

    policy = [hit for hit in hits if "reimbursed" in hit.text]
    assert len(policy) == 1
    assert policy[0].source_id == new.pk
    assert [entry["source_id"] for entry in policy[0].also_in] == [old.pk]


# --- the API ------------------------------------------------------------------------------------------


def post(client, path: str, body: dict):
    return client.post(path, body, format="json")


def test_search_api_reranks_on_request_says_so_and_audits_it(api, synced, grant, alice, reranker, judge):
    wiki, _ = synced
    grant(wiki, user=alice)
    client = api(alice)
    plain = post(client, "/api/v1/search", {"query": QUERY, "k": 50}).json()
    response = post(client, "/api/v1/search", {"query": QUERY, "k": 3, "rerank": True})
    assert response.status_code == 200, response.content[:500]
    body = response.json()
    assert body["reranked"] is True and plain["reranked"] is False

    class Hit:  # the API's hit, as judged_text reads it
        def __init__(self, row):
            self.__dict__.update(row)

    expected = expected_order(judge, QUERY, [Hit(row) for row in plain["results"]])[:3]
    assert [hit["chunk_id"] for hit in body["results"]] == [chunk_id for chunk_id, _ in expected]
    assert AuditEvent.objects.get(pk=body["id"]).details["rerank"] is True
    assert AuditEvent.objects.get(pk=plain["id"]).details["rerank"] is False


def test_rerank_default_setting_reranks_a_search_that_does_not_say_and_false_opts_out(
    api, synced, grant, alice, reranker, settings
):
    wiki, _ = synced
    grant(wiki, user=alice)
    settings.RERANK_DEFAULT = True
    client = api(alice)
    assert post(client, "/api/v1/search", {"query": QUERY}).json()["reranked"] is True
    assert post(client, "/api/v1/search", {"query": QUERY, "rerank": False}).json()["reranked"] is False


def test_rerank_default_is_ignored_while_no_model_is_configured(api, synced, grant, alice, settings):
    wiki, _ = synced
    grant(wiki, user=alice)
    settings.RERANK_DEFAULT, settings.RERANK_MODEL = True, ""
    response = post(api(alice), "/api/v1/search", {"query": QUERY})
    assert response.status_code == 200 and response.json()["reranked"] is False


@pytest.mark.parametrize("path", ["/api/v1/search", "/api/v1/answer"])
def test_rerank_without_a_model_is_a_400_rerank_unavailable(api, synced, alice, settings, path):
    settings.RERANK_MODEL = ""
    response = post(api(alice), path, {"query": QUERY, "rerank": True})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "rerank_unavailable"
    assert "RERANK_MODEL" in response.json()["error"]["message"]
    assert not AuditEvent.objects.filter(action__in=["search", "answer"]).exists()  # refused before any work


def test_answer_api_cites_reranked_hits_and_audits_the_rerank(api, synced, grant, alice, reranker):
    wiki, _ = synced
    grant(wiki, user=alice)
    response = post(api(alice), "/api/v1/answer", {"query": QUERY, "rerank": True})
    assert response.status_code == 200, response.content[:500]
    body = response.json()
    assert {citation["uri"].rsplit("/", 1)[-1] for citation in body["citations"]} <= set(WIKI)
    assert AuditEvent.objects.get(pk=body["id"]).details["rerank"] is True
