from django.urls import path

from retrieval import apis

urlpatterns = [
    path("search", apis.SearchApi.as_view(), name="search"),
    path("answer", apis.AnswerApi.as_view(), name="answer"),
    path("feedback", apis.FeedbackApi.as_view(), name="feedback"),
    path("feedback/export", apis.FeedbackExportApi.as_view(), name="feedback-export"),
    path("duplicates/stale", apis.StaleDuplicatesApi.as_view(), name="duplicates-stale"),
    path(
        "index-versions/<int:version_id>/evaluations",
        apis.IndexVersionEvaluationsApi.as_view(),
        name="index-version-evaluations",
    ),
]
