"""Auto-dispatch: the station's free drivers in turn, the EIC told once if nobody accepts.

The sweep expires offers; the relay (``deliver_pending``) takes each chain's
next step before it sends the event's notifications, as the example's
scheduler does in production.
"""

from __future__ import annotations

import pytest

from django_assignment_timeout.delivery import deliver_pending
from django_assignment_timeout.notifiers import locmem
from django_assignment_timeout.testing import make_due
from logistics.models import Driver, StockRequest
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

EXPIRED_TITLE = "Driver Assignment Expired"


def auto_url(pk) -> str:
    return f"/api/eic/stock-requests/{pk}/auto-dispatch/"


def detail_url(pk) -> str:
    return f"/api/eic/stock-requests/{pk}/"


@pytest.fixture(autouse=True)
def empty_outbox():
    locmem.outbox.clear()
    yield
    locmem.outbox.clear()


@pytest.fixture
def amit(django_user_model):
    return Driver.objects.create(
        user=django_user_model.objects.create_user(username="amit", password="pw"),
        name="Amit",
    )


@pytest.fixture
def crew(dbs, ravi, sunil, amit):
    """Three drivers of the station, offered in name order (none offered yet)."""
    for driver in (ravi, sunil, amit):
        driver.stations.add(dbs)
    return [amit, ravi, sunil]


def expire_current_offer(stock_request):
    """Let the open offer run out, sweep it, and let the relay take the step."""
    assert make_due(StockRequest, stock_request.pk) == 1
    assert StockRequest.objects.expire_due().expired_count == 1
    deliver_pending()
    stock_request.refresh_from_db()


def eic_notices(eic):
    return [n for n in locmem.outbox if eic.user in n.recipients and not n.ends_offer]


def test_candidates_are_the_stations_free_drivers(
    dbs, other_dbs, crew, stock_request, django_user_model
):
    amit, ravi, sunil = crew
    elsewhere = Driver.objects.create(
        user=django_user_model.objects.create_user(username="far"), name="Far"
    )
    elsewhere.stations.add(other_dbs)
    busy = StockRequest.objects.create(dbs=dbs)
    busy.offer(ravi)  # an open offer
    on_trip = StockRequest.objects.create(dbs=other_dbs)
    on_trip.offer(sunil)
    on_trip.accept(sunil)  # a trip in progress, at another station even
    assert list(stock_request.dispatch_candidates()) == [amit]


def test_two_expiries_then_the_third_driver_accepts(
    stock_request, crew, eic, eic_client
):
    response = eic_client.post(auto_url(stock_request.pk))
    assert response.status_code == 201, response.json()
    assert response.json()["dispatch"]["state"] == "running"
    first, second, third = crew
    stock_request.refresh_from_db()
    assert stock_request.target_driver == first

    expire_current_offer(stock_request)
    assert (stock_request.status, stock_request.target_driver) == ("ASSIGNING", second)
    expire_current_offer(stock_request)
    assert (stock_request.status, stock_request.target_driver) == ("ASSIGNING", third)
    # Every offer of the chain says it was made automatically.
    assert stock_request.assignment_mode == "AUTO"

    StockRequest.objects.accept(stock_request.pk, third, attempt=3)
    deliver_pending()
    body = eic_client.get(detail_url(stock_request.pk)).json()
    assert body["status"] == "ASSIGNED"
    chain = body["dispatch"]
    assert (chain["state"], chain["end_reason"]) == ("accepted", "accepted")
    assert [(o["driver_name"], o["outcome"]) for o in chain["offers"]] == [
        ("Amit", "expired"),
        ("Ravi", "expired"),
        ("Sunil", "accepted"),
    ]
    assert all(o["ended_at"] for o in chain["offers"])
    # Each expiry moved the chain on: the EIC was never asked to reassign.
    assert eic_notices(eic) == []


def test_a_rejection_moves_on_and_shows_its_reason(
    stock_request, crew, eic, eic_client
):
    first, second, _ = crew
    stock_request.start_dispatch()
    StockRequest.objects.reject(stock_request.pk, first, reason="Truck in service")
    deliver_pending()
    offers = eic_client.get(detail_url(stock_request.pk)).json()["dispatch"]["offers"]
    assert [(o["driver"], o["outcome"], o["reason"]) for o in offers] == [
        (first.pk, "rejected", "Truck in service"),
        (second.pk, "pending", ""),
    ]
    assert offers[1]["ended_at"] is None
    assert offers[1]["deadline"] is not None
    assert eic_notices(eic) == []


