from django.urls import path

from sources import apis

urlpatterns = [
    path("sources", apis.SourceListCreateApi.as_view(), name="source-list"),
    path("sources/<int:source_id>", apis.SourceDetailApi.as_view(), name="source-detail"),
    path("sources/<int:source_id>/sync", apis.SourceSyncApi.as_view(), name="source-sync"),
    path("sync-jobs/<int:job_id>", apis.SyncJobDetailApi.as_view(), name="sync-job-detail"),
    path("documents", apis.DocumentListApi.as_view(), name="document-list"),
    path("documents/<int:document_id>", apis.DocumentDetailApi.as_view(), name="document-detail"),
]
