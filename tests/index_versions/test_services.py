import threading
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection

from index_versions import embedding
from index_versions.models import Activation, Embedding, IndexVersion, Pipeline
from index_versions.selectors import index_version_active, index_version_diff, version_entries
from index_versions.services.activation import index_version_activate, index_version_pin
from index_versions.services.building import (
    index_version_rebuild,
    index_version_rebuild_run,
    index_version_revert_source,
)
from index_versions.services.pipelines import pipeline_get_or_create
from index_versions.services.retention import index_versions_retain
from ragplatform.exceptions import ApplicationError, Conflict
from retrieval.search import search
from sources.models import Source

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
    assert version_entries(job.index_version).count() == 3


def test_resync_of_unchanged_source_makes_no_version_and_no_embeddings(folder_source, sync_now):
    source = folder_source("wiki", WIKI)
    first = sync_now(source)
    embeddings = Embedding.objects.count()
    second = sync_now(source)
    assert second.message == "no changes"
    assert second.index_version is None
    assert second.counts == {"added": 0, "updated": 0, "unchanged": 2, "deleted": 0, "failed": 0, "purged": 0}
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
    assert version_entries(second.index_version).count() == 1
    assert version_entries(first).count() == 2


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
    assert isinstance(error.value, Conflict)


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


# --- revert, rollback and schedules ------------------------------------------------


def _edit(source, name, text):
    Path(source.config["path"], name).write_text(text)


def test_revert_restores_one_source_without_embedding_anything(folder_source, sync_now, grant, alice):
    wiki = folder_source("wiki", WIKI)
    hr = folder_source("hr", {"leave.md": "# Leave\n\nParental leave is twenty weeks."})
    grant(wiki, user=alice)
    good = sync_now(wiki).index_version
    sync_now(hr)
    _edit(wiki, "deploy.md", "# Deploying\n\nGARBAGE INGESTED BY A BROKEN EXPORT")
    _edit(hr, "leave.md", "# Leave\n\nParental leave is twenty-four weeks.")
    sync_now(wiki)
    latest_hr = sync_now(hr).index_version
    embeddings = Embedding.objects.count()

    reverted = index_version_revert_source(source=wiki, version=good)

    assert reverted.state == IndexVersion.State.ACTIVE
    assert (reverted.trigger, reverted.trigger_source) == (IndexVersion.Trigger.REVERT, wiki)
    assert (latest_hr.trigger, latest_hr.trigger_source) == (IndexVersion.Trigger.SYNC, hr)
    assert reverted.counts["embeddings_computed"] == 0
    assert Embedding.objects.count() == embeddings
    texts = {hit.text for hit in search(user=alice, query="deploy waves", k=5).results}
    assert any("three waves" in text for text in texts) and not any("GARBAGE" in text for text in texts)
    assert set(version_entries(reverted, source_id=hr.pk).values_list("revision_id", flat=True)) == set(
        version_entries(latest_hr, source_id=hr.pk).values_list("revision_id", flat=True)
    )
    wiki.refresh_from_db()
    hr.refresh_from_db()
    assert wiki.sync_paused and "revert" in wiki.sync_paused_reason
    assert not hr.sync_paused


def test_rollback_pauses_only_sources_whose_content_differs(folder_source, sync_now):
    wiki = folder_source("wiki", WIKI)
    hr = folder_source("hr", {"leave.md": "# Leave\n\nTwenty weeks."})
    sync_now(wiki)
    before = sync_now(hr).index_version
    _edit(wiki, "deploy.md", "# Deploying\n\nFour waves now.")
    after = sync_now(wiki).index_version
    wiki.refresh_from_db()
    assert not wiki.sync_paused  # a sync's own activation pauses nothing

    index_version_activate(version=before, reason="rollback")

    wiki.refresh_from_db()
    hr.refresh_from_db()
    assert wiki.sync_paused and not hr.sync_paused
    assert f"{before.pk}" in wiki.sync_paused_reason
    assert after.pk != before.pk


def test_paused_and_unscheduled_sources_are_not_due(folder_source, sync_now):
    from django.utils import timezone

    from sources.selectors import sources_due_for_sync
    from sources.services.crud import source_update
    from sources.services.schedules import source_schedule_resume

    scheduled = source_update(source=folder_source("scheduled", WIKI), data={"sync_interval_minutes": 5})
    folder_source("manual", WIKI)
    assert list(sources_due_for_sync(now=timezone.now())) == [scheduled]  # never synced: due now
    sync_now(scheduled)
    assert list(sources_due_for_sync(now=timezone.now())) == []
    assert list(sources_due_for_sync(now=timezone.now() + timedelta(minutes=6))) == [scheduled]
    Source.objects.filter(pk=scheduled.pk).update(sync_paused_at=timezone.now())
    assert list(sources_due_for_sync(now=timezone.now() + timedelta(minutes=6))) == []
    source_schedule_resume(source=scheduled)
    assert list(sources_due_for_sync(now=timezone.now() + timedelta(minutes=6))) == [scheduled]


# --- retention and storage -------------------------------------------------------------


def _versions_of(source, sync_now, count):
    versions = []
    for n in range(count):
        _edit(source, "deploy.md", f"# Deploying\n\nEdition {n} of the deploy guide.")
        versions.append(sync_now(source).index_version)
    return versions


