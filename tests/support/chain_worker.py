"""Receivers a Celery worker of the broker-outage chain test connects as it starts.

The worker imports this module when ``CHILD_IMPORTS`` names it
(``tests.support.celery_app``); two settings of the worker
(``CHILD_SETTINGS``) say what it does:

``TESTAPP_CRASH_FLAG``
    a path. Once that file exists, the first ``assignment_expired`` in any
    worker kills that worker with SIGKILL, right after its expiry committed
    (the receiver is connected first, so nothing after the expiry ran): the
    whole process group, i.e. the worker, its pool and its embedded beat, as
    ``Child.crash`` does. Once only: the worker that claims
    ``<flag>.claimed`` dies, and writes there when, its pid, and
    the model and number of rows its expiry ended.
``TESTAPP_HAND_CHAIN``
    true: also connect ``tests.support.chain_crash.offer_next_by_hand``,
    the chain an adopter writes today, after that one.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

from django.conf import settings

from django_assignment_timeout import signals
from tests.support.chain_crash import offer_next_by_hand


def die_once_flagged(sender: Any, expired: list[Any], **kwargs: Any) -> None:
    flag = getattr(settings, "TESTAPP_CRASH_FLAG", None)
    if not flag or not os.path.exists(flag):
        return
    try:  # exclusive create: only one process ever dies
        claim = os.open(flag + ".claimed", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return
    line = f"{time.time():.3f} {os.getpid()} {sender._meta.label} {len(expired)}\n"
    os.write(claim, line.encode())
    os.fsync(claim)
    os.killpg(os.getpgrp(), signal.SIGKILL)


signals.assignment_expired.connect(die_once_flagged, weak=False)
if getattr(settings, "TESTAPP_HAND_CHAIN", False):
    signals.assignment_expired.connect(offer_next_by_hand, weak=False)
