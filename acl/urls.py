from django.urls import path

from acl import apis

urlpatterns = [
    path("grants", apis.GrantListCreateApi.as_view(), name="grant-list"),
    path("grants/<int:grant_id>", apis.GrantDetailApi.as_view(), name="grant-detail"),
    path("groups", apis.GroupListCreateApi.as_view(), name="group-list"),
    path("groups/<int:group_id>/members", apis.GroupMemberListCreateApi.as_view(), name="group-member-list"),
    path(
        "groups/<int:group_id>/members/<int:user_id>", apis.GroupMemberDetailApi.as_view(), name="group-member-detail"
    ),
    path("service-accounts", apis.ServiceAccountListCreateApi.as_view(), name="service-account-list"),
    path("service-accounts/<int:account_id>/keys", apis.ApiKeyListCreateApi.as_view(), name="api-key-list"),
    path("service-accounts/<int:account_id>/keys/<int:key_id>", apis.ApiKeyDetailApi.as_view(), name="api-key-detail"),
    path(
        "service-accounts/<int:account_id>/keys/<int:key_id>/rotate",
        apis.ApiKeyRotateApi.as_view(),
        name="api-key-rotate",
    ),
    path("audit", apis.AuditEventListApi.as_view(), name="audit-list"),
    path("audit/purge", apis.AuditPurgeApi.as_view(), name="audit-purge"),
]
