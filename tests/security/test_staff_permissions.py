"""Staff operations check Django model permissions: staff status alone opens nothing.

Each staff operation of the API is listed with the permission(s) it needs. A staff user
holding every role permission except those gets a 403 naming them, nothing changes, and
the refusal is in the audit trail; add the permission and the same request passes the
check. The audit purge is for superusers only.
"""

import json

import pytest
from django.contrib.auth.models import Group
from django.urls import get_resolver

from acl.models import ApiKey, AuditEvent, ServiceAccount, SourceGrant
from acl.roles import ROLE_PERMISSIONS
from acl.services import api_key_create, service_account_create
from index_versions.models import IndexVersion, Pipeline
from ragplatform.permissions import IsStaff, ReadAnyWriteStaff, required_permissions
from sources.models import Document, Source, SyncJob, UploadedFile
from sources.services.crud import source_create
from sources.services.uploads import uploaded_file_put
from tests.security.conftest import permissions_named

ALL_ROLE_PERMISSIONS = sorted({permission for permissions in ROLE_PERMISSIONS.values() for permission in permissions})
UPLOAD = ('--b\r\nContent-Disposition: form-data; name="file"; filename="b.md"\r\n\r\n# B\r\n--b--\r\n', "b")


@pytest.fixture
def world(db, alice, folder_source):
    wiki = folder_source("wiki", {"guide.md": "# Guide\n\nHow to deploy."})
    uploads = source_create(name="uploads", kind="upload", config={})
    uploaded_file_put(source=uploads, name="a.md", content=b"# A")
    eng = Group.objects.create(name="eng")
    alice.groups.add(eng)
    grant = SourceGrant.objects.create(source=wiki, user=alice)
    job = SyncJob.objects.create(source=wiki, status=SyncJob.Status.SUCCEEDED)
    pipeline = Pipeline.objects.create(key="test-pipeline", chunker={}, embedding_model="test-model", dimensions=3)
    version = IndexVersion.objects.create(pipeline=pipeline, state=IndexVersion.State.READY, note="sync #1 of wiki")
    document = Document.objects.create(source=wiki, external_id="x.md", title="X", uri="", content_hash="0")
    account = service_account_create(name="chatbot")
    key, _ = api_key_create(service_account=account)
    return {
        "wiki": wiki.pk, "uploads": uploads.pk, "eng": eng.pk, "alice": alice.pk, "grant": grant.pk,
        "job": job.pk, "version": version.pk, "document": document.pk, "account": account.pk, "key": key.pk,
    }  # fmt: skip


# (method, path, body, the permissions it needs)
OPERATIONS = [
    ("POST", "/api/v1/sources", {"name": "new", "kind": "upload", "config": {}}, ["sources.add_source"]),
    ("PATCH", "/api/v1/sources/{wiki}", {"enabled": False}, ["sources.change_source"]),
    ("DELETE", "/api/v1/sources/{wiki}", None, ["sources.delete_source"]),
    ("POST", "/api/v1/sources/{wiki}/pause", {}, ["sources.change_source"]),
    ("POST", "/api/v1/sources/{wiki}/resume", None, ["sources.change_source"]),
    ("GET", "/api/v1/sources/{uploads}/documents", None, ["sources.view_source"]),
    ("POST", "/api/v1/sources/{uploads}/documents", UPLOAD, ["sources.change_source"]),
    ("DELETE", "/api/v1/sources/{uploads}/documents/a.md", None, ["sources.change_source"]),
    ("POST", "/api/v1/sources/{wiki}/sync", None, ["sources.sync_source"]),
    ("GET", "/api/v1/sync-jobs/{job}", None, ["sources.view_syncjob"]),
    ("POST", "/api/v1/sync-jobs/{job}/cancel", None, ["sources.sync_source"]),
    ("POST", "/api/v1/documents/{document}/purge", None, ["sources.purge_document"]),
    ("POST", "/api/v1/index-versions/{version}/activate", None, ["index_versions.activate_indexversion"]),
    ("POST", "/api/v1/sources/{wiki}/revert", {"version": "{version}"}, ["index_versions.activate_indexversion"]),
    ("POST", "/api/v1/index-versions", {"max_tokens": 100}, ["index_versions.add_indexversion"]),
    ("POST", "/api/v1/index-versions/{version}/pin", {"pinned": True}, ["index_versions.change_indexversion"]),
    ("GET", "/api/v1/index-versions/{version}/evaluations", None, ["index_versions.view_indexversion"]),
    ("POST", "/api/v1/index-versions/{version}/evaluations", None, ["index_versions.change_indexversion"]),
    ("GET", "/api/v1/duplicates/stale", None, ["index_versions.view_indexversion"]),
    ("POST", "/api/v1/grants", {"source": "{wiki}", "group": "{eng}"}, ["acl.add_sourcegrant"]),
    ("DELETE", "/api/v1/grants/{grant}", None, ["acl.delete_sourcegrant"]),
    ("POST", "/api/v1/groups", {"name": "new-group"}, ["auth.add_group"]),
    ("GET", "/api/v1/groups/{eng}/members", None, ["auth.change_group"]),
    ("POST", "/api/v1/groups/{eng}/members", {"user": "{alice}"}, ["auth.change_group"]),
    ("DELETE", "/api/v1/groups/{eng}/members/{alice}", None, ["auth.change_group"]),
    ("GET", "/api/v1/service-accounts", None, ["acl.view_serviceaccount"]),
    ("POST", "/api/v1/service-accounts", {"name": "bot", "may_act_on_behalf": True}, ["acl.add_serviceaccount"]),
    ("GET", "/api/v1/service-accounts/{account}/keys", None, ["acl.view_serviceaccount"]),
    ("POST", "/api/v1/service-accounts/{account}/keys", None, ["acl.change_serviceaccount"]),
    ("POST", "/api/v1/service-accounts/{account}/keys/{key}/rotate", None, ["acl.change_serviceaccount"]),
    ("DELETE", "/api/v1/service-accounts/{account}/keys/{key}", None, ["acl.change_serviceaccount"]),
    ("GET", "/api/v1/audit", None, ["acl.view_auditevent"]),
    ("GET", "/api/v1/feedback/export", None, ["acl.view_auditevent", "retrieval.view_feedback"]),
]
OPERATION_PARAMS = [
    pytest.param(method, path, body, needed, id=f"{method} {path}") for method, path, body, needed in OPERATIONS
]


