from django.urls import path

from index_versions import apis

urlpatterns = [
    path("index-versions", apis.IndexVersionListApi.as_view(), name="index-version-list"),
    path("index-versions/<int:version_id>", apis.IndexVersionDetailApi.as_view(), name="index-version-detail"),
    path(
        "index-versions/<int:version_id>/activate",
        apis.IndexVersionActivateApi.as_view(),
        name="index-version-activate",
    ),
    path("index-versions/<int:version_id>/pin", apis.IndexVersionPinApi.as_view(), name="index-version-pin"),
    path("index-versions/<int:version_id>/diff", apis.IndexVersionDiffApi.as_view(), name="index-version-diff"),
    path(
        "index-versions/<int:version_id>/evaluations",
        apis.IndexVersionEvaluationsApi.as_view(),
        name="index-version-evaluations",
    ),
    path("sources/<int:source_id>/revert", apis.SourceRevertApi.as_view(), name="source-revert"),
]
