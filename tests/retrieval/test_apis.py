"""REST contract of ``POST /api/v1/search``: shape, ACL, default deny, and its SQL budget."""

import pytest

HIT_FIELDS = {
    *("chunk_id", "document_id", "document_title", "source_id", "uri", "section", "text", "score"),
    *("modified_at", "also_in", "metadata"),
}

# Token lookup, active version, then inside the search's transaction: SAVEPOINT, the
# planner options, the bounded count of visible documents, the keyword leg's query and the
# fused query (hybrid, the default; exact plan on this small corpus), ROLLBACK TO and
# RELEASE SAVEPOINT; then the audit INSERT.
SEARCH_QUERIES = 10


@pytest.fixture
def synced(three_page_wiki_and_hr):
    return three_page_wiki_and_hr


def search(client, query: str, **extra):
    response = client.post("/api/v1/search", {"query": query, **extra}, format="json")
    assert response.status_code == 200, response.content[:500]
    return response.json()


def test_search_returns_hits_with_their_document_and_source(api, alice, grant, synced):
    wiki, _ = synced
    grant(wiki, user=alice)
    body = search(api(alice), "how are deploys rolled out", k=3)
    assert set(body) == {"id", "results", "index_version", "took_ms", "reranked", "recency_half_life_days"}
    assert (body["reranked"], body["recency_half_life_days"]) == (False, None)
    assert isinstance(body["took_ms"], float) and body["took_ms"] >= 0
    assert len(body["results"]) == 3
    for hit in body["results"]:
        assert set(hit) == HIT_FIELDS
        assert all(isinstance(hit[key], int) for key in ("chunk_id", "document_id", "source_id"))
        assert isinstance(hit["score"], float)
        assert hit["source_id"] == wiki.pk
    top = body["results"][0]
    deploy = wiki.documents.get(external_id="deploy.md")
    assert (top["document_id"], top["document_title"]) == (deploy.pk, "Deploying")
    assert top["uri"] == deploy.uri
    assert "three waves" in top["text"]


def test_results_are_ordered_by_descending_score(api, alice, grant, synced):
    wiki, _ = synced
    grant(wiki, user=alice)
    scores = [hit["score"] for hit in search(api(alice), "pager rotation", k=10)["results"]]
    assert scores == sorted(scores, reverse=True)


def test_k_defaults_to_ten_and_caps_the_number_of_results(api, alice, grant, synced):
    wiki, _ = synced
    grant(wiki, user=alice)
    assert len(search(api(alice), "engineering")["results"]) == 3  # fewer than the default of 10 exist
    assert len(search(api(alice), "engineering", k=1)["results"]) == 1


def test_search_reports_the_active_index_version(api, alice, grant, synced):
    from index_versions.selectors import index_version_active

    wiki, _ = synced
    grant(wiki, user=alice)
    assert search(api(alice), "deploy")["index_version"] == index_version_active().pk


def test_results_come_only_from_granted_sources(api, alice, grant, synced):
    wiki, _ = synced
    grant(wiki, user=alice)
    hits = search(api(alice), "parental leave weeks", k=10)["results"]
    assert hits
    assert {hit["source_id"] for hit in hits} == {wiki.pk}
    assert all("parental" not in hit["text"].lower() for hit in hits)


def test_group_grant_gives_results_to_members(api, make_user, grant, synced):
    _, hr = synced
    member = make_user("member", groups=["people"])
    grant(hr, group="people")
    assert {hit["source_id"] for hit in search(api(member), "parental leave")["results"]} == {hr.pk}


def test_default_deny_no_grant_means_no_results(api, alice, synced):
    body = search(api(alice), "parental leave")
    assert body["results"] == []
    assert body["index_version"] is not None  # there is an index; alice may read none of it


def test_staff_without_grant_gets_no_results(api, staff, synced):
    assert search(api(staff), "parental leave")["results"] == []


def test_search_before_any_index_returns_no_results_and_no_version(api, alice, db):
    body = search(api(alice), "anything")
    assert (body["results"], body["index_version"]) == ([], None)
    assert isinstance(body["took_ms"], float)


def test_query_is_trimmed_before_search(api, alice, grant, synced):
    wiki, _ = synced
    grant(wiki, user=alice)
    padded = search(api(alice), "   pager rotation \n", k=2)["results"]
    plain = search(api(alice), "pager rotation", k=2)["results"]
    assert [h["chunk_id"] for h in padded] == [h["chunk_id"] for h in plain]