def test_exhaustion_tells_the_eic_once_in_the_guides_words(stock_request, crew, eic):
    stock_request.start_dispatch()
    for _ in crew:  # max_attempts=3: all three let it expire
        expire_current_offer(stock_request)
    assert stock_request.status == "PENDING"
    # The step wrote the exhausted event after the relay claimed its batch:
    # the next run sends it, and a run after that sends nothing again.
    deliver_pending()
    deliver_pending()
    [notice] = eic_notices(eic)
    assert notice.data["event"] == "exhausted"
    assert notice.title == EXPIRED_TITLE
    assert (
        notice.body == "Sunil did not accept the trip to DBS Kondli. Please reassign."
    )
    [chain] = stock_request.dispatch_chains()
    assert (chain.state, chain.end_reason) == ("exhausted", "max_attempts")


def test_no_candidate_left_exhausts_the_chain_early(stock_request, crew, eic):
    amit, _, sunil = crew
    sunil.stations.clear()
    stock_request.start_dispatch()
    StockRequest.objects.reject(stock_request.pk, amit)
    deliver_pending()
    expire_current_offer(stock_request)
    deliver_pending()  # the exhausted event the step wrote
    [notice] = eic_notices(eic)
    assert notice.body == "Ravi did not accept the trip to DBS Kondli. Please reassign."
    assert stock_request.dispatch_chains().get().end_reason == "no_candidates"


def test_manual_mode_is_unchanged(stock_request, crew, eic, eic_client):
    amit = crew[0]
    response = eic_client.patch(
        f"/api/eic/stock-requests/{stock_request.pk}/status/",
        {"status": "ASSIGNING", "target_driver": amit.pk},
        format="json",
    )
    assert response.json()["assignment_mode"] == "MANUAL"
    expire_current_offer(stock_request)
    # Pending again, nobody else offered, the EIC told at once.
    assert (stock_request.status, stock_request.target_driver) == ("PENDING", None)
    [notice] = eic_notices(eic)
    assert (notice.title, notice.body) == (
        EXPIRED_TITLE,
        "Amit did not accept the trip to DBS Kondli. Please reassign.",
    )
    assert eic_client.get(detail_url(stock_request.pk)).json()["dispatch"] is None


def test_a_stopped_chain_hands_the_open_offer_back_to_the_eic(stock_request, crew, eic):
    stock_request.start_dispatch()
    assert stock_request.stop_dispatch()
    expire_current_offer(stock_request)
    assert stock_request.status == "PENDING"
    [notice] = eic_notices(eic)
    assert notice.data["event"] == "expired"


# -- the API's refusals -------------------------------------------------------


def test_auto_dispatch_twice_is_409(stock_request, crew, eic_client):
    assert eic_client.post(auto_url(stock_request.pk)).status_code == 201
    response = eic_client.post(auto_url(stock_request.pk))
    assert response.status_code == 409
    # Offered by the first post: the request is no longer pending.
    assert response.json()["code"] == "already_offered"


def test_auto_dispatch_while_a_chain_runs_is_409(stock_request, crew, eic_client):
    stock_request.start_dispatch()
    # Between two steps the request is pending, yet the chain still runs.
    StockRequest._base_manager.filter(pk=stock_request.pk).update(
        status="PENDING", target_driver=None, assignment_expires_at=None
    )
    response = eic_client.post(auto_url(stock_request.pk))
    assert response.status_code == 409
    assert response.json()["code"] == "already_dispatching"


def test_auto_dispatch_with_no_free_driver_is_409(stock_request, eic_client):
    response = eic_client.post(auto_url(stock_request.pk))
    assert response.status_code == 409
    assert response.json() == {
        "code": "no_candidate",
        "detail": "No candidate is left to offer this assignment to.",
    }
    assert not stock_request.dispatch_chains().exists()


def test_auto_dispatch_of_a_taken_request_is_409(stock_request, crew, eic_client):
    stock_request.offer(crew[0])
    stock_request.accept(crew[0])
    response = eic_client.post(auto_url(stock_request.pk))
    assert (response.status_code, response.json()["code"]) == (409, "already_taken")


def test_auto_dispatch_refusals_by_role_station_and_key(
    stock_request, crew, other_dbs, ravi_client, django_user_model
):
    from logistics.models import EIC

    far = EIC.objects.create(
        user=django_user_model.objects.create_user(username="far-eic"), dbs=other_dbs
    )
    far_client = client_for(far.user)
    assert ravi_client.post(auto_url(stock_request.pk)).status_code == 403
    assert far_client.post(auto_url(stock_request.pk)).status_code == 403
    assert far_client.get(detail_url(stock_request.pk)).status_code == 403
    assert far_client.post(auto_url(10**9)).json()["code"] == "not_found"
    assert far_client.get(detail_url(10**9)).status_code == 404


def test_auto_dispatch_needs_a_token(stock_request, crew):
    from rest_framework.test import APIClient

    assert APIClient().post(auto_url(stock_request.pk)).status_code == 401


