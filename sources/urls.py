from django.urls import path

from sources import apis

urlpatterns = [
    path("sources", apis.SourceListCreateApi.as_view(), name="source-list"),
    path("sources/<int:source_id>", apis.SourceDetailApi.as_view(), name="source-detail"),
    path("sources/<int:source_id>/resume", apis.SourceResumeApi.as_view(), name="source-resume"),
    path("sources/<int:source_id>/pause", apis.SourcePauseApi.as_view(), name="source-pause"),
    path("sources/<int:source_id>/documents", apis.SourceUploadListApi.as_view(), name="source-uploads"),
    path("sources/<int:source_id>/documents/<path:name>", apis.SourceUploadDetailApi.as_view(), name="source-upload"),
]
