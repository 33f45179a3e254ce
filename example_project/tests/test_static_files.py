"""Static files served by the web process itself (WhiteNoise), in development
and as deployed; Swagger UI from our own static files.

daphne serves no static files and neither does a PaaS: without this the
admin is unstyled and /api/docs/ is a blank page offline.
"""

from __future__ import annotations

import re

import pytest
from django.core.management import call_command
from django.test import Client

DEPLOYED_STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}


def fetch(client: Client, url: str, **headers: str):
    """GET a static file and close it (WhiteNoise answers with an open file)."""
    response = client.get(url, headers=headers)
    response.close()
    return response


def assets(html: str) -> list[str]:
    """The script and stylesheet URLs a page loads."""
    return re.findall(r'(?:src|href)="([^"]+\.(?:js|css))"', html)


@pytest.mark.django_db
def test_development_serves_the_apps_static_files_without_collectstatic(settings):
    settings.WHITENOISE_USE_FINDERS = True  # what DEBUG gives `dev.py example`
    response = fetch(Client(), "/static/admin/css/base.css")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/css")


@pytest.mark.django_db
def test_the_api_docs_load_only_our_own_static_files(settings):
    settings.WHITENOISE_USE_FINDERS = True
    client = Client()
    page = client.get("/api/docs/")
    assert page.status_code == 200
    urls = assets(page.content.decode())
    assert urls, "the page loads no script"
    # No CDN: every asset is ours, and is there.
    assert all(url.startswith("/static/") for url in urls), urls
    for url in urls:
        assert fetch(client, url).status_code == 200, url


@pytest.mark.django_db
def test_a_deployment_serves_collected_files_compressed_under_hashed_names(
    settings, tmp_path
):
    settings.DEBUG = False
    settings.STATIC_ROOT = tmp_path
    settings.STORAGES = DEPLOYED_STORAGES
    settings.WHITENOISE_USE_FINDERS = False  # only what collectstatic wrote
    settings.WHITENOISE_AUTOREFRESH = False
    call_command("collectstatic", "--noinput", verbosity=0)
    client = Client()
    login = client.get("/admin/login/").content.decode()
    base = next(url for url in assets(login) if "/admin/css/base." in url)
    # The hashed name lets browsers cache it forever.
    assert re.search(r"/base\.[0-9a-f]{12}\.css$", base), base
    response = fetch(client, base, accept_encoding="gzip")
    assert response.status_code == 200
    assert response["Content-Encoding"] == "gzip"
    assert "immutable" in response["Cache-Control"]
    # An asset nobody collected is a 404, not a crash.
    assert fetch(client, "/static/nothing-here.css").status_code == 404
