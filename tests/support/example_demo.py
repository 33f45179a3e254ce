"""Migrate the example's database and load its demo, in one interpreter.

    DJANGO_SETTINGS_MODULE=backend.settings PYTHONPATH=example_project \
        python -m tests.support.example_demo

(each Django start costs seconds). Prints one JSON line: what ``load_demo
--json`` printed, plus ``other_station_request``, the key of the request of
the station the demo's EIC does not run.
"""

from __future__ import annotations

import io
import json
from typing import Any


def main() -> dict[str, Any]:
    import django

    django.setup()
    from django.core.management import call_command

    from logistics.models import (  # type: ignore[import-not-found]  # the example's
        StockRequest,
    )

    call_command("migrate", interactive=False, verbosity=0)
    out = io.StringIO()
    call_command("load_demo", json=True, stdout=out)
    demo: dict[str, Any] = json.loads(out.getvalue().strip().splitlines()[-1])
    demo["other_station_request"] = StockRequest.objects.get(dbs__code="OKHLA").pk
    return demo


if __name__ == "__main__":
    print(json.dumps(main()), flush=True)
