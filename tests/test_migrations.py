"""The migrations match the models, for the library and the test app."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command


@pytest.mark.django_db
@pytest.mark.parametrize("app_label", ["assignment_timeout", "testapp"])
def test_no_missing_migrations(app_label):
    out = StringIO()
    call_command("makemigrations", app_label, check=True, dry_run=True, stdout=out)
    assert "No changes detected" in out.getvalue()
