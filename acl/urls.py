from django.urls import path

from acl import apis

urlpatterns = [
    path("grants", apis.GrantListCreateApi.as_view(), name="grant-list"),
    path("grants/<int:grant_id>", apis.GrantDetailApi.as_view(), name="grant-detail"),
]
