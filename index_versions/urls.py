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
    path("sources/<int:source_id>/revert", apis.SourceRevertApi.as_view(), name="source-revert"),
    path("documents", apis.DocumentListApi.as_view(), name="document-list"),
    path("documents/<int:document_id>", apis.DocumentDetailApi.as_view(), name="document-detail"),
    path("documents/<int:document_id>/purge", apis.DocumentPurgeApi.as_view(), name="document-purge"),
]
