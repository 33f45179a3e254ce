"""Firebase Cloud Messaging through firebase-admin 7.x (extra ``fcm``).

Configure it in ``ASSIGNMENT_TIMEOUT_NOTIFIERS``::

    "push": {
        "BACKEND": "django_assignment_timeout.notifiers.fcm.FCMNotifier",
        "OPTIONS": {
            "credentials": "/etc/secrets/firebase.json",  # or omit: GOOGLE_APPLICATION_CREDENTIALS
            "token_resolver": "logistics.push.tokens_for",
            "http_timeout": 10,
        },
    }

Options:

* ``credentials``: a service-account JSON file path (or its parsed dict).
  Without it (and without ``app_name``) the SDK's application default
  credentials are used, i.e. ``GOOGLE_APPLICATION_CREDENTIALS``.
* ``app_name``: use an already initialised ``firebase_admin`` app by name
  instead (its own ``httpTimeout`` then applies).
* ``project_id``: override the project id the credentials name.
* ``token_resolver``: a callable or its dotted path,
  ``resolver(recipients: list) -> dict[recipient, list[str]]``, called once per
  batch with every distinct recipient. The default: a string recipient is
  itself a token; an object's ``fcm_tokens`` (iterable or method) or
  ``fcm_token`` attribute gives its tokens.
* ``http_timeout``: seconds per HTTP call (default 10; the SDK's own is 120).
* ``target``: ``"token"`` (registration tokens, the default) or ``"fid"``
  (Firebase installation ids).
* ``android_priority``: ``"high"`` (default) or ``"normal"``.
* ``max_concurrency``: sends in flight at once (default 100).
* ``transport``: ``"threads"`` (default: ``messaging.send`` on a pool of
  ``max_concurrency`` threads kept for the process) or ``"async"``
  (``send_each_async`` over HTTP/2 on one event loop per process); see
  :mod:`.concurrent` and the measured figures in the benchmarks page.
* ``ended_offer_ttl``: seconds FCM keeps the message that ends an offer for
  an offline device (default 86400, one day).
* ``fcm_url``: for tests only, the send URL template (``{0}`` = project id)
  of a fake FCM server such as the one in the library's own tests.

Each (notification, token) is one FCM message, sent at most
``max_concurrency`` at a time by threads or an event loop kept for the
process (:mod:`.concurrent`; never a thread per message), in chunks of at
most 500. Messages carry the notification's data, its collapse key as
``android.collapse_key``, the Android notification tag and the
``apns-collapse-id`` header; an offer's message lives until its deadline
(:mod:`.messages`), and one whose deadline has passed is not sent
(:attr:`~django_assignment_timeout.notifiers.base.Status.EXPIRED`). The
SDK's in-call retries of 500/503 are turned off: the relay retries durably
with backoff instead.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from typing import TYPE_CHECKING, Any

import firebase_admin
import google.auth.exceptions
from django.core.checks import Error
from django.utils.module_loading import import_string
from firebase_admin import credentials, messaging
from firebase_admin import exceptions as firebase_exceptions

from django_assignment_timeout import signals
from django_assignment_timeout.after_commit import send_signal
from django_assignment_timeout.exceptions import ConfigurationError
from django_assignment_timeout.notifiers.base import (
    BaseNotifier,
    Notification,
    RecipientResult,
    Status,
    recipient_key,
)
from django_assignment_timeout.notifiers.fcm.app import (
    DEFAULT_CONCURRENCY,
    DEFAULT_HTTP_TIMEOUT,
    async_client_ready,
    make_app,
    refresh_token,
)
from django_assignment_timeout.notifiers.fcm.checks import sending_option_errors
from django_assignment_timeout.notifiers.fcm.concurrent import TRANSPORTS
from django_assignment_timeout.notifiers.fcm.messages import (
    DEFAULT_ENDED_OFFER_TTL,
    build_message,
)
from django_assignment_timeout.notifiers.fcm.responses import classify, combine

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from django.core.checks import CheckMessage

logger = logging.getLogger("django_assignment_timeout.notifiers.fcm")

__all__ = ["MAX_CHUNK", "FCMNotifier", "default_token_resolver"]

#: Messages per call (send_each_async refuses more than 500).
MAX_CHUNK = 500
_CHECK = "assignment_timeout"


def default_token_resolver(recipients: list[Any]) -> dict[Any, list[str]]:
    """Strings are tokens; objects give ``fcm_tokens`` or ``fcm_token``."""
    tokens: dict[Any, list[str]] = {}
    for recipient in recipients:
        if isinstance(recipient, str):
            found: Any = [recipient]
        elif hasattr(recipient, "fcm_tokens"):
            found = recipient.fcm_tokens
            found = found() if callable(found) else found
        else:
            single = getattr(recipient, "fcm_token", None)
            found = [single] if single else []
        tokens[recipient] = [t for t in found if isinstance(t, str) and t]
    return tokens


class FCMNotifier(BaseNotifier):
    """Sends notifications as FCM pushes, one message per device token."""

    known_options = frozenset(
        {
            "credentials",
            "app_name",
            "project_id",
            "token_resolver",
            "http_timeout",
            "target",
            "android_priority",
            "fcm_url",
            "max_concurrency",
            "ended_offer_ttl",
            "transport",
        }
    )

    def __init__(self, alias: str, options: dict[str, Any] | None = None) -> None:
        super().__init__(alias, options)
        self._app: firebase_admin.App | None = None
        self._lock = threading.Lock()

    # -- configuration ------------------------------------------------------

    def check(self) -> list[CheckMessage]:
        """Options, the credentials file, the resolver and the timeout."""
        errors = super().check()
        where = f"Notifier {self.alias!r} (FCM)"
        creds = self.options.get("credentials")
        if creds is not None and self.options.get("app_name"):
            errors.append(
                Error(
                    f"{where}: give either credentials or app_name, not both.",
                    hint="app_name uses an app your project already initialised.",
                    id=f"{_CHECK}.E035",
                )
            )
        elif isinstance(creds, (str, os.PathLike)):
            try:
                with open(creds) as file:
                    json.load(file)
            except (OSError, ValueError) as err:
                errors.append(
                    Error(
                        f"{where}: can not read the service-account file {creds!r}: "
                        f"{type(err).__name__}.",
                        hint="Download a service-account key from the Firebase console.",
                        id=f"{_CHECK}.E035",
                    )
                )
        elif creds is not None and not isinstance(creds, (dict, credentials.Base)):
            errors.append(
                Error(
                    f"{where}: credentials must be a file path or a dict.",
                    hint="Point it at the service-account JSON file.",
                    id=f"{_CHECK}.E035",
                )
            )
        try:
            self._resolver()
        except ConfigurationError as err:
            errors.append(
                Error(
                    str(err),
                    hint="Use a callable or its dotted path.",
                    id=f"{_CHECK}.E036",
                )
            )
        timeout = self.options.get("http_timeout", DEFAULT_HTTP_TIMEOUT)
        if (
            isinstance(timeout, bool)
            or not isinstance(timeout, (int, float))
            or timeout <= 0
        ):
            errors.append(
                Error(
                    f"{where}: http_timeout must be a positive number, not {timeout!r}.",
                    hint="Seconds per HTTP call, e.g. 10.",
                    id=f"{_CHECK}.E037",
                )
            )
        errors += sending_option_errors(where, self.options)
        for name, allowed in (
            ("target", ("token", "fid")),
            ("android_priority", ("high", "normal")),
        ):
            if name in self.options and self.options[name] not in allowed:
                errors.append(
                    Error(
                        f"{where}: {name} must be one of {allowed}, not {self.options[name]!r}.",
                        hint=f"Use {allowed[0]!r} unless you know you need another.",
                        id=f"{_CHECK}.E038",
                    )
                )
        return errors

    def _resolver(self) -> Callable[[list[Any]], Any]:
        resolver = self.options.get("token_resolver", default_token_resolver)
        if isinstance(resolver, str):
            try:
                resolver = import_string(resolver)
            except ImportError as err:
                raise ConfigurationError(
                    f"Notifier {self.alias!r} (FCM): can not import token_resolver "
                    f"{self.options['token_resolver']!r}: {err}"
                ) from err
        if not callable(resolver):
            raise ConfigurationError(
                f"Notifier {self.alias!r} (FCM): token_resolver is not callable."
            )
        return resolver  # type: ignore[no-any-return]

    def app(self) -> firebase_admin.App:
        """The firebase app this backend sends with (created on first use)."""
        with self._lock:
            if self._app is None:
                self._app = make_app(self.alias, self.options)
            else:
                async_client_ready(self._app, self.options)
            return self._app

    # -- sending ------------------------------------------------------------

    def send(self, notifications: Sequence[Notification]) -> list[RecipientResult]:
        """Send every (notification, recipient token) and map FCM's answers."""
        distinct: dict[str, Any] = {}
        for notification in notifications:
            for recipient in notification.recipients:
                distinct.setdefault(recipient_key(recipient), recipient)
        resolved = self._resolver()(list(distinct.values())) if distinct else {}
        # One entry per message: (notification index, recipient key, token).
        targets: list[tuple[int, str, str]] = []
        messages: list[messaging.Message] = []
        expired: set[int] = set()
        for index, notification in enumerate(notifications):
            seconds_left = notification.seconds_left()
            if seconds_left is not None and seconds_left <= 0:
                # The offer ended before we got here: a late "new offer" is
                # worse than none, and it is final (never retried).
                expired.add(index)
                continue
            for recipient in notification.recipients:
                key = recipient_key(recipient)
                for token in resolved.get(recipient, ()) if resolved else ():
                    if isinstance(token, str) and token:
                        targets.append((index, key, token))
                        messages.append(self._message(notification, token))
        outcomes = self._send_all(messages)
        per_recipient: dict[
            tuple[int, str], list[tuple[Status, float | None, str, str]]
        ] = {}
        for (index, key, token), (status, retry_after, error, code) in zip(
            targets, outcomes, strict=False
        ):
            per_recipient.setdefault((index, key), []).append(
                (status, retry_after, error, code)
            )
            if status == Status.INVALID_RECIPIENT:
                send_signal(
                    signals.fcm_token_invalid,
                    type(self),  # type: ignore[arg-type]
                    token=token,
                    recipient=distinct[key],
                    error_code=code,
                    notifier=self.alias,
                )
        results = []
        for index, notification in enumerate(notifications):
            for recipient in notification.recipients:
                if index in expired:
                    results.append(
                        RecipientResult(
                            notification,
                            recipient,
                            Status.EXPIRED,
                            error="the offer's deadline passed before it was sent",
                            code="EXPIRED",
                        )
                    )
                    continue
                tried = per_recipient.get((index, recipient_key(recipient)), [])
                results.append(combine(notification, recipient, tried))
        return results

    def _message(self, notification: Notification, token: str) -> messaging.Message:
        return build_message(
            notification,
            token,
            # Measured again per message: a long batch eats into the time left.
            seconds_left=notification.seconds_left(),
            priority=self.options.get("android_priority", "high"),
            target=self.options.get("target", "token"),
            ended_offer_ttl=self.options.get(
                "ended_offer_ttl", DEFAULT_ENDED_OFFER_TTL
            ),
        )

    def _send_all(
        self, messages: list[messaging.Message]
    ) -> list[tuple[Status, float | None, str, str]]:
        outcomes: list[tuple[Status, float | None, str, str]] = []
        if not messages:
            return outcomes
        app = self.app()
        auth_error = refresh_token(self.alias, app)
        if auth_error:
            return [(Status.RETRY, None, auth_error, "AUTH")] * len(messages)
        limit = int(self.options.get("max_concurrency", DEFAULT_CONCURRENCY))
        timeout = float(self.options.get("http_timeout", DEFAULT_HTTP_TIMEOUT))
        for start in range(0, len(messages), MAX_CHUNK):
            chunk = messages[start : start + MAX_CHUNK]
            try:
                send = TRANSPORTS[self.options.get("transport", "threads")]
                responses = send(
                    app,
                    chunk,
                    limit=limit,
                    # Every request has its own timeout; this only stops a
                    # wedged loop from holding the relay for ever.
                    timeout=timeout * (len(chunk) // limit + 2),
                )
            except TimeoutError as err:
                error = f"FCM call failed: {err}"
                logger.warning("Notifier %r: %s", self.alias, error)
                outcomes.extend(
                    [(Status.RETRY, None, error[:500], "TIMEOUT")] * len(chunk)
                )
                continue
            except (
                firebase_exceptions.FirebaseError,
                google.auth.exceptions.GoogleAuthError,
            ) as err:
                # Only a failed token fetch escapes a transport (each other
                # failure is its message's answer): every message of every
                # chunk would fail alike.
                cause = getattr(err, "cause", None) or err
                error = f"FCM authentication failed ({type(cause).__name__}): {cause}"
                logger.error("Notifier %r: %s", self.alias, error)
                return outcomes + [(Status.RETRY, None, error[:500], "AUTH")] * (
                    len(messages) - len(outcomes)
                )
            except ValueError as err:
                outcomes.extend(
                    [(Status.FAILED, None, f"invalid message: {err}", "INVALID")]
                    * len(chunk)
                )
                continue
            outcomes.extend(classify(response) for response in responses)
        return outcomes
