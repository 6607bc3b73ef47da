import threading
from pathlib import Path

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from acl.models import SourceGrant
from index_versions.models import VersionDocument
from index_versions.services import index_version_activate
from retrieval.selectors import search

HR = {"leave.md": "# Parental leave\n\nEmployees get twenty weeks of paid parental leave."}
WIKI = {"deploy.md": "# Deploying\n\nDeploys roll out in three waves with a bake time between waves."}


@pytest.fixture
def two_sources(folder_source, sync_now):
    hr, wiki = folder_source("hr", HR), folder_source("wiki", WIKI)
    sync_now(hr)
    sync_now(wiki)
    return hr, wiki


def test_results_come_only_from_granted_sources(two_sources, grant, alice):
    _, wiki = two_sources
    grant(wiki, user=alice)
    hits = search(user=alice, query="parental leave weeks", k=10).results
    assert {hit.source_id for hit in hits} == {wiki.pk}


def test_no_grant_means_no_results(two_sources, alice):
    assert search(user=alice, query="parental leave", k=10).results == []


def test_revoked_grant_hides_source_on_next_query(two_sources, grant, alice):
    hr, _ = two_sources
    hr_grant = grant(hr, group="people")
    alice.groups.add(hr_grant.group)
    assert search(user=alice, query="parental leave", k=10).results
    SourceGrant.objects.filter(pk=hr_grant.pk).delete()
    assert search(user=alice, query="parental leave", k=10).results == []


def test_acl_filter_runs_inside_the_search_sql(two_sources, grant, alice):
    _, wiki = two_sources
    grant(wiki, user=alice)
    with CaptureQueriesContext(connection) as queries:
        search(user=alice, query="deploy", k=5)
    search_sql = next(q["sql"] for q in queries.captured_queries if "<=>" in q["sql"])
    assert "acl_sourcegrant" in search_sql
    assert "LIMIT" in search_sql


def test_search_query_count_is_fixed(two_sources, grant, alice, django_assert_num_queries):
    _, wiki = two_sources
    grant(wiki, user=alice)
    search(user=alice, query="warm up the model", k=5)
    # active version; transaction savepoint; SET LOCAL; ef_search; search; release savepoint
    with django_assert_num_queries(6):
        search(user=alice, query="deploy", k=5)


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
            VersionDocument.objects.filter(version_id=outcome.index_version).values_list("document_id", flat=True)
        )
        assert {hit.document_id for hit in outcome.results} <= members
    assert len({hit.document_id for hit in after.results}) == 2
    assert len({hit.document_id for hit in during.results}) == 1
