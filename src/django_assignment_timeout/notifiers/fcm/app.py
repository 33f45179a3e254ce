"""The firebase-admin app an FCM backend sends with: credentials, transport, token.

Private SDK internals are reached here and only here: the SDK has no
supported endpoint override (tests point it at a fake FCM server), and its
HTTP clients retry 500/503 inside the call, which the relay does better,
durably, with backoff. The async (httpx) client is rebuilt without those
retries, with a connection pool as large as the sends in flight, and anew in
a forked child (an httpx client can not cross event loops).
"""

from __future__ import annotations

import itertools
import logging
import os
from typing import Any

import firebase_admin
import google.auth.exceptions
import google.auth.transport.requests
import httpx
import requests.adapters
from firebase_admin import _http_client, credentials, messaging
from urllib3.util import retry as urllib3_retry

from django_assignment_timeout.exceptions import ConfigurationError

logger = logging.getLogger("django_assignment_timeout.notifiers.fcm")

__all__ = [
    "DEFAULT_CONCURRENCY",
    "DEFAULT_HTTP_TIMEOUT",
    "REAL_FCM_HOST",
    "async_client_ready",
    "make_app",
    "refresh_token",
]

DEFAULT_HTTP_TIMEOUT = 10.0
#: Sends in flight at once (FCM's HTTP/2 streams per connection).
DEFAULT_CONCURRENCY = 100
# The process an app's async client was built in.
_CLIENT_PID = "_assignment_timeout_client_pid"
REAL_FCM_HOST = "https://fcm.googleapis.com"
_app_numbers = itertools.count(1)


def make_app(alias: str, options: dict[str, Any]) -> firebase_admin.App:
    """The app named by ``app_name``, or a new one from the backend's options."""
    name = options.get("app_name")
    if name:
        try:
            app = firebase_admin.get_app(name)
        except ValueError as err:
            raise ConfigurationError(
                f"Notifier {alias!r} (FCM): no firebase app named {name!r} is initialised."
            ) from err
    else:
        # One app per backend instance: settings changes build new ones.
        name = f"django_assignment_timeout:{alias}:{next(_app_numbers)}"
        app_options: dict[str, Any] = {
            "httpTimeout": float(options.get("http_timeout", DEFAULT_HTTP_TIMEOUT))
        }
        if options.get("project_id"):
            app_options["projectId"] = options["project_id"]
        creds = options.get("credentials")
        try:
            if creds is None:
                cred: credentials.Base = credentials.ApplicationDefault()
            elif isinstance(creds, credentials.Base):
                cred = creds
            else:
                # A path (str or os.PathLike, e.g. BASE_DIR / "key.json") or a dict.
                cred = credentials.Certificate(
                    os.fspath(creds) if isinstance(creds, os.PathLike) else creds
                )
            app = firebase_admin.initialize_app(cred, app_options, name=name)
        except (OSError, ValueError, google.auth.exceptions.GoogleAuthError) as err:
            # The message names the problem (missing file, not a service
            # account); it never contains the key itself.
            raise ConfigurationError(
                f"Notifier {alias!r} (FCM): invalid credentials: {err}"
            ) from err
    _tune_transport(alias, options, app)
    return app


def _tune_transport(
    alias: str, options: dict[str, Any], app: firebase_admin.App
) -> None:
    try:
        service = messaging._get_messaging_service(app)
        session = service._client.session
    except ValueError as err:
        raise ConfigurationError(f"Notifier {alias!r} (FCM): {err}") from err
    prefix = REAL_FCM_HOST
    url = options.get("fcm_url")
    if url:
        service._fcm_url = url.format(app.project_id)
        prefix = "/".join(service._fcm_url.split("/")[:3])
    retry = urllib3_retry.Retry(
        connect=1, read=1, status=0, raise_on_status=False, allowed_methods=None
    )
    adapter = requests.adapters.HTTPAdapter(
        pool_connections=10, pool_maxsize=100, max_retries=retry
    )
    session.mount(prefix, adapter)
    _rebuild_async_client(
        service, int(options.get("max_concurrency", DEFAULT_CONCURRENCY))
    )


def async_client_ready(app: firebase_admin.App, options: dict[str, Any]) -> None:
    """Rebuild the app's async client in a forked child (it holds the parent's loop)."""
    service = messaging._get_messaging_service(app)
    if getattr(service, _CLIENT_PID, None) != os.getpid():
        _rebuild_async_client(
            service, int(options.get("max_concurrency", DEFAULT_CONCURRENCY))
        )


def _rebuild_async_client(service: Any, limit: int) -> None:
    wrapper = service._async_client
    transport = httpx.AsyncHTTPTransport(
        http2=True,
        # FCM negotiates HTTP/2 in TLS (ALPN). A plaintext fcm_url is a local
        # fake (tests, benchmarks): there HTTP/2 needs prior knowledge.
        http1=not service._fcm_url.startswith("http://"),
        retries=0,
        limits=httpx.Limits(max_connections=limit, max_keepalive_connections=limit),
    )
    wrapper._async_client = httpx.AsyncClient(
        http2=True,
        timeout=wrapper.timeout,
        headers=wrapper._headers,
        auth=_http_client.GoogleAuthCredentialFlow(service._credential),
        transport=transport,
    )
    setattr(service, _CLIENT_PID, os.getpid())


def refresh_token(alias: str, app: firebase_admin.App) -> str:
    """Fetch the access token once, before send_each fans out to threads.

    Otherwise each of up to 500 threads signs a JWT and asks for a token
    itself, and when the token endpoint is down each one retries with
    backoff. Returns a secret-free error message, or "" when all is well.
    """
    credential = app.credential.get_credential()
    if credential.valid:
        return ""
    try:
        credential.refresh(google.auth.transport.requests.Request())
    except google.auth.exceptions.GoogleAuthError as err:
        error = f"FCM authentication failed ({type(err).__name__}): {err}"[:500]
        logger.error("Notifier %r: %s", alias, error)
        return error
    return ""