@pytest.mark.parametrize("k", [1, 10])
def test_search_runs_a_fixed_number_of_sql_queries(api, make_user, grant, synced, django_assert_num_queries, k):
    """The budget holds however many hits come back and however many groups grant access."""
    wiki, hr = synced
    member = make_user("member", groups=["people", "eng", "ops"])
    grant(wiki, user=member)
    grant(hr, group="people")
    grant(hr, group="eng")
    client = api(member)
    search(client, "warm up the embedding model")
    with django_assert_num_queries(SEARCH_QUERIES):
        body = search(client, "parental leave and deploys", k=k)
    assert len(body["results"]) == min(k, 4)


@pytest.mark.parametrize("mode", ["hybrid", "vector", "keyword"])
def test_every_mode_answers_with_the_same_shape_and_the_modification_time(api, alice, grant, synced, mode):
    wiki, _ = synced
    grant(wiki, user=alice)
    body = search(api(alice), "pager rotates weekly", k=2, mode=mode)
    assert body["results"] and all(set(hit) == HIT_FIELDS for hit in body["results"])
    assert all(hit["modified_at"] and hit["also_in"] == [] for hit in body["results"])
    assert body["results"][0]["uri"].endswith("oncall.md")


def test_sources_and_filters_narrow_the_search_but_never_widen_it(api, alice, grant, synced):
    wiki, hr = synced
    grant(wiki, user=alice)
    client = api(alice)
    assert search(client, "parental leave", sources=[hr.pk])["results"] == []  # not granted: still nothing
    only_wiki = search(client, "deploys", sources=[wiki.pk], filters={"document_types": ["md"]})["results"]
    assert only_wiki and {hit["source_id"] for hit in only_wiki} == {wiki.pk}
    assert search(client, "deploys", filters={"document_types": ["pdf"]})["results"] == []
    future = search(client, "deploys", filters={"modified_after": "2999-01-01T00:00:00Z"})["results"]
    assert future == []


