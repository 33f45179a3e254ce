"""The GTS dispatch pages in a real browser, against the real example processes.

An EIC and a driver each sign in in their own browser context (their own
cookies), as two people on two devices would. The example runs with a 5 s
driver timeout and a sweep every 0.5 s.
"""

from __future__ import annotations

import re

import pytest

from tests.browser.axe import SIZES
from tests.browser.server import TIMEOUT

pytestmark = pytest.mark.timeout(120)

# How long to wait for a page to show what the server decided: the pages
# refresh every second, the sweeper runs every 0.5 s.
SETTLE_MS = 8_000


@pytest.fixture
def accessible(axe_check):
    """axe-core at both sizes: these tests drive one size, the pages serve both."""

    def check(page, state):
        axe_check(page, state, sizes=SIZES.values())

    return check


@pytest.fixture
def sign_in(browser, example, accessible):
    """Open a new browser context and sign in as a demo user; its page."""
    contexts = []

    def sign_in_as(username):
        context = browser.new_context(base_url=example.base)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(SETTLE_MS)
        page.goto("/")
        # Anonymous: sent to the login page, which lists the demo users.
        assert page.url.startswith(f"{example.base}/accounts/login/")
        assert page.locator("#demo-users").get_by_text(username).is_visible()
        accessible(page, "login page")
        page.fill("#id_username", username)
        page.fill("#id_password", "gts-demo")
        page.click("button[type=submit]")
        page.wait_for_load_state()
        accessible(page, f"{username}'s first page")
        return page

    yield sign_in_as
    for context in contexts:
        context.close()


def assign_first_pending(board, driver_name):
    """On the EIC's board, offer the first pending request to a driver; its id."""
    from playwright.sync_api import expect

    row = board.locator("tr[data-status=PENDING]").first
    request_id = row.get_attribute("id").removeprefix("request-")
    board.select_option(f"#driver-for-{request_id}", label=driver_name)
    # By name: the row has an Auto-dispatch button too.
    board.locator(f"#request-{request_id}").get_by_role(
        "button", name="Assign", exact=True
    ).click()
    expect(board.get_by_role("status")).to_contain_text(
        f"Offered request {request_id} to {driver_name}"
    )
    return request_id


def post(page, path, form):
    """POST a form as the page's signed-in user (its cookies and CSRF token)."""
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    return page.context.request.post(
        path, form=form, headers={"X-CSRFToken": token}, max_redirects=0
    )


def countdown_seconds(locator):
    minutes, seconds = re.fullmatch(r"(\d+):(\d\d)", locator.inner_text()).groups()
    return int(minutes) * 60 + int(seconds)


def test_unanswered_offer_counts_down_and_expires(sign_in, screenshot, accessible):
    from playwright.sync_api import expect

    board = sign_in("eic.kondli")
    expect(board).to_have_url(re.compile(r"/dispatch/board/$"))
    driver = sign_in("ravi")
    expect(driver).to_have_url(re.compile(r"/dispatch/driver/$"))
    expect(driver.locator("#no-offers")).to_be_visible()

    request_id = assign_first_pending(board, "Ravi")

    # The driver's page picks the offer up by itself, with a running countdown.
    offer = driver.locator(f"#offer-{request_id}")
    expect(offer).to_be_visible()
    countdown = offer.locator(".countdown")
    attempt = offer.locator("input[name=attempt]").first.input_value()
    first = countdown_seconds(countdown)
    assert 0 < first <= TIMEOUT
    row = board.locator(f"#request-{request_id}")
    expect(row).to_have_attribute("data-status", "ASSIGNING")
    expect(row).to_contain_text("Ravi")
    expect(row.locator(".countdown")).to_have_text(re.compile(r"0:0[1-5]"))
    screenshot(driver, "driver-offer-counting-down")
    screenshot(board, "eic-board-offer-counting-down")

    # The driver does nothing. The countdown runs down to its last second...
    # (watched every 50 ms: the last second shows for one second only)
    driver.wait_for_function(
        """id => /^0:0[01]/.test(
            document.querySelector(`#offer-${id} .countdown`)?.textContent ?? "")""",
        arg=request_id,
        polling=50,
        timeout=(TIMEOUT + 2) * 1000,
    )
    # ...then the offer leaves the driver's page with a notice,
    expect(offer).to_be_hidden()
    expect(driver.locator("#notices")).to_contain_text(
        f"Your offer for stock request {request_id} expired"
    )
    # and the EIC's board shows the request PENDING again, with the expiry notice.
    expect(row).to_have_attribute("data-status", "PENDING")
    expect(row.locator(".countdown")).to_have_count(0)
    notice = board.locator("#notices .notice-expired").filter(
        has_text=f"Request {request_id}:"
    )
    expect(notice).to_contain_text("Driver Assignment Expired")
    expect(notice).to_contain_text(
        "Ravi did not accept the trip to DBS Kondli. Please reassign."
    )
    screenshot(driver, "driver-offer-expired")
    screenshot(board, "eic-board-offer-expired")
    # Checked once the offer expired, not while it counts down: four checks
    # take a second or so of a 5 s offer. test_offer_accepted_in_time checks
    # the offer while it runs.
    accessible(driver, "driver's page, expiry notice")
    accessible(board, "board, expiry notice")

    # A late Accept from a page left open is refused: 410 Gone, nothing changes.
    late = post(
        driver, f"/dispatch/driver/offers/{request_id}/accept/", {"attempt": attempt}
    )
    assert late.status == 410
    assert "This offer has expired." in late.text()
    expect(row).to_have_attribute("data-status", "PENDING")


