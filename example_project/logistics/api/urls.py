"""The GTS API's URLs, as the guide lists them."""

from __future__ import annotations

from django.urls import path

from logistics.api import views

app_name = "logistics-api"

urlpatterns = [
    path(
        "driver/pending-offers",
        views.PendingOffersView.as_view(),
        name="pending-offers",
    ),
    path("driver-trips/accept/", views.AcceptTripView.as_view(), name="accept-trip"),
    path("driver-trips/reject/", views.RejectTripView.as_view(), name="reject-trip"),
    path(
        "eic/stock-requests/",
        views.StockRequestListView.as_view(),
        name="stock-requests",
    ),
    path(
        "eic/stock-requests/<int:pk>/",
        views.StockRequestDetailView.as_view(),
        name="stock-request",
    ),
    path(
        "eic/stock-requests/<int:pk>/auto-dispatch/",
        views.AutoDispatchView.as_view(),
        name="stock-request-auto-dispatch",
    ),
    path(
        "eic/stock-requests/<int:pk>/status/",
        views.StockRequestStatusView.as_view(),
        name="stock-request-status",
    ),
]