@pytest.mark.parametrize(
    "extra", [{"mode": "fuzzy"}, {"sources": ["x"]}, {"filters": {"document_types": ["../etc"]}}, {"filters": 3}]
)
def test_invalid_mode_or_filters_are_rejected(api, alice, db, extra):
    response = api(alice).post("/api/v1/search", {"query": "deploy", **extra}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"]


@pytest.mark.parametrize("extra", [{"rerank": True}, {"recency_half_life_days": 30}])
def test_rerank_and_recency_boost_add_no_sql_queries(
    api, alice, grant, synced, reranker, django_assert_num_queries, extra
):
    """Both re-order in Python what the one search statement returned."""
    wiki, hr = synced
    grant(wiki, user=alice)
    grant(hr, user=alice)
    client = api(alice)
    search(client, "warm up the embedding model and the reranker", rerank=True)
    with django_assert_num_queries(SEARCH_QUERIES):
        body = search(client, "parental leave and deploys", k=3, **extra)
    assert len(body["results"]) == 3


def test_recency_half_life_in_the_request_reorders_and_is_reported_and_audited(api, alice, grant, synced, settings):
    from django.utils import timezone

    from acl.models import AuditEvent
    from sources.models import DocumentRevision

    settings.SEARCH_RECENCY_WEIGHT = 5  # strong enough to lift even the least relevant of the three
    wiki, _ = synced
    grant(wiki, user=alice)
    client = api(alice)
    plain = [hit["document_id"] for hit in search(client, "deploys and the pager", k=3)["results"]]
    now = timezone.now()
    DocumentRevision.objects.filter(document__source=wiki).update(modified_at=now - timezone.timedelta(days=3650))
    DocumentRevision.objects.filter(document_id=plain[-1]).update(modified_at=now)  # the last one is the newest
    body = search(client, "deploys and the pager", k=3, recency_half_life_days=7)
    assert body["results"][0]["document_id"] == plain[-1]
    assert body["recency_half_life_days"] == 7.0
    assert AuditEvent.objects.get(pk=body["id"]).details["recency_half_life_days"] == 7.0
    assert [hit["document_id"] for hit in search(client, "deploys and the pager", k=3)["results"]] == plain


def test_recency_half_life_setting_boosts_by_default_and_recency_boost_false_opts_out(
    api, alice, grant, synced, settings
):
    from django.utils import timezone

    from sources.models import DocumentRevision

    wiki, _ = synced
    grant(wiki, user=alice)
    client = api(alice)
    plain = [hit["document_id"] for hit in search(client, "deploys and the pager", k=3)["results"]]
    DocumentRevision.objects.filter(document_id=plain[-1]).update(modified_at=timezone.now())
    DocumentRevision.objects.exclude(document_id=plain[-1]).update(
        modified_at=timezone.now() - timezone.timedelta(days=3650)
    )
    settings.SEARCH_RECENCY_HALF_LIFE_DAYS, settings.SEARCH_RECENCY_WEIGHT = 30, 5
    boosted = search(client, "deploys and the pager", k=3)
    assert boosted["recency_half_life_days"] == 30.0 and boosted["results"][0]["document_id"] == plain[-1]
    assert search(client, "deploys and the pager", k=3, recency_boost=True)["recency_half_life_days"] == 30.0
    opted_out = search(client, "deploys and the pager", k=3, recency_boost=False)
    assert opted_out["recency_half_life_days"] is None
    assert [hit["document_id"] for hit in opted_out["results"]] == plain


def test_recency_boost_without_any_half_life_is_a_400_recency_unavailable(api, alice, db, settings):
    settings.SEARCH_RECENCY_HALF_LIFE_DAYS = 0
    response = api(alice).post("/api/v1/search", {"query": "deploy", "recency_boost": True}, format="json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "recency_unavailable"


# --- filters.metadata ---------------------------------------------------------------------------

TICKETS = {
    "vpn.md": "---\nstatus: open\nlabels: [network, vpn]\n---\n# VPN\n\nThe VPN drops every hour.",
    "wifi.md": "---\nstatus: pending\n---\n# Wifi\n\nThe VPN over wifi drops too.",
}


def test_metadata_filter_narrows_the_search_and_hits_show_their_metadata(api, alice, grant, sync_folders, settings):
    from acl.models import AuditEvent

    support, _ = sync_folders(support=TICKETS, board={"b.md": "---\nstatus: open\n---\n# Board\n\nVPN drops."})
    grant(support, user=alice)
    settings.AUDIT_QUERY_TEXT = "keep"
    body = search(api(alice), "VPN drops", filters={"metadata": {"status": "open"}})
    assert [(hit["document_title"], hit["metadata"]) for hit in body["results"]] == [
        ("VPN", {"status": "open", "labels": ["network", "vpn"]})
    ]  # the board's open ticket is not alice's to read
    assert AuditEvent.objects.get(pk=body["id"]).details["filters"]["metadata"] == {"status": ["open"]}
    any_of = search(api(alice), "VPN drops", filters={"metadata": {"status": ["open", "pending"]}})
    assert {hit["document_title"] for hit in any_of["results"]} == {"VPN", "Wifi"}


# --- GET /api/v1/duplicates/stale ---------------------------------------------------------------


def test_staff_get_the_stale_duplicates_report_paginated(api, staff, stale_copies):
    _, handbook, version = stale_copies
    response = api(staff).get("/api/v1/duplicates/stale")
    assert response.status_code == 200, response.content[:500]
    body = response.json()
    assert (body["count"], body["next"], body["previous"]) == (1, None, None)
    (group,) = body["results"]
    assert set(group) == {
        *("group", "kind", "spread_days", "newest_modified_at", "oldest_modified_at", "canonical_is_newest"),
        *("canonical", "members"),
    }
    assert group["canonical"]["source_id"] == handbook.pk and group["canonical_is_newest"] is True
    assert [m["source_name"] for m in group["members"]] == ["handbook", "archive"]
    assert set(group["members"][1]) == {
        "document_id", "title", "uri", "source_id", "source_name", "modified_at", "is_canonical"
    }  # fmt: skip
    assert group["members"][1]["title"] == "Expense policy" and 399.9 < group["spread_days"] < 400.1
    explicit = api(staff).get(f"/api/v1/duplicates/stale?version={version.pk}&min_days=500").json()
    assert explicit["count"] == 0 and explicit["results"] == []


def test_non_staff_get_403_from_the_stale_duplicates_report(api, alice, grant, stale_copies):
    archive, handbook, _ = stale_copies
    grant(archive, user=alice)
    grant(handbook, user=alice)
    response = api(alice).get("/api/v1/duplicates/stale")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


def test_stale_duplicates_report_before_any_version_is_empty(api, staff, db):
    assert api(staff).get("/api/v1/duplicates/stale").json()["count"] == 0
