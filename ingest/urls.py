from django.urls import path

from ingest import apis

urlpatterns = [
    path("sources/<int:source_id>/sync", apis.SourceSyncApi.as_view(), name="source-sync"),
    path("sync-jobs/<int:job_id>", apis.SyncJobDetailApi.as_view(), name="sync-job-detail"),
    path("sync-jobs/<int:job_id>/cancel", apis.SyncJobCancelApi.as_view(), name="sync-job-cancel"),
]
