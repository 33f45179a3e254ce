"""The dispatch pages' forms: what an EIC and a driver may post."""

from __future__ import annotations

from django import forms

from logistics.models import Driver, StockRequest


class AssignForm(forms.Form):
    """An EIC offers a pending request to a driver (the API's AssignSerializer)."""

    target_driver = forms.ModelChoiceField(
        queryset=Driver.objects.order_by("name"), label="Driver"
    )
    assignment_mode = forms.ChoiceField(
        choices=StockRequest.Mode.choices,
        initial=StockRequest.Mode.MANUAL,
        required=False,
    )

    def clean_assignment_mode(self) -> str:
        """Manual unless the form says otherwise, as in the API."""
        return self.cleaned_data["assignment_mode"] or StockRequest.Mode.MANUAL


class AnswerForm(forms.Form):
    """A driver's answer, pinned to the offer (attempt) the page showed."""

    attempt = forms.IntegerField(min_value=1, widget=forms.HiddenInput)
    reason = forms.CharField(max_length=500, required=False)
