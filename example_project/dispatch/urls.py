"""URLs of the dispatch pages (included at the site root)."""

from __future__ import annotations

from django.urls import path

from dispatch import views

app_name = "dispatch"

urlpatterns = [
    path("", views.home, name="home"),
    path("accounts/login/", views.LoginView.as_view(), name="login"),
    path("accounts/logout/", views.LogoutView.as_view(), name="logout"),
    path("dispatch/board/", views.board, name="board"),
    path("dispatch/board/live/", views.board_live, name="board-live"),
    path("dispatch/requests/<int:pk>/assign/", views.assign, name="assign"),
    path(
        "dispatch/requests/<int:pk>/auto-dispatch/",
        views.auto_dispatch,
        name="auto-dispatch",
    ),
    path(
        "dispatch/requests/<int:pk>/stop-auto-dispatch/",
        views.stop_auto_dispatch,
        name="stop-auto-dispatch",
    ),
    path("dispatch/driver/", views.driver_page, name="driver"),
    path("dispatch/driver/live/", views.driver_live, name="driver-live"),
    path("dispatch/driver/offers/<int:pk>/accept/", views.accept, name="accept"),
    path("dispatch/driver/offers/<int:pk>/reject/", views.reject, name="reject"),
]
