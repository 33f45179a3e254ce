"""Fixtures for the example's tests: a DBS, its EIC, two drivers, API clients."""

from __future__ import annotations

import os
import socket

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from logistics.models import DBS, EIC, Driver, StockRequest

REDIS = ("127.0.0.1", 6379)


def redis_reachable() -> bool:
    """Whether Redis answers on 127.0.0.1:6379."""
    try:
        with socket.create_connection(REDIS, timeout=1):
            return True
    except OSError:
        return False


def pytest_collection_modifyitems(config, items):
    """Skip Redis tests when it is down (with REQUIRE_SERVICES=1, as in CI: run)."""
    if os.environ.get("REQUIRE_SERVICES") == "1" or redis_reachable():
        return
    skip = pytest.mark.skip(
        reason="needs redis on 127.0.0.1:6379, which is not reachable"
    )
    for item in items:
        if item.get_closest_marker("redis"):
            item.add_marker(skip)


@pytest.fixture
def dbs(db):
    return DBS.objects.create(code="KONDLI", name="DBS Kondli")


@pytest.fixture
def other_dbs(db):
    return DBS.objects.create(code="OKHLA", name="DBS Okhla")


def _user(django_user_model, username):
    return django_user_model.objects.create_user(username=username, password="pw")


@pytest.fixture
def eic(django_user_model, dbs):
    return EIC.objects.create(user=_user(django_user_model, "eic"), dbs=dbs)


@pytest.fixture
def ravi(django_user_model):
    return Driver.objects.create(user=_user(django_user_model, "ravi"), name="Ravi")


@pytest.fixture
def sunil(django_user_model):
    return Driver.objects.create(user=_user(django_user_model, "sunil"), name="Sunil")


@pytest.fixture
def stock_request(dbs):
    return StockRequest.objects.create(dbs=dbs, quantity_kg=1200)


def client_for(user) -> APIClient:
    """An API client that authenticates with the user's token, as the apps do."""
    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}"
    )
    return client


@pytest.fixture
def eic_client(eic):
    return client_for(eic.user)


@pytest.fixture
def ravi_client(ravi):
    return client_for(ravi.user)


@pytest.fixture
def sunil_client(sunil):
    return client_for(sunil.user)
