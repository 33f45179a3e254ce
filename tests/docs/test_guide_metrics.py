"""docs/guides/metrics.rst, run: its setting turns the receivers on, and its
``urls.py`` serves the view at ``/metrics`` (in this suite's project: the
guide's blocks need no project of their own)."""

from __future__ import annotations

import types

import pytest
from django.test import Client, override_settings

from django_assignment_timeout import signals
from django_assignment_timeout.metrics import install, receivers
from django_assignment_timeout.metrics.views import metrics
from tests.docs.blocks import block
from tests.testapp.models import StockRequest

pytestmark = pytest.mark.django_db


def test_the_setting_connects_the_receivers():
    values: dict[str, object] = {}
    exec(block("metrics-settings"), values)
    with override_settings(
        ASSIGNMENT_TIMEOUT_METRICS=values["ASSIGNMENT_TIMEOUT_METRICS"]
    ):
        try:
            assert install() is True
            assert signals.assignment_offered.has_listeners(StockRequest)
        finally:
            receivers.disconnect()


def test_the_urls_serve_the_view():
    urls = types.ModuleType("guide_metrics_urls")
    exec(block("metrics-urls"), urls.__dict__)
    (pattern,) = urls.urlpatterns
    assert pattern.callback is metrics
    with override_settings(ROOT_URLCONF=urls):
        response = Client().get("/metrics")
    assert response.status_code == 200
    assert b"assignment_timeout_offers_open" in response.content
