"""Upgrading a database in place: per-version membership rows become spans, every version's content intact."""

import pytest

from index_versions.models import DuplicateSpan, IndexVersion
from index_versions.selectors import index_version_active, version_revisions
from index_versions.services.activation import index_version_activate
from tests.migrating import latest, migrated

BEFORE = [("index_versions", "0008_version_trigger"), ("sources", "0004_document_metadata")]


def _old_shape(apps) -> dict:
    """Four versions in the old shape (one membership row per document per version), the third one active."""
    Source = apps.get_model("sources", "Source")
    Document = apps.get_model("sources", "Document")
    Revision = apps.get_model("sources", "DocumentRevision")
    Pipeline = apps.get_model("index_versions", "Pipeline")
    IndexVersion = apps.get_model("index_versions", "IndexVersion")
    Row = apps.get_model("index_versions", "VersionDocument")
    Member = apps.get_model("index_versions", "DuplicateMember")
    pipeline = Pipeline.objects.create(key="old", chunker={}, embedding_model="m", dimensions=4)
    wiki = Source.objects.create(name="wiki", kind="folder", config={})
    hr = Source.objects.create(name="hr", kind="folder", config={})
    docs, revisions = {}, {}
    for name, source in (("a", wiki), ("b", wiki), ("c", hr), ("d", hr)):
        docs[name] = Document.objects.create(source=source, external_id=name, title=name, uri=name, content_hash="x")
        for edition in (1, 2):
            revisions[name, edition] = Revision.objects.create(
                document=docs[name], content_hash=f"{name}{edition}", title=name, uri=name,
                content=f"text of {name} edition {edition} " * 3,
            )  # fmt: skip
    layouts = [
        {"a": 1, "b": 1, "c": 1},  # v1
        {"a": 2, "b": 1, "c": 1, "d": 1},  # v2: a changed, d added
        {"a": 1, "b": 1, "d": 1},  # v3: a reverted, c deleted (active)
        {"a": 2, "d": 2},  # v4: held by the gate
    ]
    versions = []
    for i, layout in enumerate(layouts):
        state = "active" if i == 2 else "retired" if i < 2 else "ready"
        version = IndexVersion.objects.create(pipeline=pipeline, state=state, counts={"documents": len(layout)})
        versions.append(version)
        for name, edition in layout.items():
            document = docs[name]
            Row.objects.create(
                version=version, document=document, revision=revisions[name, edition], source_id=document.source_id
            )
    # a and b are copies in v1 and v3 (the same group); none in v2 and v4
    for version in (versions[0], versions[2]):
        for name in ("a", "b"):
            Member.objects.create(
                version=version, document=docs[name], group=docs["b"].pk, kind="near", is_canonical=name == "b"
            )
    expected = {
        version.pk: {docs[n].pk: revisions[n, e].pk for n, e in layout.items()}
        for version, layout in zip(versions, layouts, strict=True)
    }
    groups = {versions[0].pk: {docs["a"].pk, docs["b"].pk}, versions[2].pk: {docs["a"].pk, docs["b"].pk}}
    return {"expected": expected, "groups": groups, "versions": [v.pk for v in versions], "wiki": wiki.pk}


@pytest.mark.django_db(transaction=True)
def test_every_version_keeps_its_content_active_version_and_groups_after_the_upgrade(folder_source, sync_now):
    newest = latest()
    try:
        old = _old_shape(migrated(BEFORE))
        migrated(newest)
        for version_id, rows in old["expected"].items():
            version = IndexVersion.objects.get(pk=version_id)
            assert version_revisions(version) == rows, f"version {version_id} changed in the upgrade"
            in_groups = set(
                DuplicateSpan.objects.filter(valid_from__lte=version_id, valid_to__gt=version_id).values_list(
                    "document_id", flat=True
                )
            )
            assert in_groups == old["groups"].get(version_id, set())
        v1, v2, v3, v4 = (IndexVersion.objects.get(pk=pk) for pk in old["versions"])
        assert index_version_active() == v3
        # Fingerprints now follow content: v1 and v3 hold the same wiki content, v2 another.
        wiki = str(old["wiki"])
        assert v1.source_fingerprints[wiki] == v3.source_fingerprints[wiki] != v2.source_fingerprints[wiki]

        # Every retained version can be activated and read; a sync after the upgrade builds on the active one.
        for version in (v1, v2, v4, v3):
            assert index_version_activate(version=version, reason="rollback").state == IndexVersion.State.ACTIVE
            assert version_revisions(version) == old["expected"][version.pk]
        handbook = folder_source("handbook", {"welcome.md": "# Welcome\n\nHello."})
        built = sync_now(handbook).index_version
        assert version_revisions(built) == {
            **old["expected"][v3.pk],
            **version_revisions(built, source_id=handbook.pk),
        }
        for version_id, rows in old["expected"].items():
            assert version_revisions(IndexVersion.objects.get(pk=version_id)) == rows
    finally:
        migrated(newest)
