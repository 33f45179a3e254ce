"""The guide's four endpoints (and the EIC's list), each one lifecycle call.

Every decision (is the offer still open, is it yours, is it taken) is made by
the library's conditional UPDATE on the database clock; a refusal comes back
as a typed exception that :mod:`logistics.api.errors` turns into 410 / 403 /
409 / 404.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from logistics import chains
from logistics.api.permissions import IsDriver, IsEIC, driver_of, eic_of
from logistics.api.serializers import (
    AnswerSerializer,
    AssignSerializer,
    ErrorSerializer,
    RejectSerializer,
    StockRequestDetailSerializer,
    StockRequestSerializer,
)
from logistics.models import StockRequest

ERRORS = {
    code: OpenApiResponse(ErrorSerializer, description=text)
    for code, text in {
        400: "Invalid payload; `fields` lists the messages.",
        401: "No or bad token.",
        403: "Wrong role, or the offer was made to another driver.",
        404: "No such stock request.",
        409: "The request is taken, not offered, or already offered.",
        410: "The offer has expired.",
    }.items()
}


def _errors(*codes: int) -> dict[int, Any]:
    return {code: ERRORS[code] for code in codes}


def _stock_request(pk: int) -> StockRequest:
    return StockRequest.objects.select_related("dbs").get(pk=pk)


class PendingOffersView(generics.ListAPIView):
    """``GET /api/driver/pending-offers``: the caller's open, unexpired offers."""

    permission_classes = [IsDriver]
    serializer_class = StockRequestSerializer
    pagination_class = None

    def get_queryset(self) -> Any:
        # offered_to() compares with the database clock: an offer past its
        # deadline is never listed, whether or not a sweep has run.
        return (
            StockRequest.objects.offered_to(driver_of(self.request.user))
            .select_related("dbs")
            .order_by("assignment_expires_at")
        )

    @extend_schema(
        responses={200: StockRequestSerializer(many=True), **_errors(401, 403)}
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class AcceptTripView(APIView):
    """``POST /api/driver-trips/accept/``: accept an offer before its deadline."""

    permission_classes = [IsDriver]

    @extend_schema(
        request=AnswerSerializer,
        responses={
            200: StockRequestSerializer,
            **_errors(400, 401, 403, 404, 409, 410),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = AnswerSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        pk = serializer.validated_data["stock_request_id"]
        StockRequest.objects.accept(
            pk,
            driver_of(request.user),
            attempt=serializer.validated_data.get("attempt"),
        )
        return Response(StockRequestSerializer(_stock_request(pk)).data)


class RejectTripView(APIView):
    """``POST /api/driver-trips/reject/``: turn an offer down; it is pending again."""

    permission_classes = [IsDriver]

    @extend_schema(
        request=RejectSerializer,
        responses={
            200: StockRequestSerializer,
            **_errors(400, 401, 403, 404, 409, 410),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = RejectSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        pk = data["stock_request_id"]
        StockRequest.objects.reject(
            pk,
            driver_of(request.user),
            reason=data["reason"],
            attempt=data.get("attempt"),
        )
        return Response(StockRequestSerializer(_stock_request(pk)).data)


class StockRequestListView(generics.ListAPIView):
    """``GET /api/eic/stock-requests/``: the stock requests of the EIC's DBS."""

    permission_classes = [IsEIC]
    serializer_class = StockRequestSerializer
    pagination_class = None

    def get_queryset(self) -> Any:
        return StockRequest.objects.filter(
            dbs=eic_of(self.request.user).dbs
        ).select_related("dbs")

    @extend_schema(
        responses={200: StockRequestSerializer(many=True), **_errors(401, 403)}
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class StockRequestStatusView(APIView):
    """``PATCH /api/eic/stock-requests/{id}/status/``: the EIC assigns a driver.

    The request becomes ``ASSIGNING`` with a deadline of now +
    ``DRIVER_ASSIGNMENT_TIMEOUT_SECONDS`` on the database clock; the driver
    must accept before it, or the request returns to ``PENDING`` and the EICs
    of the DBS are notified.
    """

    permission_classes = [IsEIC]

    @extend_schema(
        request=AssignSerializer,
        responses={200: StockRequestSerializer, **_errors(400, 401, 403, 404, 409)},
    )
    def patch(self, request: Request, pk: int) -> Response:
        stock_request = generics.get_object_or_404(StockRequest.objects.all(), pk=pk)
        self.check_object_permissions(request, stock_request)
        serializer = AssignSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        StockRequest.objects.offer(
            pk, data["target_driver"], assignment_mode=data["assignment_mode"]
        )
        return Response(
            StockRequestSerializer(_stock_request(pk)).data, status=status.HTTP_200_OK
        )


class StockRequestDetailView(generics.RetrieveAPIView):
    """``GET /api/eic/stock-requests/{id}/``: one request with its dispatch chain."""

    permission_classes = [IsEIC]
    serializer_class = StockRequestDetailSerializer
    queryset = StockRequest.objects.select_related("dbs")

    @extend_schema(
        responses={200: StockRequestDetailSerializer, **_errors(401, 403, 404)}
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class AutoDispatchView(APIView):
    """``/api/eic/stock-requests/{id}/auto-dispatch/``: POST starts it, DELETE stops it.

    POST offers the request to the DBS's free drivers one at a time (least
    recently offered first, three offers at most); each expiry or rejection
    moves it to the next driver. The EICs hear only if nobody accepts.
    409 when it is not pending, already auto-dispatched, or no driver is free.

    DELETE ends the running chain: the open offer stays open until the driver
    answers or it expires, and then the request is the EIC's to reassign (the
    EIC is told, as in manual mode). 409 when no chain runs.
    """

    permission_classes = [IsEIC]

    @extend_schema(
        request=None,
        responses={
            201: StockRequestDetailSerializer,
            **_errors(401, 403, 404),
            409: OpenApiResponse(
                ErrorSerializer,
                description="Not pending (`already_offered`, `already_taken`), "
                "auto-dispatch already runs (`already_dispatching`), or no "
                "driver of the station is free (`no_candidate`).",
            ),
        },
    )
    def post(self, request: Request, pk: int) -> Response:
        stock_request = generics.get_object_or_404(StockRequest.objects.all(), pk=pk)
        self.check_object_permissions(request, stock_request)
        stock_request.start_dispatch()
        return Response(
            StockRequestDetailSerializer(_stock_request(pk)).data,
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(
        request=None,
        responses={
            200: StockRequestDetailSerializer,
            **_errors(401, 403, 404),
            409: OpenApiResponse(
                ErrorSerializer,
                description="Auto-dispatch is not running for the request "
                "(`not_dispatching`): never started, or already ended.",
            ),
        },
    )
    def delete(self, request: Request, pk: int) -> Response:
        stock_request = generics.get_object_or_404(StockRequest.objects.all(), pk=pk)
        self.check_object_permissions(request, stock_request)
        chains.stop(stock_request)
        return Response(StockRequestDetailSerializer(_stock_request(pk)).data)
