"""One JSON error shape for the API: ``{"code": ..., "detail": ...}``.

The library's refused transitions carry their own HTTP status and a stable
code (410 offer expired, 403 not offered to you, 409 taken, 404 unknown), so
they map here without a lookup table. Validation errors keep DRF's
field-by-field messages under ``fields``.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from django_assignment_timeout import TransitionError
from django_assignment_timeout.exceptions import InvalidArgument


def not_found(request: Any, exception: Exception) -> Any:
    """``handler404``: a URL no route matches (``/api/eic/stock-requests/-1/status/``)
    gets the API's JSON error under ``/api/``, Django's page elsewhere."""
    from django.http import JsonResponse
    from django.views.defaults import page_not_found

    if request.path.startswith("/api/"):
        return JsonResponse({"code": "not_found", "detail": "Not found."}, status=404)
    return page_not_found(request, exception)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Map library and DRF exceptions to JSON; anything else stays a server error."""
    if isinstance(exc, TransitionError):
        return Response(
            {"code": exc.code, "detail": exc.message}, status=exc.http_status
        )
    if isinstance(exc, InvalidArgument):
        return Response(
            {"code": "invalid", "detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST
        )
    # DRF turns Django's Http404 / PermissionDenied into its own; do it first
    # so they get the same body.
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = {
            "code": "invalid",
            "detail": "The request has invalid fields.",
            "fields": response.data,
        }
    elif isinstance(exc, exceptions.APIException):
        codes = exc.get_codes()
        response.data = {
            "code": codes if isinstance(codes, str) else "error",
            "detail": str(exc.detail),
        }
    return response
