"""Signed webhooks: each notification POSTed as JSON to a service of your own.

Configure it in ``ASSIGNMENT_TIMEOUT_NOTIFIERS``::

    "hook": {
        "BACKEND": "django_assignment_timeout.notifiers.webhook.WebhookNotifier",
        "OPTIONS": {"url": "https://dispatch.example.com/hooks/assignments",
                    "secret": os.environ["ASSIGNMENT_WEBHOOK_SECRET"]},
    }

Options:

* ``url`` (required): where to POST; ``http`` or ``https``. Redirects are
  not followed (a POST that is redirected loses its body): give the final URL.
* ``secret`` (required): the HMAC key, a string, or a list of strings while
  you rotate keys (each signs; the receiver accepts any it knows).
* ``timeout``: seconds per request (default 10).
* ``headers``: extra request headers, such as an ``Authorization``.

The body is JSON: ``{"event_id", "title", "body", "data", "collapse_key",
"recipients"}`` (recipients as ``"app_label.model:pk"`` keys). Its headers:

* ``X-Assignment-Timeout-Id``: the same for every retry of the same
  notification, so the receiver can drop a duplicate;
* ``X-Assignment-Timeout-Timestamp``: UNIX seconds when it was signed;
* ``X-Assignment-Timeout-Signature``: ``v1=<hex>`` per secret, comma
  separated, where ``<hex>`` is HMAC-SHA256 over ``"<timestamp>.<body>"``.

Answers map to statuses for every recipient of the notification: 2xx is
sent; 408, 429 and 5xx are retried by the relay (after ``Retry-After``, if
the answer has one), as are timeouts and refused connections; any other
4xx, and a redirect, is a failure. After a timeout, a refused connection or
a 429, the rest of the batch is not posted: it is retried with the same
wait, so a hung receiver holds the relay for one timeout, not one per
notification. The secret and the headers' values never
appear in an error or a log record, nor does the URL's query or user info.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import TYPE_CHECKING, Any

from django.core.checks import Error, Warning

from django_assignment_timeout.notifiers.base import (
    BaseNotifier,
    Notification,
    RecipientResult,
    Status,
    recipient_key,
)
from django_assignment_timeout.notifiers.retry_after import parse_retry_after
from django_assignment_timeout.validation import is_positive_number

if TYPE_CHECKING:
    from collections.abc import Sequence
    from email.message import Message

    from django.core.checks import CheckMessage

__all__ = [
    "DEFAULT_TIMEOUT",
    "ID_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "WebhookNotifier",
    "sign",
]

logger = logging.getLogger("django_assignment_timeout.notifiers.webhook")

DEFAULT_TIMEOUT = 10.0
ID_HEADER = "X-Assignment-Timeout-Id"
TIMESTAMP_HEADER = "X-Assignment-Timeout-Timestamp"
SIGNATURE_HEADER = "X-Assignment-Timeout-Signature"
_OWN_HEADERS = frozenset(
    h.lower() for h in (ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER, "Content-Type")
)
_CHECK = "assignment_timeout"
_RETRIED = frozenset({408, 429})
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})
# Answers that hold for the whole receiver, not for one notification: after
# one, the rest of a batch is given back unsent. (A 5xx may be about one
# payload, so it does not stop the others.)
_STOP = frozenset({"TIMEOUT", "CONNECTION", "INVALID_URL", "429"})


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``"<timestamp>.<body>"`` under ``secret``."""
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Hand a 3xx back as an error instead of following it."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class WebhookNotifier(BaseNotifier):
    """POSTs each notification, signed, to one URL."""

    known_options = frozenset({"url", "secret", "timeout", "headers"})

    def __init__(self, alias: str, options: dict[str, Any] | None = None) -> None:
        super().__init__(alias, options)
        # Proxies from the environment apply (urllib's default); redirects do not.
        self._opener = urllib.request.build_opener(_NoRedirects())

    # -- configuration ------------------------------------------------------

    def check(self) -> list[CheckMessage]:
        """The URL, the secret, the timeout and the extra headers."""
        errors = super().check()
        where = f"Notifier {self.alias!r} (webhook)"
        url = self.options.get("url")
        parts = urllib.parse.urlsplit(url) if isinstance(url, str) else None
        if (
            parts is None
            or parts.scheme not in ("http", "https")
            or not parts.hostname
            or _port(parts) is None
        ):
            errors.append(
                Error(
                    f"{where}: url must be an http or https URL.",
                    hint="The receiver's full address, e.g. https://example.com/hooks/assignments.",
                    id=f"{_CHECK}.E085",
                )
            )
        elif parts.username is not None or parts.password is not None:
            # Never shown: the user info is a credential.
            errors.append(
                Error(
                    f"{where}: url must not carry a user name or password.",
                    hint='Send credentials in a header: "headers": {"Authorization": ...}.',
                    id=f"{_CHECK}.E085",
                )
            )
        elif parts.scheme == "http" and parts.hostname not in _LOOPBACK:
            errors.append(
                Warning(
                    f"{where}: url is plain http to {parts.hostname}: notifications "
                    "travel unencrypted.",
                    hint="Use https for anything but a receiver on this machine.",
                    id=f"{_CHECK}.W085",
                )
            )
        secrets = self._secrets()
        if not secrets:
            # Never shown: the value may be a real key with a typo around it.
            errors.append(
                Error(
                    f"{where}: secret must be a non-empty string or a list of them.",
                    hint="Generate one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'",
                    id=f"{_CHECK}.E086",
                )
            )
        elif any(len(s) < 32 for s in secrets):
            errors.append(
                Warning(
                    f"{where}: a secret is shorter than 32 characters.",
                    hint="Generate one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'",
                    id=f"{_CHECK}.W086",
                )
            )
        timeout = self.options.get("timeout", DEFAULT_TIMEOUT)
        if not is_positive_number(timeout):
            errors.append(
                Error(
                    f"{where}: timeout must be a positive number of seconds, not {timeout!r}.",
                    hint="Seconds per request, e.g. 10.",
                    id=f"{_CHECK}.E087",
                )
            )
        headers = self.options.get("headers", {})
        if not isinstance(headers, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
        ):
            errors.append(
                Error(
                    f"{where}: headers must map header names to strings.",
                    hint='e.g. {"Authorization": "Bearer ..."}',
                    id=f"{_CHECK}.E088",
                )
            )
        elif clash := sorted(k for k in headers if k.lower() in _OWN_HEADERS):
            errors.append(
                Error(
                    f"{where}: headers may not set {', '.join(clash)}: the backend does.",
                    hint="Remove them; the receiver checks the signature headers.",
                    id=f"{_CHECK}.E088",
                )
            )
        return errors

    def _secrets(self) -> list[str]:
        secret = self.options.get("secret")
        secrets = [secret] if isinstance(secret, str) else secret
        if not isinstance(secrets, (list, tuple)) or not all(
            isinstance(s, str) and s for s in secrets
        ):
            return []
        return list(secrets)

    # -- sending ------------------------------------------------------------

    def send(self, notifications: Sequence[Notification]) -> list[RecipientResult]:
        """POST each notification; its answer is the result of all its recipients."""
        results: list[RecipientResult] = []
        answer: tuple[Status, float | None, str, str] | None = None
        for notification in notifications:
            if not notification.recipients:
                continue
            if answer is None or answer[3] not in _STOP:
                answer = self._post(notification)
            # else: the receiver is unreachable or asked us to slow down; the
            # rest of the batch is not posted (a hung receiver would otherwise
            # hold the relay for a timeout per notification) and waits too.
            status, retry_after, error, code = answer
            results.extend(
                RecipientResult(
                    notification,
                    recipient,
                    status,
                    retry_after=retry_after,
                    error=error,
                    code=code,
                )
                for recipient in notification.recipients
            )
        return results

    def payload(self, notification: Notification) -> bytes:
        """The JSON body sent for ``notification`` (without anything time-dependent)."""
        return json.dumps(
            {
                "event_id": notification.event_id,
                "title": notification.title,
                "body": notification.body,
                "data": notification.data,
                "collapse_key": notification.collapse_key,
                "recipients": [recipient_key(r) for r in notification.recipients],
            },
            sort_keys=True,
            separators=(",", ":"),
        ).encode()

    def _post(
        self, notification: Notification
    ) -> tuple[Status, float | None, str, str]:
        body = self.payload(notification)
        timestamp = int(time.time())
        signatures = ",".join(f"v1={sign(s, timestamp, body)}" for s in self._secrets())
        headers = {
            **dict(self.options.get("headers", {})),
            "Content-Type": "application/json",
            ID_HEADER: hashlib.sha256(body).hexdigest()[:32],
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: signatures,
        }
        request = urllib.request.Request(
            str(self.options["url"]), data=body, headers=headers, method="POST"
        )
        timeout = float(self.options.get("timeout", DEFAULT_TIMEOUT))
        try:
            with self._opener.open(request, timeout=timeout) as response:
                response.read()
                return _answer(response.status, response.headers)
        except urllib.error.HTTPError as err:
            with err:
                return _answer(err.code, err.headers)
        except (http.client.InvalidURL, ValueError, OverflowError) as err:
            # A URL http.client can not use (user info, a port that is not
            # one): its text repeats the URL, credentials and all, so it is
            # not shown. check() reports these as E085.
            error = f"invalid url for {self._host()} ({type(err).__name__})"
            logger.error("Notifier %r: %s", self.alias, error)
            return Status.RETRY, None, error, "INVALID_URL"
        except (urllib.error.URLError, OSError) as err:
            # Timeouts, refused connections, resets: the relay tries again.
            reason = getattr(err, "reason", err)
            error = f"could not reach {self._host()}: {type(reason).__name__}"
            if isinstance(reason, (str, OSError)) and str(reason):
                error += f" ({_without_secrets(str(reason), self)})"
            logger.warning("Notifier %r: %s", self.alias, error)
            code = "TIMEOUT" if isinstance(reason, TimeoutError) else "CONNECTION"
            return Status.RETRY, None, error[:500], code

    def _host(self) -> str:
        """The URL without user info, query or fragment: safe to log."""
        parts = urllib.parse.urlsplit(str(self.options.get("url", "")))
        port = f":{parts.port}" if _port(parts) else ""
        return f"{parts.scheme}://{parts.hostname}{port}{parts.path}"


def _port(parts: urllib.parse.SplitResult) -> int | None:
    """The URL's port, 0 when it names none, ``None`` when it is not a port."""
    try:
        return parts.port or 0
    except ValueError:
        return None


def _answer(code: int, headers: Message) -> tuple[Status, float | None, str, str]:
    """Map an HTTP status (and its ``Retry-After``) to (status, retry-after, error, code)."""
    if 200 <= code < 300:
        return Status.SENT, None, "", ""
    error = f"HTTP {code}"
    label = str(code)
    if code in _RETRIED or code >= 500:
        return Status.RETRY, parse_retry_after(headers.get("Retry-After")), error, label
    if 300 <= code < 400:
        return (
            Status.FAILED,
            None,
            f"{error}: redirects are not followed; configure the final URL",
            label,
        )
    return Status.FAILED, None, error, label


def _without_secrets(text: str, notifier: WebhookNotifier) -> str:
    """``text`` with every secret and configured header value blanked."""
    headers = notifier.options.get("headers", {})
    hidden = notifier._secrets() + (
        [v for v in headers.values() if isinstance(v, str) and v]
        if isinstance(headers, dict)
        else []
    )
    for value in hidden:
        text = text.replace(value, "***")
    return text
