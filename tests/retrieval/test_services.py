from acl.models import AuditEvent
from retrieval.services import search_run

WIKI = {"deploy.md": "# Deploying\n\nDeploys roll out in three waves with a bake time between waves."}


def test_search_run_records_who_what_and_how_many(folder_source, sync_now, grant, alice, settings):
    settings.AUDIT_QUERY_TEXT = "keep"
    wiki = folder_source("wiki", WIKI)
    version = sync_now(wiki).index_version
    grant(wiki, user=alice)
    outcome = search_run(user=alice, query="how do deploys roll out", k=5)
    event = AuditEvent.objects.get(pk=outcome.id)
    assert (event.action, event.actor, event.service_account) == ("search", alice, None)
    assert (event.index_version, event.result_count) == (version.pk, len(outcome.results)) and outcome.results
    assert event.details == {
        "query": "how do deploys roll out", "k": 5, "plan": "exact", "mode": "hybrid", "rerank": False,
        "keyword_plan": "keyword_exact",
    }  # fmt: skip


def test_search_without_results_is_recorded_too(db, alice, settings):
    settings.AUDIT_QUERY_TEXT = "drop"
    outcome = search_run(user=alice, query="anything", k=5)
    event = AuditEvent.objects.get(pk=outcome.id)
    assert (event.result_count, event.index_version, event.details["query"]) == (0, None, None)


def test_answer_run_cites_only_visible_chunks_and_is_audited(folder_source, sync_now, grant, alice, settings):
    from retrieval.services import answer_run

    settings.AUDIT_QUERY_TEXT = "keep"
    wiki = folder_source("wiki", WIKI)
    hr = folder_source("hr", {"leave.md": "# Leave\n\nDeploys are never allowed during parental leave weeks."})
    sync_now(wiki)
    version = sync_now(hr).index_version
    grant(wiki, user=alice)
    outcome = answer_run(user=alice, query="how do deploys roll out", k=5)
    assert outcome.generator == "extractive" and outcome.index_version == version.pk
    assert outcome.citations and {c.hit.source_id for c in outcome.citations} == {wiki.pk}
    assert "parental" not in outcome.answer
    event = AuditEvent.objects.get(pk=outcome.id)
    assert (event.action, event.actor, event.result_count) == ("answer", alice, len(outcome.citations))
    assert event.details["cited_chunks"] == [c.hit.chunk_id for c in outcome.citations]
    assert event.details["query"] == "how do deploys roll out" and "answer" not in event.details
