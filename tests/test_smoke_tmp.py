import pytest
from django_assignment_timeout import OfferExpired, NotOfferedToYou, AlreadyTaken, NoActiveOffer
from django_assignment_timeout.models import AssignmentEvent
from django_assignment_timeout.sweep import sweep
from tests.conftest import make_due
from tests.testapp.models import StockRequest, Ticket

pytestmark = pytest.mark.django_db(transaction=True)

def test_cycle(stock_request, driver, other_driver, user, ticket):
    ev = stock_request.offer(driver, assignment_mode="MANUAL")
    assert stock_request.status == "ASSIGNING" and stock_request.assignment_attempt == 1
    assert stock_request.assignment_mode == "MANUAL"
    print(stock_request.assignment_started_at, stock_request.assignment_expires_at, ev.created_at, ev.deadline)
    with pytest.raises(NotOfferedToYou):
        stock_request.accept(other_driver)
    make_due(StockRequest, stock_request.pk)
    with pytest.raises(OfferExpired):
        stock_request.accept(driver)
    assert stock_request.status == "PENDING"
    assert stock_request.assignment_mode is None
    with pytest.raises(OfferExpired):
        stock_request.accept(driver)
    stock_request.offer(driver)
    stock_request.accept(driver)
    assert stock_request.status == "ASSIGNED"
    with pytest.raises(AlreadyTaken):
        stock_request.accept(other_driver)
    print(list(stock_request.assignment_events().values_list("kind", "attempt", "assignee_pk")))
    ticket.offer(user, queue="x")
    t2 = Ticket.objects.create(); t2.offer(user)
    r2 = StockRequest.objects.create(); r2.offer(driver)
    make_due(Ticket); make_due(StockRequest)
    res = sweep()
    print(res)
    assert res.expired_count == 3
    ticket.refresh_from_db(); assert ticket.state == 0 and ticket.queue == ""
    print(list(AssignmentEvent.objects.values_list("kind", "attempt", "assignee_pk", "object_pk")))
    with pytest.raises(OfferExpired):
        ticket.reject(user)
    ticket.offer(user); ticket.reject(user, reason="busy")
    with pytest.raises(NoActiveOffer):
        ticket.reject(user)
