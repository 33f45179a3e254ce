"""URLs of the GTS backend: the API, its OpenAPI schema, the admin, /health/ and /metrics."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from health_check.views import HealthCheckView

from django_assignment_timeout.health import CHECKS as EXPIRY_CHECKS
from django_assignment_timeout.metrics.views import metrics

# Unmatched /api/ URLs answer in the API's JSON error shape, as documented.
handler404 = "logistics.api.errors.not_found"

# 200 when the database answers, the sweeper swept every model within two
# intervals, no notification waits over 5 minutes and no offer is three
# intervals overdue; 500 and the failing check otherwise (?format=json).
health = HealthCheckView.as_view(
    checks=["health_check.checks.Database", *EXPIRY_CHECKS]
)

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("logistics.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path(
        "api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"
    ),
    path("health/", health, name="health"),
    path("metrics", metrics, name="metrics"),  # for Prometheus; keep it internal
    path("", include("dispatch.urls")),  # the server-rendered dispatch pages
]
