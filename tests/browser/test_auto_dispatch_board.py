"""Auto mode on the EIC's board, in a real browser, at desktop and phone size.

The EIC starts auto-dispatch; the demo's three Kondli drivers are offered the
request in turn (Amit, Ravi, Sunil: never offered yet, so in name order). Amit
and Ravi let their offers expire, Sunil accepts; the board shows the chain as
it goes and tells the EIC nothing to reassign.
"""

from __future__ import annotations

import pytest

from tests.browser.axe import SIZES
from tests.browser.server import TIMEOUT

pytestmark = pytest.mark.timeout(120)

# An offer runs TIMEOUT seconds; then the sweep (every 0.5 s), the relay's
# step and the board's refresh (every second) follow.
STEP_MS = (TIMEOUT + 6) * 1000


@pytest.fixture(params=sorted(SIZES))
def size(request):
    return request.param


def sign_in(browser, example, username, viewport):
    context = browser.new_context(base_url=example.base, viewport=viewport)
    page = context.new_page()
    page.set_default_timeout(8_000)
    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", "gts-demo")
    page.click("button[type=submit]")
    page.wait_for_load_state()
    return page


def test_auto_dispatch_through_two_expiries_to_the_third_driver(
    browser, example, screenshot, size, axe_check
):
    from playwright.sync_api import expect

    width, height = SIZES[size]
    viewport = {"width": width, "height": height}
    board = sign_in(browser, example, "eic.kondli", viewport)
    axe_check(board, "board")
    request_id = (
        board.locator("tr[data-status=PENDING]")
        .first.get_attribute("id")
        .removeprefix("request-")
    )
    # The control is named for its request, for a screen reader.
    board.get_by_role("button", name=f"Auto-dispatch request {request_id}").click()
    expect(board.get_by_role("status")).to_contain_text(
        f"Auto-dispatching request {request_id}: offered to Amit"
    )
    offers = board.get_by_role("list", name=f"Offers of request {request_id}")
    expect(offers).to_contain_text("Amit: holds it now")
    axe_check(board, "board, auto-dispatch started")

    # Amit says nothing: Ravi gets it, then Ravi says nothing: Sunil gets it.
    expect(offers).to_contain_text("Ravi: holds it now", timeout=STEP_MS)
    expect(offers).to_contain_text("Amit: let it expire")
    expect(offers).to_contain_text("Sunil: holds it now", timeout=STEP_MS)
    expect(offers).to_contain_text("Ravi: let it expire")
    screenshot(board, f"eic-board-auto-dispatch-third-driver-{size}")
    axe_check(board, "board, auto-dispatch at the third driver")

    sunil = sign_in(browser, example, "sunil", viewport)
    offer = sunil.locator(f"#offer-{request_id}")
    offer.wait_for()
    axe_check(sunil, "driver's page, auto-dispatched offer")
    offer.get_by_role("button", name="Accept").click()
    expect(sunil.get_by_role("status")).to_contain_text(
        f"You accepted stock request {request_id}"
    )

    row = board.locator(f"#request-{request_id}")
    expect(row).to_have_attribute("data-status", "ASSIGNED")
    expect(offers.get_by_role("listitem")).to_have_text(
        ["Amit: let it expire", "Ravi: let it expire", "Sunil: accepted"]
    )
    expect(board.locator(f"#chain-{request_id}")).to_contain_text("Auto-dispatched")
    # The chain moved on by itself: no "Please reassign" for the EIC.
    expect(
        board.locator("#notices .notice").filter(has_text=f"Request {request_id}:")
    ).to_have_count(0)
    # The page itself stays within the phone's width; the table scrolls.
    overflow = board.evaluate(
        "() => document.documentElement.scrollWidth - window.innerWidth"
    )
    assert overflow <= 0, overflow
    screenshot(board, f"eic-board-auto-dispatch-accepted-{size}")
    axe_check(board, "board, auto-dispatch accepted")
    axe_check(sunil, "driver's page, offer accepted")
    sunil.context.close()
    board.context.close()


def test_stop_auto_dispatch_on_the_board(browser, example, screenshot, size, axe_check):
    from playwright.sync_api import expect

    width, height = SIZES[size]
    board = sign_in(browser, example, "eic.kondli", {"width": width, "height": height})
    request_id = (
        board.locator("tr[data-status=PENDING]")
        .first.get_attribute("id")
        .removeprefix("request-")
    )
    board.get_by_role("button", name=f"Auto-dispatch request {request_id}").click()
    chain = board.locator(f"#chain-{request_id}")
    expect(chain).to_contain_text("Auto-dispatching")
    stop = board.get_by_role(
        "button", name=f"Stop auto-dispatch for request {request_id}"
    )
    expect(stop).to_have_text("Stop auto-dispatch")
    # A touch target like the board's other buttons: 44px at least on a phone.
    if size == "phone":
        for button in board.locator("main button").all():
            box = button.bounding_box()
            assert box and box["height"] >= 44, (button.inner_text(), box)
    axe_check(board, "board, auto-dispatch running with its Stop button")

    stop.click()
    expect(board.get_by_role("status")).to_contain_text(
        f"Stopped auto-dispatching request {request_id}: Amit's offer stays open"
    )
    expect(chain).to_contain_text("Auto-dispatch stopped")
    offers = board.get_by_role("list", name=f"Offers of request {request_id}")
    expect(offers).to_contain_text("Amit: holds it now")
    expect(stop).to_have_count(0)
    screenshot(board, f"eic-board-auto-dispatch-stopped-{size}")
    axe_check(board, "board, auto-dispatch stopped")

    # Amit lets it expire: the stopped chain offers it to nobody else, and the
    # request is the EIC's again, with a notice to reassign.
    row = board.locator(f"#request-{request_id}")
    expect(row).to_have_attribute("data-status", "PENDING", timeout=STEP_MS)
    expect(offers.get_by_role("listitem")).to_have_text(["Amit: let it expire"])
    expect(
        board.locator("#notices .notice").filter(has_text=f"Request {request_id}:")
    ).to_contain_text("Amit did not accept the trip")
    expect(chain).to_contain_text("Auto-dispatch stopped")
    overflow = board.evaluate(
        "() => document.documentElement.scrollWidth - window.innerWidth"
    )
    assert overflow <= 0, overflow
    axe_check(board, "board, stopped chain's offer expired")
    board.context.close()
