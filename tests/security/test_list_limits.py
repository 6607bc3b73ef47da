"""Every list caps ``?limit=`` at API_MAX_PAGE_SIZE: asking for a million rows gets a page and a ``next`` link."""

import pytest
from django.contrib.auth.models import Group
from django.urls import get_resolver
from rest_framework.generics import GenericAPIView

from acl.models import AuditEvent, SourceGrant
from acl.services import api_key_create, service_account_create
from index_versions.models import IndexVersion, Pipeline
from ragplatform.pagination import CappedLimitOffsetPagination
from sources.services.crud import source_create
from sources.services.uploads import uploaded_file_put

LISTS = [
    "/api/v1/sources",
    "/api/v1/grants",
    "/api/v1/groups",
    "/api/v1/groups/{group}/members",
    "/api/v1/service-accounts",
    "/api/v1/service-accounts/{account}/keys",
    "/api/v1/audit",
    "/api/v1/index-versions",
    "/api/v1/sources/{uploads}/documents",
    "/api/v1/documents",
]


@pytest.fixture
def three_of_everything(superuser, make_user, sync_folders):
    (wiki,) = sync_folders(wiki={f"page-{n}.md": f"# Page {n}\n\nText number {n}." for n in range(3)})
    uploads = source_create(name="uploads", kind="upload", config={})
    source_create(name="more", kind="upload", config={})
    group = Group.objects.create(name="readers")
    for n in range(3):
        uploaded_file_put(source=uploads, name=f"file-{n}.md", content=b"# File")
        user = make_user(f"reader{n}")
        group.user_set.add(user)
        Group.objects.create(name=f"group-{n}")
        SourceGrant.objects.create(source=wiki, user=user)
        account = service_account_create(name=f"bot-{n}")
        api_key_create(service_account=account)
        AuditEvent.objects.create(action="search")
    SourceGrant.objects.create(source=wiki, group=Group.objects.get_or_create(name="everyone")[0])
    for _ in range(2):
        api_key_create(service_account=account)
    pipeline = Pipeline.objects.create(key="p", chunker={}, embedding_model="m", dimensions=3)
    for _ in range(3):
        IndexVersion.objects.create(pipeline=pipeline, state=IndexVersion.State.READY)
    return {"group": group.pk, "account": account.pk, "uploads": uploads.pk}


@pytest.mark.parametrize("path", LISTS)
def test_a_huge_limit_gets_a_capped_page(three_of_everything, api, superuser, settings, path):
    settings.API_MAX_PAGE_SIZE = 2
    body = api(superuser).get(path.format(**three_of_everything), {"limit": 1_000_000}).json()
    assert body["count"] >= 3, body
    assert len(body["results"]) == 2
    assert body["next"] is not None and "limit=2" in body["next"]


def test_every_list_endpoint_is_capped():
    def views(resolver):
        for pattern in resolver.url_patterns:
            if hasattr(pattern, "url_patterns"):
                yield from views(pattern)
            elif hasattr(pattern.callback, "view_class"):
                yield pattern.callback.view_class

    paginated = [view for view in views(get_resolver()) if issubclass(view, GenericAPIView)]
    assert len(paginated) >= len(LISTS)
    for view in paginated:
        assert issubclass(view.pagination_class, CappedLimitOffsetPagination), view.__name__
