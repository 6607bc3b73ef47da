from django.urls import path

from sources import apis

urlpatterns = [
    path("sources", apis.SourceListCreateApi.as_view(), name="source-list"),
    path("sources/<int:source_id>", apis.SourceDetailApi.as_view(), name="source-detail"),
    path("sources/<int:source_id>/sync", apis.SourceSyncApi.as_view(), name="source-sync"),
    path("sources/<int:source_id>/resume", apis.SourceResumeApi.as_view(), name="source-resume"),
    path("sources/<int:source_id>/pause", apis.SourcePauseApi.as_view(), name="source-pause"),
    path("sources/<int:source_id>/documents", apis.SourceUploadListApi.as_view(), name="source-uploads"),
    path("sources/<int:source_id>/documents/<path:name>", apis.SourceUploadDetailApi.as_view(), name="source-upload"),
    path("sync-jobs/<int:job_id>", apis.SyncJobDetailApi.as_view(), name="sync-job-detail"),
    path("sync-jobs/<int:job_id>/cancel", apis.SyncJobCancelApi.as_view(), name="sync-job-cancel"),
    path("documents", apis.DocumentListApi.as_view(), name="document-list"),
    path("documents/<int:document_id>", apis.DocumentDetailApi.as_view(), name="document-detail"),
    path("documents/<int:document_id>/purge", apis.DocumentPurgeApi.as_view(), name="document-purge"),
]
