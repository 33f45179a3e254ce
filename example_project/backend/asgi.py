"""ASGI entry point, served by daphne as in the GTS guide.

``daphne -b 0.0.0.0 -p 8000 backend.asgi:application``
"""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")

application = get_asgi_application()
