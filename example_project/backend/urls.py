"""URLs of the GTS backend: the API, its OpenAPI schema, the admin, the metrics."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from django_assignment_timeout.metrics.views import metrics

# Unmatched /api/ URLs answer in the API's JSON error shape, as documented.
handler404 = "logistics.api.errors.not_found"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("logistics.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path(
        "api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"
    ),
    path("metrics", metrics, name="metrics"),  # for Prometheus; keep it internal
    path("", include("dispatch.urls")),  # the server-rendered dispatch pages
]
