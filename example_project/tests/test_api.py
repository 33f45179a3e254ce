"""The guide's four endpoints: success, 401, 403, 404, 409, 410 and 400, never a 500."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from django_assignment_timeout.models import AssignmentEvent
from django_assignment_timeout.testing import make_due
from logistics.models import StockRequest
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

OFFERS = "/api/driver/pending-offers"
ACCEPT = "/api/driver-trips/accept/"
REJECT = "/api/driver-trips/reject/"
LIST = "/api/eic/stock-requests/"


def status_url(pk) -> str:
    return f"/api/eic/stock-requests/{pk}/status/"


def assign(client, pk, driver, **extra):
    body = {"status": "ASSIGNING", "target_driver": driver.pk, **extra}
    return client.patch(status_url(pk), body, format="json")


@pytest.fixture
def offered(stock_request, eic_client, ravi):
    response = assign(eic_client, stock_request.pk, ravi)
    assert response.status_code == 200, response.json()
    return stock_request


# -- PATCH /api/eic/stock-requests/{id}/status/ ------------------------------


def test_eic_assigns_a_driver(stock_request, eic_client, ravi, settings):
    settings.DRIVER_ASSIGNMENT_TIMEOUT_SECONDS = 300
    response = assign(eic_client, stock_request.pk, ravi, assignment_mode="AUTO")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ASSIGNING"
    assert body["target_driver"] == ravi.pk
    assert body["assignment_mode"] == "AUTO"
    assert body["attempt"] == 1
    assert 295 < body["seconds_remaining"] <= 300
    stock_request.refresh_from_db()
    assert stock_request.assignment_started_at is not None
    offered_at = stock_request.assignment_started_at
    assert (stock_request.assignment_expires_at - offered_at).total_seconds() == 300


def test_assign_defaults_to_manual_mode(stock_request, eic_client, ravi):
    assert (
        assign(eic_client, stock_request.pk, ravi).json()["assignment_mode"] == "MANUAL"
    )


def test_assign_needs_a_token(stock_request, ravi):
    response = assign(APIClient(), stock_request.pk, ravi)
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert response["WWW-Authenticate"] == "Token"


def test_a_bad_token_is_401(stock_request, ravi):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert assign(client, stock_request.pk, ravi).status_code == 401


def test_a_driver_can_not_assign(stock_request, ravi_client, ravi):
    response = assign(ravi_client, stock_request.pk, ravi)
    assert response.status_code == 403
    assert response.json()["detail"] == "Only an EIC can do this."


def test_an_eic_can_not_assign_another_dbs_request(other_dbs, eic_client, ravi):
    foreign = StockRequest.objects.create(dbs=other_dbs)
    assert assign(eic_client, foreign.pk, ravi).status_code == 403
    foreign.refresh_from_db()
    assert foreign.status == "PENDING"


def test_assign_unknown_request_is_404(eic_client, ravi):
    response = assign(eic_client, 999999, ravi)
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert assign(eic_client, 10**30, ravi).status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"status": "ASSIGNING"}, "target_driver"),
        ({"status": "ASSIGNING", "target_driver": 999999}, "target_driver"),
        ({"status": "ASSIGNING", "target_driver": "x"}, "target_driver"),
        ({"status": "DELIVERED", "target_driver": None}, "status"),
        ({"target_driver": None}, "status"),
        (
            {"status": "ASSIGNING", "target_driver": 1, "assignment_mode": "FAST"},
            "assignment_mode",
        ),
    ],
)
def test_assign_invalid_payload_is_400_with_field_messages(
    stock_request, eic_client, ravi, body, field
):
    if body.get("target_driver") == 1:
        body["target_driver"] = ravi.pk
    response = eic_client.patch(status_url(stock_request.pk), body, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert field in response.json()["fields"]
    assert StockRequest.objects.get().status == "PENDING"


@pytest.mark.parametrize("raw", [b"[1, 2]", b"{not json", b'"ASSIGNING"'])
def test_assign_malformed_json_is_400(stock_request, eic_client, raw):
    response = eic_client.generic(
        "PATCH", status_url(stock_request.pk), raw, content_type="application/json"
    )
    assert response.status_code == 400


def test_assigning_an_offered_request_is_409(offered, eic_client, sunil):
    response = assign(eic_client, offered.pk, sunil)
    assert response.status_code == 409
    assert response.json()["code"] == "already_offered"
    offered.refresh_from_db()
    assert offered.target_driver.name == "Ravi"


def test_assigning_an_accepted_request_is_409(offered, eic_client, ravi_client, sunil):
    ravi_client.post(ACCEPT, {"stock_request_id": offered.pk}, format="json")
    response = assign(eic_client, offered.pk, sunil)
    assert response.status_code == 409
    assert response.json()["code"] == "already_taken"


# -- GET /api/driver/pending-offers -------------------------------------------


def test_driver_sees_own_open_offers_only(
    offered, dbs, eic_client, ravi_client, sunil_client, sunil
):
    other = StockRequest.objects.create(dbs=dbs)
    assign(eic_client, other.pk, sunil)
    mine = ravi_client.get(OFFERS)
    assert mine.status_code == 200
    assert [row["id"] for row in mine.json()] == [offered.pk]
    assert mine.json()[0]["dbs"]["name"] == "DBS Kondli"
    assert [row["id"] for row in sunil_client.get(OFFERS).json()] == [other.pk]


def test_an_expired_offer_is_not_listed_even_before_a_sweep(offered, ravi_client):
    make_due(StockRequest, offered.pk)
    assert ravi_client.get(OFFERS).json() == []
    offered.refresh_from_db()
    assert offered.status == "ASSIGNING"  # not swept yet, and still not offered


def test_pending_offers_need_a_token():
    assert APIClient().get(OFFERS).status_code == 401


def test_an_eic_has_no_pending_offers(eic_client):
    assert eic_client.get(OFFERS).status_code == 403


# -- POST /api/driver-trips/accept/ ------------------------------------------


def test_driver_accepts_in_time(offered, ravi_client, ravi):
    response = ravi_client.post(
        ACCEPT, {"stock_request_id": offered.pk, "attempt": 1}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["status"] == "ASSIGNED"
    assert response.json()["target_driver"] == ravi.pk
    assert response.json()["expires_at"] is None
    kinds = list(
        AssignmentEvent.objects.for_assignment(offered).values_list("kind", flat=True)
    )
    assert kinds == ["offered", "accepted"]


def test_accepting_an_expired_offer_is_410(offered, ravi_client):
    make_due(StockRequest, offered.pk)
    response = ravi_client.post(ACCEPT, {"stock_request_id": offered.pk}, format="json")
    assert response.status_code == 410
    assert response.json() == {
        "code": "offer_expired",
        "detail": "This offer has expired.",
    }
    offered.refresh_from_db()
    assert offered.status == "PENDING"
    assert offered.target_driver is None
    assert offered.assignment_mode is None


def test_accepting_after_the_sweep_is_still_410(offered, ravi_client):
    make_due(StockRequest, offered.pk)
    assert StockRequest.objects.expire_due().expired_count == 1
    response = ravi_client.post(ACCEPT, {"stock_request_id": offered.pk}, format="json")
    assert response.status_code == 410


def test_accepting_someone_elses_offer_is_403(offered, sunil_client):
    response = sunil_client.post(
        ACCEPT, {"stock_request_id": offered.pk}, format="json"
    )
    assert response.status_code == 403
    assert response.json()["code"] == "not_offered_to_you"
    offered.refresh_from_db()
    assert offered.status == "ASSIGNING"


def test_accepting_a_taken_request_is_409(offered, ravi_client):
    ravi_client.post(ACCEPT, {"stock_request_id": offered.pk}, format="json")
    response = ravi_client.post(ACCEPT, {"stock_request_id": offered.pk}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "already_taken"


def test_accepting_an_earlier_attempt_does_not_take_a_newer_offer(
    offered, ravi_client, eic_client, ravi
):
    make_due(StockRequest, offered.pk)
    offered.expire()
    assign(eic_client, offered.pk, ravi)  # attempt 2
    response = ravi_client.post(
        ACCEPT, {"stock_request_id": offered.pk, "attempt": 1}, format="json"
    )
    assert response.status_code == 410
    offered.refresh_from_db()
    assert (offered.status, offered.assignment_attempt) == ("ASSIGNING", 2)


def test_accepting_a_pending_request_is_409(stock_request, ravi_client):
    response = ravi_client.post(
        ACCEPT, {"stock_request_id": stock_request.pk}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["code"] == "no_active_offer"


def test_accepting_an_unknown_request_is_404(ravi_client):
    response = ravi_client.post(ACCEPT, {"stock_request_id": 999999}, format="json")
    assert response.status_code == 404


def test_accept_needs_a_token(offered):
    assert (
        APIClient()
        .post(ACCEPT, {"stock_request_id": offered.pk}, format="json")
        .status_code
        == 401
    )


def test_an_eic_can_not_accept(offered, eic_client):
    response = eic_client.post(ACCEPT, {"stock_request_id": offered.pk}, format="json")
    assert response.status_code == 403
    assert response.json()["detail"] == "Only drivers can do this."


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "stock_request_id"),
        ({"stock_request_id": "abc"}, "stock_request_id"),
        ({"stock_request_id": 0}, "stock_request_id"),
        ({"stock_request_id": 10**30}, "stock_request_id"),
        ({"stock_request_id": 1, "attempt": -1}, "attempt"),
    ],
)
def test_accept_invalid_payload_is_400(ravi_client, body, field):
    response = ravi_client.post(ACCEPT, body, format="json")
    assert response.status_code == 400
    assert field in response.json()["fields"]


# -- POST /api/driver-trips/reject/ ------------------------------------------


def test_driver_rejects(offered, ravi_client):
    body = {"stock_request_id": offered.pk, "reason": "Truck in service"}
    response = ravi_client.post(REJECT, body, format="json")
    assert response.status_code == 200
    assert response.json()["status"] == "PENDING"
    assert response.json()["target_driver"] is None
    event = AssignmentEvent.objects.for_assignment(offered).last()
    assert (event.kind, event.reason) == ("rejected", "Truck in service")


def test_rejecting_someone_elses_offer_is_403(offered, sunil_client):
    response = sunil_client.post(
        REJECT, {"stock_request_id": offered.pk}, format="json"
    )
    assert response.status_code == 403


def test_rejecting_an_expired_offer_is_410(offered, ravi_client):
    make_due(StockRequest, offered.pk)
    assert (
        ravi_client.post(
            REJECT, {"stock_request_id": offered.pk}, format="json"
        ).status_code
        == 410
    )


def test_rejecting_a_taken_request_is_409(offered, ravi_client):
    ravi_client.post(ACCEPT, {"stock_request_id": offered.pk}, format="json")
    assert (
        ravi_client.post(
            REJECT, {"stock_request_id": offered.pk}, format="json"
        ).status_code
        == 409
    )


def test_rejecting_an_unknown_request_is_404(ravi_client):
    assert (
        ravi_client.post(
            REJECT, {"stock_request_id": 424242}, format="json"
        ).status_code
        == 404
    )


def test_reject_needs_a_token(offered):
    assert APIClient().post(REJECT, {"stock_request_id": offered.pk}).status_code == 401


def test_reject_reason_too_long_is_400(offered, ravi_client):
    body = {"stock_request_id": offered.pk, "reason": "x" * 501}
    response = ravi_client.post(REJECT, body, format="json")
    assert response.status_code == 400
    assert "reason" in response.json()["fields"]


# -- the EIC's list, and the schema ------------------------------------------


def test_eic_lists_own_dbs_requests(stock_request, other_dbs, eic_client):
    StockRequest.objects.create(dbs=other_dbs)
    assert [row["id"] for row in eic_client.get(LIST).json()] == [stock_request.pk]


def test_a_user_without_a_role_is_403(django_user_model, stock_request):
    client = client_for(django_user_model.objects.create_user("visitor"))
    assert client.get(LIST).status_code == 403
    assert client.get(OFFERS).status_code == 403


def test_openapi_schema_is_served():
    response = APIClient().get(
        "/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json"
    )
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert {OFFERS, ACCEPT, REJECT, "/api/eic/stock-requests/{id}/status/"} <= set(
        paths
    )
    assert "410" in paths[ACCEPT]["post"]["responses"]
