"""``manage.py load_demo``: demo stations, an EIC, drivers and stock requests."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Create the demo EIC, drivers, DBS and stock requests (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--json", action="store_true", help="Print the ids and credentials as JSON."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from logistics import demo

        loaded = demo.load()
        if options["json"]:
            payload = {
                "users": [vars(user) for user in loaded.users],
                "drivers": {name: driver.pk for name, driver in loaded.drivers.items()},
                "dbs": loaded.dbs.name,
                "pending_request": loaded.pending_request.pk,
            }
            self.stdout.write(json.dumps(payload))
            return
        self.stdout.write("Demo credentials (username / password / API token):")
        for user in loaded.users:
            self.stdout.write(
                f"  {user.role:<6} {user.username:<11} {user.password}  {user.token}"
            )
        self.stdout.write(f"First pending stock request: {loaded.pending_request.pk}")
