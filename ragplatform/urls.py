from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from ragplatform import api

api_v1 = [
    path("auth/token", api.TokenObtainApi.as_view(), name="auth-token"),
    path("health", api.HealthApi.as_view(), name="health"),
    path("health/reads", api.HealthReadsApi.as_view(), name="health-reads"),
    path("schema", SpectacularAPIView.as_view(), name="schema"),
    path("docs", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("", include("sources.urls")),
    path("", include("ingest.urls")),
    path("", include("acl.urls")),
    path("", include("index_versions.urls")),
    path("", include("retrieval.urls")),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
]

handler400 = "ragplatform.errors.bad_request"
handler403 = "ragplatform.errors.permission_denied"
handler404 = "ragplatform.errors.not_found"
handler500 = "ragplatform.errors.server_error"