def _format(value, world):
    if isinstance(value, str):
        return value.format(**world)
    if isinstance(value, dict):
        return {key: _format(item, world) for key, item in value.items()}
    return value


def send(client, method, path, body, world):
    path = path.format(**world)
    if isinstance(body, tuple):  # a multipart body and its boundary
        return client.generic(method, path, body[0], content_type=f"multipart/form-data; boundary={body[1]}")
    if body is None:
        return client.generic(method, path)
    body = {key: int(v) if isinstance(v, str) and v.isdigit() else v for key, v in _format(body, world).items()}
    return client.generic(method, path, json.dumps(body), content_type="application/json")


def _state():
    return (
        sorted(Source.objects.values_list("pk", "name", "enabled", "sync_paused_at")),
        sorted(SourceGrant.objects.values_list("pk", "source_id", "user_id", "group_id")),
        sorted(Group.objects.values_list("pk", "name")),
        sorted(Group.user_set.through.objects.values_list("group_id", "user_id")),
        sorted(ServiceAccount.objects.values_list("pk", "name")),
        sorted(ApiKey.objects.values_list("pk", "revoked_at")),
        sorted(SyncJob.objects.values_list("pk", "status", "cancel_requested_at")),
        sorted(IndexVersion.objects.values_list("pk", "state", "pinned")),
        sorted(Document.objects.values_list("pk", "purged_at")),
        sorted(UploadedFile.objects.values_list("pk", "name", "content_hash")),
        sorted(AuditEvent.objects.exclude(action="access.denied").values_list("pk", flat=True)),
    )


@pytest.mark.parametrize(("method", "path", "body", "needed"), OPERATION_PARAMS)
def test_staff_without_the_permission_gets_403_nothing_changes_and_the_refusal_is_audited(
    world, api, staff_holding, method, path, body, needed
):
    """Every other permission of every role, but not the one this operation needs: refused."""
    clerk = staff_holding([p for p in ALL_ROLE_PERMISSIONS if p not in needed])
    before = _state()
    response = send(api(clerk), method, path, body, world)
    assert response.status_code == 403, response.content[:500]
    error = response.json()["error"]
    assert error["code"] == "permission_denied"
    assert error["details"]["permissions"] == needed
    assert _state() == before
    event = AuditEvent.objects.get(action="access.denied")
    assert event.actor == clerk
    assert (event.details["method"], event.details["path"]) == (method, path.format(**world))
    assert event.details["permissions"] == needed