def test_retention_keeps_newest_active_and_pinned_versions(folder_source, sync_now):
    source = folder_source("wiki", WIKI)
    versions = _versions_of(source, sync_now, 5)
    index_version_pin(version=versions[0])

    result = index_versions_retain(keep=2)

    assert set(IndexVersion.objects.values_list("pk", flat=True)) == {versions[0].pk, versions[3].pk, versions[4].pk}
    assert result["versions"] == 2
    assert result["revisions"] == 2  # editions 1 and 2 of deploy.md are in no kept version
    assert not Embedding.objects.exclude(chunks__isnull=False).exists()


def test_collected_storage_leaves_every_kept_version_searchable(folder_source, sync_now, grant, alice):
    source = folder_source("wiki", WIKI)
    grant(source, user=alice)
    versions = _versions_of(source, sync_now, 3)
    index_versions_retain(keep=1)
    index_version_pin(version=versions[-1])
    hits = search(user=alice, query="deploy guide edition", k=5).results
    assert any("Edition 2" in hit.text for hit in hits)


def test_one_percent_change_adds_a_few_percent_of_storage(folder_source, sync_now):
    files = {f"doc{n:03}.md": f"# Doc {n}\n\nParagraph about topic {n}. " * 3 for n in range(100)}
    source = folder_source("wiki", files)
    base = sync_now(source).index_version
    _edit(source, "doc007.md", "# Doc 7\n\nRewritten.")
    changed = sync_now(source).index_version
    assert changed.counts["embeddings_computed"] == 1
    assert changed.counts["bytes"] < 0.05 * base.counts["bytes"]


# --- diff ---------------------------------------------------------------------------------


def test_diff_lists_added_removed_and_changed_documents(folder_source, sync_now, staff):
    source = folder_source("wiki", WIKI)
    old = sync_now(source).index_version
    _edit(source, "deploy.md", "# Deploying\n\nChanged.")
    Path(source.config["path"], "oncall.md").unlink()
    _edit(source, "new.md", "# New page\n\nFresh.")
    new = sync_now(source).index_version

    diff = index_version_diff(version=new, against=old, user=staff)

    assert [d["title"] for d in diff.added] == ["New page"]
    assert [d["title"] for d in diff.removed] == ["On call"]
    assert [d["title"] for d in diff.changed] == ["Deploying"]
    assert diff.counts == {"added": 1, "removed": 1, "changed": 1}


def test_diff_shows_non_staff_only_documents_they_may_read(folder_source, sync_now, grant, alice):
    wiki = folder_source("wiki", WIKI)
    hr = folder_source("hr", {"leave.md": "# Leave\n\nTwenty weeks."})
    grant(wiki, user=alice)
    old = sync_now(wiki).index_version
    new = sync_now(hr).index_version
    assert index_version_diff(version=new, against=old, user=alice).counts == {"added": 0, "removed": 0, "changed": 0}


# --- pipeline rebuilds --------------------------------------------------------------------


def test_rebuild_with_another_chunker_builds_beside_the_active_version(folder_source, sync_now, grant, alice):
    source = folder_source("wiki", {"long.md": "# Long\n\n" + " ".join(f"word{n}." for n in range(300))})
    grant(source, user=alice)
    active = sync_now(source).index_version
    pipeline = pipeline_get_or_create(max_tokens=50, overlap_tokens=10, embedding_model=active.pipeline.embedding_model)

    building = index_version_rebuild(pipeline=pipeline)
    assert building.state == IndexVersion.State.BUILDING
    assert index_version_active() == active  # the old one keeps serving meanwhile
    built = index_version_rebuild_run(version_id=building.pk)

    assert built.state == IndexVersion.State.READY
    assert built.counts["chunks"] > active.counts["chunks"]
    index_version_activate(version=built)
    outcome = search(user=alice, query="word120", k=3)
    assert outcome.index_version == built.pk and outcome.results
    count = embedding.token_counter(pipeline.embedding_model)
    assert all(count(f"Long\n\n{hit.text}") <= 50 for hit in outcome.results)


def test_models_of_different_dimensions_coexist(folder_source, sync_now, grant, alice, tmp_path):
    from sentence_transformers import SentenceTransformer, models

    from index_versions import embedding

    base = embedding.encoder()
    dense = models.Dense(in_features=384, out_features=64, activation_function=torch_identity())
    SentenceTransformer(modules=[base[0], base[1], dense], device="cpu").save(str(tmp_path / "small-model"))
    source = folder_source("wiki", WIKI)
    grant(source, user=alice)
    big = sync_now(source).index_version

    small = index_version_rebuild_run(
        version_id=index_version_rebuild(
            pipeline=pipeline_get_or_create(
                max_tokens=None, overlap_tokens=30, embedding_model=str(tmp_path / "small-model")
            )
        ).pk
    )

    assert small.pipeline.dimensions == 64 and big.pipeline.dimensions == 384
    assert set(Embedding.objects.values_list("dimensions", flat=True)) == {64, 384}
    index_version_activate(version=small)
    assert search(user=alice, query="deploy waves", k=1).results[0].document_title == "Deploying"
    index_version_activate(version=big)
    assert search(user=alice, query="deploy waves", k=1).results[0].document_title == "Deploying"


def torch_identity():
    import torch

    return torch.nn.Identity()
