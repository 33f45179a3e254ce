"""The dispatch pages: an EIC's board and a driver's offers, server-rendered.

They make the API's decisions the API's way: the same permission classes
(``logistics.api.permissions``) and the same single lifecycle call per action,
so a refusal is the library's typed error, shown on the page with its HTTP
status (403, 404, 409, 410) instead of a crash. Each page has a ``live``
twin that returns just the changing part; a few lines of JavaScript in the
base template fetch it every second and tick the countdowns in between.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse, reverse_lazy
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from dispatch import queries
from dispatch.forms import AnswerForm, AssignForm
from django_assignment_timeout.exceptions import TransitionError
from logistics import chains
from logistics.api.permissions import IsDriver, IsEIC, driver_of, eic_of
from logistics.models import Driver, StockRequest


class LoginView(auth_views.LoginView):
    """Sign in; the demo credentials are shown while ``DEBUG`` is on."""

    template_name = "dispatch/login.html"
    next_page = reverse_lazy("dispatch:home")

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        """The login form, plus the demo users in a development setup."""
        context = super().get_context_data(**kwargs)
        if settings.DEBUG:
            from logistics import demo

            context["demo_users"] = [demo.EIC_USER, *(user for user, _ in demo.DRIVERS)]
        return context


class LogoutView(auth_views.LogoutView):
    """Sign out (POST), back to the login page."""

    next_page = reverse_lazy("dispatch:login")


def _see_other(name: str) -> HttpResponseRedirect:
    # 303: the browser follows a POST's answer with a GET, so a reload does
    # not post the offer or the answer again.
    response = HttpResponseRedirect(reverse(name))
    response.status_code = 303
    return response


def _eic(request: HttpRequest) -> Any:
    if not IsEIC().has_permission(request, None):  # type: ignore[arg-type]
        raise PermissionDenied(IsEIC.message)
    return eic_of(request.user)


def _driver(request: HttpRequest) -> Any:
    if not IsDriver().has_permission(request, None):  # type: ignore[arg-type]
        raise PermissionDenied(IsDriver.message)
    return driver_of(request.user)


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """Send each role to its page."""
    if eic_of(request.user) is not None:
        return redirect("dispatch:board")
    if driver_of(request.user) is not None:
        return redirect("dispatch:driver")
    if request.user.is_staff:
        return redirect("admin:index")
    raise PermissionDenied("This account is neither an EIC nor a driver.")


# -- the EIC's board ---------------------------------------------------------


def _board_context(eic: Any, form: AssignForm | None = None) -> dict[str, Any]:
    return {
        "eic": eic,
        "dbs": eic.dbs,
        "rows": queries.board_rows(eic.dbs),
        "notices": queries.board_notices(eic.dbs),
        "drivers": list(Driver.objects.order_by("name")),
        "form": form or AssignForm(),
    }


def _board_page(
    request: HttpRequest, eic: Any, *, error: str = "", status: int = 200, **extra: Any
) -> HttpResponse:
    context = {**_board_context(eic, **extra), "error": error}
    return render(request, "dispatch/board.html", context, status=status)


@login_required
@require_GET
def board(request: HttpRequest) -> HttpResponse:
    """The EIC's stock requests, live countdowns, assign forms and expiry notices."""
    return _board_page(request, _eic(request))


@login_required
@require_GET
def board_live(request: HttpRequest) -> HttpResponse:
    """The board's changing part, fetched every second by the page."""
    return render(request, "dispatch/_board.html", _board_context(_eic(request)))


def _own_request(request: HttpRequest, pk: int) -> StockRequest:
    stock_request = get_object_or_404(StockRequest, pk=pk)
    if not IsEIC().has_object_permission(request, None, stock_request):  # type: ignore[arg-type]
        raise PermissionDenied("This stock request belongs to another station.")
    return stock_request


