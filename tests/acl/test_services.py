from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from acl.models import ApiKey, AuditEvent, DocumentAccessList
from acl.selectors import api_key_check
from acl.services import (
    api_key_create,
    api_key_revoke,
    api_key_rotate,
    audit_purge,
    document_access_list_set,
    document_access_lists_set,
    principal_normalise,
    query_text_retained,
    service_account_create,
)
from ragplatform.exceptions import ApplicationError


@pytest.fixture
def document(folder_source, sync_now):
    wiki = folder_source("wiki", {"a.md": "# A\n\ntext"})
    sync_now(wiki)
    return wiki.documents.get()


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("alice", "alice"),
        ("  Alice ", "Alice"),  # usernames and group names compare exactly
        ("Alice@Example.COM", "alice@example.com"),
        ("USER:bob", "user:bob"),
        ("group: eng", "group:eng"),
        ("user:Bob@X.org", "user:bob@x.org"),
        ("user:", ""),
        ("   ", ""),
        ("team:ops", "team:ops"),  # not a kind we know: a plain name
    ],
)
def test_principal_normalise(given, stored):
    assert principal_normalise(given) == stored


def test_access_list_is_stored_normalised_and_deduplicated(document):
    document_access_list_set(document=document, principals=["bob", "Bob@X.org", "bob@x.org", " ", "bob"])
    assert DocumentAccessList.objects.get(document=document).principals == ["bob", "bob@x.org"]


def test_an_access_list_carries_its_documents_source_and_no_other(document, folder_source):
    """Searches probe lists only in sources that hold one, so a list filed under another source would be skipped."""
    other = folder_source("other", {"b.md": "# B\n\ntext"})
    with pytest.raises(IntegrityError), transaction.atomic():
        document_access_lists_set(source_id=other.pk, lists={document.pk: ["carol"]})
    assert not DocumentAccessList.objects.filter(document=document).exists()
    document_access_list_set(document=document, principals=["bob"])
    assert DocumentAccessList.objects.get(document=document).source_id == document.source_id
    with pytest.raises(IntegrityError), transaction.atomic():
        DocumentAccessList.objects.filter(document=document).update(source_id=other.pk)


def test_none_removes_the_list_and_an_empty_list_means_nobody(document):
    document_access_list_set(document=document, principals=[])
    assert DocumentAccessList.objects.get(document=document).principals == []
    document_access_list_set(document=document, principals=None)
    assert not DocumentAccessList.objects.filter(document=document).exists()


def test_access_list_changes_are_audited_and_an_unchanged_list_writes_nothing(document):
    document_access_list_set(document=document, principals=["bob"])
    document_access_list_set(document=document, principals=["bob"])
    document_access_list_set(document=document, principals=None)
    document_access_list_set(document=document, principals=None)
    events = AuditEvent.objects.filter(action=AuditEvent.Action.ACCESS_LIST_SET).order_by("id")
    assert [e.details["principals"] for e in events] == [["bob"], None]
    assert {e.target for e in events} == {f"document:{document.pk}"}


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("keep", "salary of jane.doe@corp.com, id 12345"),
        ("redact", "salary of [email], id [number]"),
        ("drop", None),
        ("something-else", None),
    ],
)
def test_query_text_retention(settings, mode, expected):
    settings.AUDIT_QUERY_TEXT = mode
    assert query_text_retained("salary of jane.doe@corp.com, id 12345") == expected


def test_audit_purge_deletes_old_events_and_records_itself(db, settings, staff):
    settings.AUDIT_RETENTION_DAYS = 30
    old = AuditEvent.objects.create(action="search")
    AuditEvent.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=31))
    recent = AuditEvent.objects.create(action="search")
    assert audit_purge(actor=staff) == 1
    assert not AuditEvent.objects.filter(pk=old.pk).exists()
    assert AuditEvent.objects.filter(pk=recent.pk).exists()
    purge = AuditEvent.objects.get(action=AuditEvent.Action.PURGE)
    assert (purge.actor, purge.result_count, purge.details["older_than_days"]) == (staff, 1, 30)


def test_audit_purge_refuses_negative_retention(db):
    with pytest.raises(ApplicationError):
        audit_purge(older_than_days=-1)


def test_only_a_hash_of_a_key_is_stored_and_it_checks(db, staff):
    account = service_account_create(name="chatbot", actor=staff)
    key, raw_key = api_key_create(service_account=account, actor=staff)
    stored = ApiKey.objects.get(pk=key.pk)
    assert raw_key not in {stored.key_hash, stored.prefix} and stored.prefix in raw_key
    assert api_key_check(raw_key=raw_key) == key
    assert api_key_check(raw_key=raw_key[:-1] + ("A" if raw_key[-1] != "A" else "B")) is None
    assert api_key_check(raw_key="rag_nothing_here") is None
    assert api_key_check(raw_key="garbage") is None


def test_rotation_revokes_the_old_key_and_issues_a_new_one(db, staff):
    account = service_account_create(name="chatbot", actor=staff)
    old, old_raw = api_key_create(service_account=account, actor=staff)
    new, new_raw = api_key_rotate(key=old, actor=staff)
    assert api_key_check(raw_key=old_raw) is None
    assert api_key_check(raw_key=new_raw) == new
    with pytest.raises(ApplicationError):
        api_key_rotate(key=old, actor=staff)
    actions = list(AuditEvent.objects.order_by("id").values_list("action", flat=True))
    assert actions == ["service_account.create", "api_key.create", "api_key.rotate"]


def test_revoked_key_no_longer_checks(db, staff):
    account = service_account_create(name="chatbot", actor=staff)
    key, raw_key = api_key_create(service_account=account, actor=staff)
    api_key_revoke(key=key, actor=staff)
    api_key_revoke(key=key, actor=staff)
    assert api_key_check(raw_key=raw_key) is None
    assert AuditEvent.objects.filter(action=AuditEvent.Action.KEY_REVOKE).count() == 1


def test_service_account_names_are_unique(db):
    service_account_create(name="chatbot")
    with pytest.raises(ApplicationError) as refused:
        service_account_create(name="chatbot")
    assert refused.value.code == "duplicate"


def test_sync_stores_the_access_list_the_connector_gives(folder_source, sync_now, monkeypatch, make_user, grant):
    """A source system that reports access lists (the folder connector reports none)."""
    import dataclasses

    from index_versions.selectors import document_list
    from sources import connectors
    from sources.connectors.folder import FolderConnector

    class ListingFolder(FolderConnector):
        kind = "listing-folder"
        lists: dict = {}

        def fetch(self, config, **kwargs):
            for item in super().fetch(config, **kwargs):
                yield dataclasses.replace(item, access_list=self.lists.get(item.external_id))

    monkeypatch.setitem(connectors._REGISTRY, ListingFolder.kind, ListingFolder())
    wiki = folder_source("wiki", {"a.md": "# A\n\nalpha", "b.md": "# B\n\nbeta"})
    type(wiki).objects.filter(pk=wiki.pk).update(kind=ListingFolder.kind)
    wiki.refresh_from_db()
    ListingFolder.lists = {"a.md": ("bob",)}
    sync_now(wiki)
    alice, bob = make_user("alice"), make_user("bob")
    grant(wiki, group="everyone")
    assert set(document_list(user=alice).values_list("title", flat=True)) == {"B"}
    assert set(document_list(user=bob).values_list("title", flat=True)) == {"A", "B"}
    ListingFolder.lists = {}
    sync_now(wiki)  # the source dropped its list: the next sync removes it
    assert set(document_list(user=alice).values_list("title", flat=True)) == {"A", "B"}