@pytest.mark.parametrize(("method", "path", "body", "needed"), OPERATION_PARAMS)
def test_the_permission_opens_its_operation(world, api, staff_holding, method, path, body, needed):
    """The read-only auditor's permissions plus the operation's own pass the check (a 409 is the state rule)."""
    clerk = staff_holding({*ROLE_PERMISSIONS["auditor"], *needed})
    response = send(api(clerk), method, path, body, world)
    assert response.status_code < 400 or response.status_code == 409, response.content[:500]
    assert not AuditEvent.objects.filter(action="access.denied").exists()


def test_non_staff_holding_a_permission_is_still_refused(world, api, make_user):
    user = make_user("contractor")
    user.user_permissions.set(permissions_named("acl.add_sourcegrant"))
    response = api(user).post("/api/v1/grants", {"source": world["wiki"], "user": user.pk}, format="json")
    assert response.status_code == 403
    assert not SourceGrant.objects.filter(user=user).exists()


def test_audit_purge_is_for_superusers_only_and_itself_audited(world, api, staff, superuser):
    AuditEvent.objects.create(action="search")
    refused = api(staff).post("/api/v1/audit/purge", {"older_than_days": 0}, format="json")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "permission_denied"
    assert AuditEvent.objects.filter(action="search").exists()
    assert AuditEvent.objects.get(action="access.denied").actor == staff

    response = api(superuser).post("/api/v1/audit/purge", {"older_than_days": 0}, format="json")
    assert response.status_code == 200, response.content
    purge = AuditEvent.objects.get()
    assert (purge.action, purge.actor) == ("audit.purge", superuser)


def test_a_forged_console_post_is_refused(world, client, staff_holding):
    """A staff session (the console's) posting to the API straight away, past the console's pages:
    with a valid CSRF token it meets the permission check; without one, the CSRF check."""
    operator = staff_holding(ROLE_PERMISSIONS["operator"], username="operator")
    client.force_login(operator)
    client.handler.enforce_csrf_checks = True
    client.get("/admin/")  # the console page sets the CSRF cookie
    token = client.cookies["csrftoken"].value
    body = json.dumps({"source": world["wiki"], "user": operator.pk})

    forged = client.post("/api/v1/grants", body, content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert forged.status_code == 403, forged.content
    assert forged.json()["error"]["details"]["permissions"] == ["acl.add_sourcegrant"]
    cross_site = client.post("/api/v1/grants", body, content_type="application/json")
    assert cross_site.status_code == 403
    assert not SourceGrant.objects.filter(user=operator).exists()


def test_staff_without_view_permissions_see_what_anyone_sees(world, api, alice, staff_holding):
    clerk = staff_holding([])
    SourceGrant.objects.create(source_id=world["wiki"], user=clerk)
    sources = api(clerk).get("/api/v1/sources").json()["results"]
    assert [source["id"] for source in sources] == [world["wiki"]]
    grants = api(clerk).get("/api/v1/grants").json()["results"]
    assert [grant["user"] for grant in grants] == [clerk.pk]
    assert api(clerk).get("/api/v1/groups").json()["results"] == []
    auditor = staff_holding(ROLE_PERMISSIONS["auditor"], username="auditor")
    assert api(auditor).get("/api/v1/sources").json()["count"] == Source.objects.count()
    assert api(auditor).get("/api/v1/grants").json()["count"] == SourceGrant.objects.count()


def test_the_role_groups_from_the_migration_hold_exactly_their_permissions(db):
    for name, permissions in ROLE_PERMISSIONS.items():
        group = Group.objects.get(name=name)
        held = {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")}
        assert held == set(permissions), name


def _staff_views():
    def walk(resolver):
        for pattern in resolver.url_patterns:
            if hasattr(pattern, "url_patterns"):
                yield from walk(pattern)
            elif hasattr(pattern.callback, "view_class"):
                yield pattern.callback.view_class

    for view in walk(get_resolver()):
        classes = getattr(view, "permission_classes", ())
        if IsStaff in classes or ReadAnyWriteStaff in classes:
            yield view, IsStaff in classes


def test_every_staff_operation_names_its_permissions_and_a_role_holds_them():
    """A staff endpoint added without ``staff_permissions`` (or with a permission no role grants) stands out."""
    granted = set(ALL_ROLE_PERMISSIONS)
    views = list(_staff_views())
    assert len(views) > 20
    for view, staff_reads in views:
        writes = [m for m in ("post", "put", "patch", "delete") if hasattr(view, m)]
        for method in writes + (["get"] if staff_reads and hasattr(view, "get") else []):
            needed = required_permissions(view, method.upper())
            assert needed, f"{view.__name__}.{method} names no permission"
            assert set(needed) <= granted, f"{view.__name__}.{method}: {needed} is in no role"
