"""The project as the GTS guide describes it: settings, Celery, tasks, migrations."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

HERE = Path(__file__).resolve().parent.parent


def settings_in_subprocess(env_file: Path, **env: str) -> str:
    """Import the real settings in a fresh process and print the timeout."""
    code = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'backend.settings'; "
        "from django.conf import settings as s; "
        "print(s.DRIVER_ASSIGNMENT_TIMEOUT_SECONDS, s.CELERY_BROKER_URL, "
        "s.ASSIGNMENT_TIMEOUT_SCHEDULER['BACKEND'].rsplit('.', 1)[-1])"
    )
    clean = {
        k: v
        for k, v in __import__("os").environ.items()
        if not k.startswith(("CELERY_", "DRIVER_"))
    }
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=HERE,
        env={**clean, "GTS_ENV_FILE": str(env_file), **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


def test_guide_defaults(tmp_path):
    out = settings_in_subprocess(tmp_path / "missing.env")
    assert out == "300 redis://localhost:6379/0 CommandScheduler"


def test_dotenv_file_is_honoured_and_the_environment_wins(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("DRIVER_ASSIGNMENT_TIMEOUT_SECONDS=600\n")
    assert settings_in_subprocess(env_file).split()[0] == "600"
    out = settings_in_subprocess(env_file, DRIVER_ASSIGNMENT_TIMEOUT_SECONDS="180")
    assert out.split()[0] == "180"


def test_a_broker_url_selects_celery(tmp_path):
    out = settings_in_subprocess(
        tmp_path / "none", CELERY_BROKER_URL="redis://127.0.0.1:6379/2"
    )
    assert out.split()[1:] == ["redis://127.0.0.1:6379/2", "CeleryScheduler"]


def test_celery_configuration_is_the_guides(settings):
    from backend.celery import app

    assert settings.CELERY_BEAT_SCHEDULE == {
        "check-expired-driver-assignments": {
            "task": "logistics.check_expired_driver_assignments",
            "schedule": 60.0,
        }
    }
    conf = app.conf
    assert conf.accept_content == ["json"]
    assert (conf.task_serializer, conf.result_serializer) == ("json", "json")
    assert conf.timezone == "Asia/Kolkata"
    app.loader.import_default_modules()
    assert {
        "logistics.check_expired_driver_assignments",
        "logistics.notify_eic_assignment_expired",
    } <= set(app.tasks)


@pytest.mark.django_db
def test_makemigrations_check():
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


def test_system_checks_pass():
    call_command("check", "--fail-level", "WARNING")


def test_openapi_schema_validates(tmp_path):
    call_command(
        "spectacular",
        "--validate",
        "--fail-on-warn",
        "--file",
        str(tmp_path / "schema.yml"),
    )
    assert "/api/driver-trips/accept/" in (tmp_path / "schema.yml").read_text()


@pytest.mark.django_db
def test_check_task_returns_the_guides_shape(stock_request, ravi):
    from django_assignment_timeout.testing import make_due
    from logistics.tasks import check_expired_driver_assignments

    stock_request.offer(ravi)
    make_due(type(stock_request), stock_request.pk)
    assert check_expired_driver_assignments.apply().get() == {"expired_count": 1}
    assert check_expired_driver_assignments.apply().get() == {"expired_count": 0}


def test_render_blueprint_has_the_guides_services():
    import yaml

    blueprint = yaml.safe_load((HERE / "render.yaml").read_text())
    services = {s["name"]: s for s in blueprint["services"]}
    assert services["celery-worker"]["startCommand"] == (
        "celery -A backend worker --loglevel=info"
    )
    assert (
        services["celery-beat"]["startCommand"]
        == "celery -A backend beat --loglevel=info"
    )
    assert services["redis"]["type"] == "redis"
    for name in ("gts-web", "celery-worker", "celery-beat"):
        env = {v["key"]: v for v in services[name]["envVars"]}
        assert env["CELERY_BROKER_URL"]["fromService"]["name"] == "redis"
    procfile = (HERE / "Procfile").read_text()
    assert "web: daphne" in procfile and "beat: celery -A backend beat" in procfile
