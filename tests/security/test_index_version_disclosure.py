"""Index versions tell readers nothing about sources they cannot read: no notes, no counts.

A version's note names the source a sync changed, and its counts say whether text was
embedded before anywhere: someone who can edit a synced source could plant a guessed
sentence of a hidden document and read ``embeddings_computed`` 0 as "it exists". Readers
get the same fields with a blank note and null counts; staff who may view versions get them.
"""

from pathlib import Path

from sources.models import Document

FIELDS = {
    "id", "state", "created_at", "ready_at", "activated_at", "parent", "pipeline", "counts", "note", "pinned",
    "trigger", "trigger_source",
}  # fmt: skip
COUNT_KEYS = {"documents", "chunks", "embeddings_computed", "embeddings_reused", "bytes"}
WIKI = {"guide.md": "# Guide\n\nDeploys roll out in three waves with a bake time between waves."}
SECRET = "# Reorganisation\n\nThe Berlin office closes in March and its whole team moves to Lisbon."
HR = {"reorg.md": SECRET}


def assert_redacted(version: dict) -> None:
    assert set(version) == FIELDS  # the contract keeps every field
    assert version["note"] == ""
    assert version["counts"] == dict.fromkeys(COUNT_KEYS)
    assert version["trigger_source"] is None  # the id of the source a sync changed, maybe an unreadable one


def test_readers_see_versions_without_notes_or_counts(api, alice, staff, grant, sync_folders):
    wiki, _hr = sync_folders(wiki=WIKI, hr=HR)
    grant(wiki, user=alice)
    listed = api(alice).get("/api/v1/index-versions").json()["results"]
    assert len(listed) == 2
    for version in listed:
        assert_redacted(version)
        assert_redacted(api(alice).get(f"/api/v1/index-versions/{version['id']}").json())

    as_staff = api(staff).get("/api/v1/index-versions").json()["results"]
    assert [version["note"].rsplit(" of ", 1)[-1] for version in as_staff] == ["hr", "wiki"]  # "sync #N of hr"
    assert set(as_staff[0]["counts"]) == COUNT_KEYS and as_staff[0]["counts"]["documents"] == 2


def test_embedding_reuse_counts_are_no_oracle_for_someone_who_edits_a_synced_source(
    api, alice, staff, grant, sync_folders, sync_now
):
    wiki, _hr = sync_folders(wiki=WIKI, hr=HR)
    grant(wiki, user=alice)
    # Alice can edit the wiki upstream: she plants her guess of the hidden HR document.
    Path(wiki.config["path"], "reorg.md").write_text(SECRET)
    version = sync_now(wiki).index_version

    counts = api(staff).get(f"/api/v1/index-versions/{version.pk}").json()["counts"]
    assert counts["embeddings_computed"] == 0 and counts["embeddings_reused"] > 0  # what the oracle would say
    assert_redacted(api(alice).get(f"/api/v1/index-versions/{version.pk}").json())
    listed = api(alice).get("/api/v1/index-versions").json()["results"]
    assert all(v["counts"]["embeddings_computed"] is None for v in listed)


def test_staff_who_may_not_view_versions_read_them_and_their_diffs_as_anyone(
    api, staff, grant, staff_holding, sync_folders
):
    wiki, hr = sync_folders(wiki=WIKI, hr=HR)
    clerk = staff_holding([])
    grant(wiki, user=clerk)
    versions = api(staff).get("/api/v1/index-versions").json()["results"]
    newest, oldest = versions[0]["id"], versions[1]["id"]
    assert_redacted(api(clerk).get(f"/api/v1/index-versions/{newest}").json())

    hidden = Document.objects.get(source=hr)
    as_operator = api(staff).get(f"/api/v1/index-versions/{newest}/diff?against={oldest}").json()
    assert [entry["document_id"] for entry in as_operator["added"]] == [hidden.pk]
    as_clerk = api(clerk).get(f"/api/v1/index-versions/{newest}/diff?against={oldest}").json()
    assert (as_clerk["added"], as_clerk["counts"]) == ([], {"added": 0, "removed": 0, "changed": 0})
