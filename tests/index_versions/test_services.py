import threading
from pathlib import Path

import pytest
from django.db import connection

from index_versions.models import Activation, Embedding, IndexVersion, Pipeline, VersionDocument
from index_versions.services import index_version_activate, index_version_active
from ragplatform.errors import ApplicationError
from retrieval.selectors import search

WIKI = {
    "deploy.md": "# Deploying\n\nDeploys roll out in three waves with a bake time between waves.",
    "oncall.md": "# On call\n\nThe on-call engineer answers pages within fifteen minutes.",
}


def test_first_sync_creates_an_active_version(folder_source, sync_now):
    job = sync_now(folder_source("wiki", WIKI))
    version = index_version_active()
    assert job.index_version == version
    assert version.counts["documents"] == 2
    assert version.counts["embeddings_computed"] == version.counts["chunks"] == 2


def test_exactly_one_version_is_active_after_each_sync(folder_source, sync_now):
    sync_now(folder_source("wiki", WIKI))
    sync_now(folder_source("hr", {"leave.md": "Parental leave is twenty weeks."}))
    assert IndexVersion.objects.filter(state=IndexVersion.State.ACTIVE).count() == 1
    assert IndexVersion.objects.filter(state=IndexVersion.State.RETIRED).count() == 1


def test_new_version_keeps_other_sources_documents(folder_source, sync_now):
    sync_now(folder_source("wiki", WIKI))
    job = sync_now(folder_source("hr", {"leave.md": "Parental leave is twenty weeks."}))
    assert VersionDocument.objects.filter(version=job.index_version).count() == 3


def test_resync_of_unchanged_source_makes_no_version_and_no_embeddings(folder_source, sync_now):
    source = folder_source("wiki", WIKI)
    first = sync_now(source)
    embeddings = Embedding.objects.count()
    second = sync_now(source)
    assert second.message == "no changes"
    assert second.index_version is None
    assert second.counts == {"added": 0, "updated": 0, "unchanged": 2, "deleted": 0, "failed": 0}
    assert index_version_active() == first.index_version
    assert Embedding.objects.count() == embeddings


def test_changed_document_reuses_embeddings_of_unchanged_chunks(folder_source, sync_now):
    source = folder_source("wiki", WIKI)
    sync_now(source)
    Path(source.config["path"], "oncall.md").write_text("# On call\n\nPages are answered within ten minutes now.")
    job = sync_now(source)
    assert job.counts["updated"] == 1 and job.counts["unchanged"] == 1
    assert job.index_version.counts["embeddings_computed"] == 1


def test_deleted_document_leaves_new_version_only(folder_source, sync_now):
    source = folder_source("wiki", WIKI)
    first = sync_now(source).index_version
    (Path(source.config["path"], "deploy.md")).unlink()
    second = sync_now(source)
    assert second.counts["deleted"] == 1
    assert VersionDocument.objects.filter(version=second.index_version).count() == 1
    assert VersionDocument.objects.filter(version=first).count() == 2


def test_activating_an_older_version_switches_search_back(folder_source, sync_now, grant, alice):
    source = folder_source("wiki", WIKI)
    grant(source, user=alice)
    old = sync_now(source).index_version
    (Path(source.config["path"], "deploy.md")).unlink()
    new = sync_now(source).index_version
    assert {hit.document_title for hit in search(user=alice, query="deploy waves", k=5).results} == {"On call"}

    index_version_activate(version=old, reason="rollback")

    outcome = search(user=alice, query="deploy waves", k=5)
    assert outcome.index_version == old.pk
    assert "Deploying" in {hit.document_title for hit in outcome.results}
    new.refresh_from_db()
    assert new.state == IndexVersion.State.RETIRED
    assert Activation.objects.filter(from_version=new, to_version=old).exists()


@pytest.mark.parametrize("state", [IndexVersion.State.BUILDING, IndexVersion.State.FAILED])
def test_building_or_failed_version_cannot_be_activated(db, state):
    pipeline = Pipeline.objects.create(key="k", chunker={}, embedding_model="m", dimensions=384)
    version = IndexVersion.objects.create(state=state, pipeline=pipeline)
    with pytest.raises(ApplicationError) as error:
        index_version_activate(version=version)
    assert error.value.status_code == 409


@pytest.mark.django_db(transaction=True)
def test_activation_waits_for_a_concurrent_activation_and_leaves_one_active(folder_source, sync_now):
    """Two activations racing from two connections: the advisory lock serialises them."""
    first = sync_now(folder_source("wiki", WIKI)).index_version
    second = sync_now(folder_source("hr", {"leave.md": "Parental leave is twenty weeks."})).index_version
    errors = []

    def activate(version):
        try:
            index_version_activate(version=version)
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=activate, args=(v,)) for v in (first, second, first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert IndexVersion.objects.filter(state=IndexVersion.State.ACTIVE).count() == 1
