"""Request and response bodies of the GTS API."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from logistics.chains import ChainView, latest_chain
from logistics.models import DBS, Driver, StockRequest


class DBSSerializer(serializers.ModelSerializer):
    """A station, as shown inside a stock request."""

    class Meta:
        model = DBS
        fields = ["id", "code", "name"]


class StockRequestSerializer(serializers.ModelSerializer):
    """A stock request with its current offer (if any)."""

    dbs = DBSSerializer(read_only=True)
    target_driver = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)
    attempt = serializers.IntegerField(source="assignment_attempt", read_only=True)
    expires_at = serializers.DateTimeField(
        source="assignment_expires_at", read_only=True, allow_null=True
    )
    seconds_remaining = serializers.SerializerMethodField()

    class Meta:
        model = StockRequest
        fields = [
            "id",
            "dbs",
            "quantity_kg",
            "status",
            "target_driver",
            "assignment_mode",
            "assignment_started_at",
            "attempt",
            "expires_at",
            "seconds_remaining",
            "created_at",
        ]
        read_only_fields = fields

    def get_seconds_remaining(self, obj: StockRequest) -> float | None:
        """Seconds left to accept, for display; the stored deadline decides."""
        if obj.assignment_expires_at is None:
            return None
        return max(
            0.0, round((obj.assignment_expires_at - timezone.now()).total_seconds(), 1)
        )


class ChainOfferSerializer(serializers.Serializer):
    """One offer of a dispatch chain and how it ended."""

    attempt = serializers.IntegerField()
    driver = serializers.IntegerField(source="driver.pk", allow_null=True)
    driver_name = serializers.CharField(source="driver.name", allow_null=True)
    outcome = serializers.ChoiceField(
        choices=["pending", "accepted", "rejected", "expired", "withdrawn"],
        help_text="`pending` while the driver may still accept.",
    )
    reason = serializers.CharField(help_text="The driver's reason for a rejection.")
    offered_at = serializers.DateTimeField()
    deadline = serializers.DateTimeField(allow_null=True)
    ended_at = serializers.DateTimeField(allow_null=True)


class DispatchChainSerializer(serializers.Serializer):
    """A request's latest auto-dispatch chain."""

    state = serializers.ChoiceField(
        choices=["running", "accepted", "exhausted", "stopped"]
    )
    end_reason = serializers.CharField(source="chain.end_reason")
    started_at = serializers.DateTimeField(source="chain.started_at")
    ended_at = serializers.DateTimeField(source="chain.ended_at", allow_null=True)
    offers = ChainOfferSerializer(many=True)


class StockRequestDetailSerializer(StockRequestSerializer):
    """A stock request with its latest auto-dispatch chain (``null`` if none)."""

    dispatch = serializers.SerializerMethodField()

    class Meta(StockRequestSerializer.Meta):
        fields = [*StockRequestSerializer.Meta.fields, "dispatch"]
        read_only_fields = fields

    @extend_schema_field(DispatchChainSerializer(allow_null=True))
    def get_dispatch(self, obj: StockRequest) -> dict[str, Any] | None:
        """The chain's state and each offer's outcome."""
        view: ChainView | None = latest_chain(obj)
        return None if view is None else DispatchChainSerializer(view).data


class AnswerSerializer(serializers.Serializer):
    """A driver's answer to an offer.

    ``attempt`` pins the answer to the offer the driver saw, so a late answer
    to an earlier offer can never accept a newer one.
    """

    # Bounded by the columns' ranges: a larger number is a 400 here, not a
    # database overflow error later.
    stock_request_id = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    attempt = serializers.IntegerField(min_value=1, max_value=2**31 - 1, required=False)


class RejectSerializer(AnswerSerializer):
    """A driver's refusal, with an optional reason for the EIC."""

    reason = serializers.CharField(
        max_length=500, required=False, allow_blank=True, default=""
    )


class AssignSerializer(serializers.Serializer):
    """An EIC assigns a driver: ``{"status": "ASSIGNING", "target_driver": 7}``."""

    status = serializers.ChoiceField(choices=[StockRequest.Status.ASSIGNING])
    target_driver = serializers.PrimaryKeyRelatedField(queryset=Driver.objects.all())
    assignment_mode = serializers.ChoiceField(
        choices=StockRequest.Mode.choices, default=StockRequest.Mode.MANUAL
    )


class ErrorSerializer(serializers.Serializer):
    """The error body every endpoint returns on a 4xx."""

    code = serializers.CharField()
    detail = serializers.CharField()
    fields = serializers.DictField(required=False)