# -- stopping it: DELETE .../auto-dispatch/ -----------------------------------


def test_stop_returns_the_detail_and_hands_the_open_offer_back(
    stock_request, crew, eic, eic_client
):
    first = crew[0]
    assert eic_client.post(auto_url(stock_request.pk)).status_code == 201
    response = eic_client.delete(auto_url(stock_request.pk))
    assert response.status_code == 200, response.json()
    body = response.json()
    # The detail, as GET returns it.
    assert body == eic_client.get(detail_url(stock_request.pk)).json()
    chain = body["dispatch"]
    assert (chain["state"], chain["end_reason"]) == ("stopped", "stopped")
    assert chain["ended_at"] is not None
    # The open offer stays open.
    assert (body["status"], body["target_driver"]) == ("ASSIGNING", first.pk)
    assert [(o["driver"], o["outcome"]) for o in chain["offers"]] == [
        (first.pk, "pending")
    ]

    # Its expiry takes no further step: nobody else is offered it, and the
    # EIC is told to reassign, as in manual mode.
    expire_current_offer(stock_request)
    deliver_pending()
    assert (stock_request.status, stock_request.target_driver) == ("PENDING", None)
    body = eic_client.get(detail_url(stock_request.pk)).json()
    assert body["dispatch"]["state"] == "stopped"
    assert [o["outcome"] for o in body["dispatch"]["offers"]] == ["expired"]
    [notice] = eic_notices(eic)
    assert (notice.data["event"], notice.body) == (
        "expired",
        "Amit did not accept the trip to DBS Kondli. Please reassign.",
    )


def test_stop_between_two_steps_ends_the_chain(stock_request, crew, eic_client):
    stock_request.start_dispatch()
    StockRequest.objects.reject(stock_request.pk, crew[0])
    # Stopped before the relay took the step the rejection calls for.
    assert eic_client.delete(auto_url(stock_request.pk)).status_code == 200
    deliver_pending()
    stock_request.refresh_from_db()
    assert (stock_request.status, stock_request.target_driver) == ("PENDING", None)
    assert stock_request.dispatch_chains().get().state == "stopped"


def test_stop_with_no_running_chain_is_409(stock_request, crew, eic_client):
    expected = {
        "code": "not_dispatching",
        "detail": "Auto-dispatch is not running for this stock request.",
    }
    response = eic_client.delete(auto_url(stock_request.pk))  # never started
    assert (response.status_code, response.json()) == (409, expected)

    stock_request.start_dispatch()
    assert eic_client.delete(auto_url(stock_request.pk)).status_code == 200
    response = eic_client.delete(auto_url(stock_request.pk))  # stopped already
    assert (response.status_code, response.json()) == (409, expected)


def test_stop_after_the_chain_was_accepted_is_409(stock_request, crew, eic_client):
    stock_request.start_dispatch()
    StockRequest.objects.accept(stock_request.pk, crew[0])
    deliver_pending()
    response = eic_client.delete(auto_url(stock_request.pk))
    assert (response.status_code, response.json()["code"]) == (409, "not_dispatching")
    assert stock_request.dispatch_chains().get().state == "accepted"


def test_stop_refusals_by_role_station_and_key(
    stock_request, crew, other_dbs, ravi_client, django_user_model
):
    from logistics.models import EIC

    stock_request.start_dispatch()
    far = EIC.objects.create(
        user=django_user_model.objects.create_user(username="far-eic"), dbs=other_dbs
    )
    far_client = client_for(far.user)
    for client in (ravi_client, far_client):
        response = client.delete(auto_url(stock_request.pk))
        assert response.status_code == 403, response.json()
    response = far_client.delete(auto_url(10**9))
    assert (response.status_code, response.json()["code"]) == (404, "not_found")
    # Refused, so still running.
    assert stock_request.dispatch_chains().get().state == "running"


def test_stop_needs_a_token(stock_request, crew):
    from rest_framework.test import APIClient

    stock_request.start_dispatch()
    assert APIClient().delete(auto_url(stock_request.pk)).status_code == 401
    assert stock_request.dispatch_chains().get().state == "running"


def test_the_schema_documents_start_and_stop():
    from rest_framework.test import APIClient

    response = APIClient().get(
        "/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json"
    )
    operations = response.json()["paths"]["/api/eic/stock-requests/{id}/auto-dispatch/"]
    assert set(operations["post"]["responses"]) >= {"201", "403", "404", "409"}
    stop = operations["delete"]
    assert set(stop["responses"]) == {"200", "401", "403", "404", "409"}
    assert "not_dispatching" in stop["responses"]["409"]["description"]
    assert "requestBody" not in stop