def test_offer_accepted_in_time(sign_in, screenshot, accessible):
    from playwright.sync_api import expect

    board = sign_in("eic.kondli")
    driver = sign_in("sunil")

    request_id = assign_first_pending(board, "Sunil")

    notices = board.locator("#notices .notice").filter(
        has_text=f"Request {request_id}:"
    )
    earlier_notices = notices.count()  # an earlier test may have used this request
    offer = driver.locator(f"#offer-{request_id}")
    expect(offer).to_be_visible()
    accessible(driver, "driver's page, offer counting down")
    accessible(board, "board, offer counting down")
    offer.get_by_role("button", name="Accept").click()
    expect(driver.get_by_role("status")).to_contain_text(
        f"You accepted stock request {request_id}"
    )
    expect(offer).to_have_count(0)

    row = board.locator(f"#request-{request_id}")
    expect(row).to_have_attribute("data-status", "ASSIGNED")
    expect(row).to_contain_text("Sunil")
    screenshot(driver, "driver-offer-accepted")
    screenshot(board, "eic-board-offer-accepted")
    accessible(driver, "driver's page, offer accepted")
    accessible(board, "board, offer accepted")

    # Past the deadline the sweeper leaves an accepted request alone.
    board.wait_for_timeout((TIMEOUT + 1) * 1000)
    expect(row).to_have_attribute("data-status", "ASSIGNED")
    expect(notices).to_have_count(earlier_notices)


def test_pages_refuse_wrong_roles_and_bad_input_with_4xx(browser, example, sign_in):
    from playwright.sync_api import expect

    anonymous = browser.new_context(base_url=example.base)
    response = anonymous.request.get("/dispatch/board/", max_redirects=0)
    assert response.status == 302
    assert response.headers["location"].startswith("/accounts/login/?next=")
    anonymous.close()

    eic = sign_in("eic.kondli")
    driver = sign_in("ravi")
    pending = eic.locator("tr[data-status=PENDING]").first.get_attribute("id")
    pending = pending.removeprefix("request-")
    other_station = example.demo["other_station_request"]
    ravi = str(example.demo["drivers"]["ravi"])

    # Each role is kept to its own page, as the API's permission classes do.
    assert driver.context.request.get("/dispatch/board/").status == 403
    assert driver.context.request.get("/dispatch/board/live/").status == 403
    assert eic.context.request.get("/dispatch/driver/").status == 403
    assert post(driver, f"/dispatch/requests/{pending}/assign/", {}).status == 403
    assert post(eic, f"/dispatch/driver/offers/{pending}/accept/", {}).status == 403
    assert (
        eic.context.request.get(f"/dispatch/requests/{pending}/assign/").status == 405
    )

    # The EIC: another station's request, malformed input, a missing request.
    assign = "/dispatch/requests/{}/assign/"
    assert (
        post(eic, assign.format(other_station), {"target_driver": ravi}).status == 403
    )
    assert post(eic, assign.format(pending), {"target_driver": ""}).status == 400
    assert post(eic, assign.format(pending), {"target_driver": "x'; --"}).status == 400
    assert post(eic, assign.format(pending), {"target_driver": "999999"}).status == 400
    assert post(eic, assign.format(999999), {"target_driver": ravi}).status == 404
    bad_mode = {"target_driver": ravi, "assignment_mode": "TELEPATHY"}
    assert post(eic, assign.format(pending), bad_mode).status == 400

    # The driver: answers to nothing, malformed answers, a missing request.
    accept = f"/dispatch/driver/offers/{pending}/accept/"
    assert post(driver, accept, {"attempt": "one"}).status == 400
    assert post(driver, accept, {"attempt": "0"}).status == 400
    refused = post(driver, accept, {"attempt": "1"})
    assert refused.status == 409
    assert "There is no active offer" in refused.text()
    reject = "/dispatch/driver/offers/999999/reject/"
    assert post(driver, reject, {"attempt": "1"}).status == 404
    long_reason = {"attempt": "1", "reason": "x" * 501}
    assert (
        post(driver, f"/dispatch/driver/offers/{pending}/reject/", long_reason).status
        == 400
    )

    # An offer made to someone else is not yours to answer; twice offered is 409.
    assert post(eic, assign.format(pending), {"target_driver": ravi}).status == 303
    sunil = sign_in("sunil")
    assert post(sunil, accept, {"attempt": "1"}).status == 403
    assert post(eic, assign.format(pending), {"target_driver": ravi}).status == 409
    # Nothing above changed the row but the one offer.
    row = eic.locator(f"#request-{pending}")
    expect(row).to_have_attribute("data-status", "ASSIGNING")
    expect(row).to_contain_text("Ravi")
