"""Demo data with known credentials, for the example runner and for trying the API.

Idempotent: running it twice leaves one copy of everything and resets the
demo passwords and API tokens to the values below.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import transaction
from rest_framework.authtoken.models import Token

from logistics.models import DBS, EIC, DeviceToken, Driver, StockRequest


@dataclass(frozen=True)
class DemoUser:
    """One demo login: username, password and API token."""

    username: str
    password: str
    token: str
    role: str


EIC_USER = DemoUser(
    "eic.kondli", "gts-demo", "eic0kondli0demo0token0000000000000000000", "EIC"
)
DRIVERS = (
    (
        DemoUser(
            "ravi", "gts-demo", "driver0ravi0demo0token00000000000000000", "driver"
        ),
        "Ravi",
    ),
    (
        DemoUser(
            "sunil", "gts-demo", "driver0sunil0demo0token0000000000000000", "driver"
        ),
        "Sunil",
    ),
    (
        DemoUser(
            "amit", "gts-demo", "driver0amit0demo0token00000000000000000", "driver"
        ),
        "Amit",
    ),
)
#: A staff login for the admin (/admin/): the demo's data, its offers and events.
ADMIN_USER = DemoUser(
    "admin", "gts-demo", "admin0demo0token000000000000000000000000", "admin"
)
STATIONS = (("KONDLI", "DBS Kondli"), ("OKHLA", "DBS Okhla"))


@dataclass
class Demo:
    """What :func:`load` created: the users and the first pending stock request."""

    users: list[DemoUser]
    dbs: DBS
    drivers: dict[str, Driver]
    pending_request: StockRequest


def _user(demo: DemoUser, *, staff: bool = False) -> object:
    user, _ = get_user_model().objects.get_or_create(username=demo.username)
    user.set_password(demo.password)
    user.is_staff = user.is_superuser = staff
    user.save()
    Token.objects.filter(user=user).exclude(key=demo.token).delete()
    Token.objects.get_or_create(user=user, key=demo.token)
    return user


@transaction.atomic
def load() -> Demo:
    """Create (or refresh) the demo EIC, drivers, stations and stock requests."""
    stations = {
        code: DBS.objects.get_or_create(code=code, defaults={"name": name})[0]
        for code, name in STATIONS
    }
    kondli = stations["KONDLI"]
    _user(ADMIN_USER, staff=True)
    eic_user = _user(EIC_USER)
    EIC.objects.get_or_create(user=eic_user, defaults={"dbs": kondli})
    DeviceToken.objects.get_or_create(token="demo-fcm-token-eic-kondli", user=eic_user)
    drivers = {}
    for demo, name in DRIVERS:
        user = _user(demo)
        drivers[demo.username], _ = Driver.objects.get_or_create(
            user=user, defaults={"name": name}
        )
        # All serve Kondli, so the board's Auto-dispatch has someone to offer to.
        drivers[demo.username].stations.add(kondli)
        DeviceToken.objects.get_or_create(
            token=f"demo-fcm-token-{demo.username}", user=user
        )
    for quantity in (1200, 800, 450):
        StockRequest.objects.get_or_create(dbs=kondli, quantity_kg=quantity)
    StockRequest.objects.get_or_create(dbs=stations["OKHLA"], quantity_kg=900)
    pending = StockRequest.objects.pending().filter(dbs=kondli).order_by("id").first()
    if pending is None:
        pending = StockRequest.objects.create(dbs=kondli, quantity_kg=1000)
    return Demo(
        users=[EIC_USER, *(demo for demo, _ in DRIVERS), ADMIN_USER],
        dbs=kondli,
        drivers=drivers,
        pending_request=pending,
    )