# -- the EIC's board ----------------------------------------------------------


@pytest.fixture
def board(client, eic):
    client.force_login(eic.user)
    return client


def test_the_board_starts_auto_dispatch_and_shows_the_chain(board, stock_request, crew):
    first = crew[0]
    page = board.get("/dispatch/board/").content.decode()
    assert f'aria-label="Auto-dispatch request {stock_request.pk}"' in page
    response = board.post(f"/dispatch/requests/{stock_request.pk}/auto-dispatch/")
    assert response.status_code == 303
    page = board.get(response["Location"]).content.decode()
    assert f"Auto-dispatching request {stock_request.pk}: offered to Amit" in page
    StockRequest.objects.reject(stock_request.pk, first, reason="Flat tyre")
    deliver_pending()
    live = board.get("/dispatch/board/live/").content.decode()
    assert "Auto-dispatching" in live
    assert "Amit: declined (Flat tyre)" in live
    assert "Ravi: <strong>holds it now</strong>" in live
    # The chain moved on: the rejection is no notice of the EIC's.
    assert 'class="notice ' not in live
    # Offered now: no second Auto-dispatch button for it.
    assert f'aria-label="Auto-dispatch request {stock_request.pk}"' not in live


def test_the_board_shows_refusals_with_their_status(board, stock_request, other_dbs):
    url = f"/dispatch/requests/{stock_request.pk}/auto-dispatch/"
    response = board.post(url)  # nobody serves the station
    assert response.status_code == 409
    assert "No candidate is left" in response.content.decode()
    assert board.get(url).status_code == 405
    elsewhere = StockRequest.objects.create(dbs=other_dbs)
    assert (
        board.post(f"/dispatch/requests/{elsewhere.pk}/auto-dispatch/").status_code
        == 403
    )
    assert board.post("/dispatch/requests/999999/auto-dispatch/").status_code == 404


def test_the_board_says_when_nobody_accepted(board, stock_request, crew):
    stock_request.start_dispatch()
    for _ in crew:
        expire_current_offer(stock_request)
    live = board.get("/dispatch/board/live/").content.decode()
    assert "Nobody accepted: reassign" in live
    assert live.count("let it expire") == 3
    # One notice, the chain's, in the guide's words; none per expiry.
    assert live.count('class="notice ') == 1
    assert 'class="notice notice-exhausted"' in live
    assert (
        f"Request {stock_request.pk}: Sunil did not accept the trip to DBS Kondli. "
        "Please reassign." in live
    )


def test_the_board_tells_of_manual_expiries_as_before(board, stock_request, crew):
    stock_request.offer(crew[0])
    expire_current_offer(stock_request)
    live = board.get("/dispatch/board/live/").content.decode()
    assert 'class="notice notice-expired"' in live
    assert "Amit did not accept the trip to DBS Kondli. Please reassign." in live


def test_the_board_stops_a_running_auto_dispatch(board, stock_request, crew):
    stop = f'aria-label="Stop auto-dispatch for request {stock_request.pk}"'
    assert stop not in board.get("/dispatch/board/").content.decode()
    stock_request.start_dispatch()
    assert stop in board.get("/dispatch/board/live/").content.decode()
    response = board.post(f"/dispatch/requests/{stock_request.pk}/stop-auto-dispatch/")
    assert response.status_code == 303
    page = board.get(response["Location"]).content.decode()
    assert (
        f"Stopped auto-dispatching request {stock_request.pk}: Amit&#x27;s offer "
        "stays open; if they do not accept, the request is yours to reassign." in page
    )
    assert "Auto-dispatch stopped" in page
    assert "Amit: <strong>holds it now</strong>" in page
    assert stop not in page
    # Amit lets it expire: nobody else is offered it; the EIC is told.
    expire_current_offer(stock_request)
    deliver_pending()
    live = board.get("/dispatch/board/live/").content.decode()
    assert "Amit: let it expire" in live
    assert "Ravi:" not in live
    assert 'class="notice notice-expired"' in live


def test_the_board_shows_stop_refusals_with_their_status(
    board, stock_request, crew, other_dbs
):
    url = f"/dispatch/requests/{stock_request.pk}/stop-auto-dispatch/"
    response = board.post(url)  # never started
    assert response.status_code == 409
    assert "Auto-dispatch is not running for this stock request." in (
        response.content.decode()
    )
    assert board.get(url).status_code == 405
    elsewhere = StockRequest.objects.create(dbs=other_dbs)
    elsewhere_url = f"/dispatch/requests/{elsewhere.pk}/stop-auto-dispatch/"
    assert board.post(elsewhere_url).status_code == 403
    assert board.post("/dispatch/requests/999999/stop-auto-dispatch/").status_code == (
        404
    )