@login_required
@require_POST
def assign(request: HttpRequest, pk: int) -> HttpResponse:
    """Offer a pending request of the EIC's station to a driver (one lifecycle call)."""
    eic = _eic(request)
    _own_request(request, pk)
    form = AssignForm(request.POST)
    if not form.is_valid():
        return _board_page(
            request, eic, error="Choose a driver to assign.", status=400, form=form
        )
    driver = form.cleaned_data["target_driver"]
    try:
        event = StockRequest.objects.offer(
            pk, driver, assignment_mode=form.cleaned_data["assignment_mode"]
        )
    except TransitionError as err:
        return _board_page(request, eic, error=err.message, status=err.http_status)
    messages.success(
        request,
        f"Offered request {pk} to {driver.name}; they have until "
        f"{timezone.localtime(event.deadline):%H:%M:%S} to accept.",
    )
    return _see_other("dispatch:board")


@login_required
@require_POST
def auto_dispatch(request: HttpRequest, pk: int) -> HttpResponse:
    """Start auto-dispatch for a pending request: the station's free drivers in turn."""
    eic = _eic(request)
    stock_request = _own_request(request, pk)
    try:
        event = stock_request.start_dispatch()
    except TransitionError as err:
        return _board_page(request, eic, error=err.message, status=err.http_status)
    driver = Driver.objects.filter(pk=event.assignee_pk).first()
    messages.success(
        request,
        f"Auto-dispatching request {pk}: offered to "
        f"{driver.name if driver else 'a driver'} first; the "
        "next free driver gets it if they do not accept.",
    )
    return _see_other("dispatch:board")


@login_required
@require_POST
def stop_auto_dispatch(request: HttpRequest, pk: int) -> HttpResponse:
    """Stop a request's running auto-dispatch; its open offer stays open."""
    eic = _eic(request)
    stock_request = _own_request(request, pk)
    try:
        chains.stop(stock_request)
    except TransitionError as err:
        return _board_page(request, eic, error=err.message, status=err.http_status)
    stock_request.refresh_from_db()
    if stock_request.status == StockRequest.Status.ASSIGNING:
        holder = stock_request.target_driver
        outcome = (
            f"{holder.name if holder else 'The driver'}'s offer stays open; if "
            "they do not accept, the request is yours to reassign."
        )
    else:
        outcome = "it is yours to assign."
    messages.success(request, f"Stopped auto-dispatching request {pk}: {outcome}")
    return _see_other("dispatch:board")


# -- the driver's page -------------------------------------------------------


def _driver_context(driver: Any) -> dict[str, Any]:
    return {
        "driver": driver,
        "offers": queries.driver_offers(driver),
        "notices": queries.driver_notices(driver),
    }


def _driver_page(
    request: HttpRequest, driver: Any, *, error: str = "", status: int = 200
) -> HttpResponse:
    context = {**_driver_context(driver), "error": error}
    return render(request, "dispatch/driver.html", context, status=status)


@login_required
@require_GET
def driver_page(request: HttpRequest) -> HttpResponse:
    """The driver's open offers with their countdowns and Accept / Reject."""
    return _driver_page(request, _driver(request))


@login_required
@require_GET
def driver_live(request: HttpRequest) -> HttpResponse:
    """The driver page's changing part, fetched every second by the page."""
    return render(request, "dispatch/_driver.html", _driver_context(_driver(request)))


def _answer(request: HttpRequest, pk: int, *, accept: bool) -> HttpResponse:
    driver = _driver(request)
    form = AnswerForm(request.POST)
    if not form.is_valid():
        return _driver_page(
            request, driver, error="That answer was malformed.", status=400
        )
    attempt = form.cleaned_data["attempt"]
    try:
        if accept:
            StockRequest.objects.accept(pk, driver, attempt=attempt)
        else:
            StockRequest.objects.reject(
                pk, driver, reason=form.cleaned_data["reason"], attempt=attempt
            )
    except TransitionError as err:
        return _driver_page(request, driver, error=err.message, status=err.http_status)
    if accept:
        messages.success(request, f"You accepted stock request {pk}. Drive safely.")
    else:
        messages.info(request, f"You turned down stock request {pk}.")
    return _see_other("dispatch:driver")


@login_required
@require_POST
def accept(request: HttpRequest, pk: int) -> HttpResponse:
    """Accept the offer of request ``pk`` before its deadline (database clock)."""
    return _answer(request, pk, accept=True)


@login_required
@require_POST
def reject(request: HttpRequest, pk: int) -> HttpResponse:
    """Turn down the offer of request ``pk``; it goes back to the EIC as pending."""
    return _answer(request, pk, accept=False)
