"""The existing-table recipe, done to a table with offers in flight.

The project starts as the page's reader has it: ``logistics.StockRequest``
with its own ``assignment_started_at``, a timeout setting, and rows in
``ASSIGNING`` (one inside its window, one past it, one with no start time).
Then the page's steps: its model, ``makemigrations`` for the columns, the
page's backfill migration, the constraint and index moved into ``0004``,
``makemigrations --check``, ``migrate``, and the first sweep.
"""

from __future__ import annotations

import ast
import json

from tests.docs.blocks import block
from tests.docs.project import start_project

# The reader's model before the recipe (not on the page: it is theirs).
BEFORE = """\
from django.db import models


class Driver(models.Model):
    name = models.CharField(max_length=100)


class Status(models.TextChoices):
    PENDING = "PENDING"
    ASSIGNING = "ASSIGNING"
    ASSIGNED = "ASSIGNED"


class StockRequest(models.Model):
    status = models.CharField(max_length=20, choices=Status, default=Status.PENDING)
    target_driver = models.ForeignKey(Driver, null=True, blank=True, on_delete=models.SET_NULL)
    assignment_mode = models.CharField(max_length=10, null=True, blank=True)
    assignment_started_at = models.DateTimeField(null=True, blank=True)
"""

IN_FLIGHT = """\
from datetime import timedelta
from django.utils import timezone
from logistics.models import Driver, StockRequest

driver = Driver.objects.create(name="Dana")
now = timezone.now()
for status, started in [
    ("ASSIGNING", now - timedelta(seconds=10)),    # 290 s left
    ("ASSIGNING", now - timedelta(seconds=1000)),  # past its deadline
    ("ASSIGNING", None),                           # no start time
    ("PENDING", None),
]:
    StockRequest.objects.create(
        status=status, target_driver=driver if started else None,
        assignment_mode="auto", assignment_started_at=started,
    )
"""

STATE = """\
import json
from logistics.models import StockRequest

print(json.dumps([
    [r.status, r.target_driver_id, r.assignment_mode, r.assignment_attempt,
     None if r.assignment_expires_at is None else
     (r.assignment_expires_at - (r.assignment_started_at)).total_seconds()]
    for r in StockRequest.objects.order_by("pk")
]))
"""


def _split(generated: str) -> tuple[str, str]:
    """Move the constraint and index out of the generated 0002, into a 0004."""
    tree = ast.parse(generated)
    [migration] = [n for n in tree.body if isinstance(n, ast.ClassDef)]
    [operations] = [
        n.value
        for n in migration.body
        if isinstance(n, ast.Assign) and n.targets[0].id == "operations"
    ]
    kept, moved = [], []
    for op in operations.elts:
        late = op.func.attr in {"AddConstraint", "AddIndex"}
        (moved if late else kept).append(ast.get_source_segment(generated, op))
    assert moved, "makemigrations generated no constraint or index to move"
    header = generated[: generated.index("class Migration")]
    columns = generated.replace(
        ast.get_source_segment(generated, operations), "[\n" + ",\n".join(kept) + "]"
    )
    constraints = (
        header
        + "class Migration(migrations.Migration):\n"
        + '    dependencies = [("logistics", "0003_backfill_offer_deadlines")]\n'
        + "    operations = [\n"
        + ",\n".join(moved)
        + "]\n"
    )
    return columns, constraints


def test_adopting_keeps_every_offer_in_flight(tmp_path, wheel_python):
    project = start_project(tmp_path / "site", wheel_python, "logistics")
    project.append(
        "mysite/settings.py",
        'INSTALLED_APPS += ["django_assignment_timeout", "logistics"]\n'
        "DRIVER_ASSIGNMENT_TIMEOUT_SECONDS = 300\n",
    )
    project.write("logistics/models.py", BEFORE)
    project.manage("makemigrations", "logistics")
    project.manage("migrate", "--verbosity", "0")
    project.manage("shell", stdin=IN_FLIGHT)

    project.write("logistics/models.py", block("existing-table-model"))
    project.manage("check")
    project.manage("makemigrations", "logistics", "--name", "adopt_assignment_mixin")
    migrations = project.path / "logistics" / "migrations"
    generated = migrations / "0002_adopt_assignment_mixin.py"
    columns, constraints = _split(generated.read_text())
    generated.write_text(columns)
    project.write(
        "logistics/migrations/0003_backfill_offer_deadlines.py",
        block("existing-table-backfill"),
    )
    project.write(
        "logistics/migrations/0004_offer_deadline_constraints.py", constraints
    )
    project.manage("makemigrations", "--check", "--dry-run")
    project.manage("migrate", "--verbosity", "0")

    rows = json.loads(project.manage("shell", stdin=STATE).splitlines()[-1])
    # Every open offer has the deadline it had (start + 300 s), as attempt 1.
    assert rows == [
        ["ASSIGNING", 1, "auto", 1, 300.0],
        ["ASSIGNING", 1, "auto", 1, 300.0],
        ["ASSIGNING", None, "auto", 1, rows[2][4]],
        ["PENDING", None, "auto", 0, None],
    ]
    assert 299 <= rows[2][4] <= 301  # a full window from the migration on

    # The first sweep expires only the one past its deadline, and clears it.
    assert project.manage("expire_assignments").splitlines()[0] == (
        "logistics.StockRequest: 1 expired"
    )
    rows = json.loads(project.manage("shell", stdin=STATE).splitlines()[-1])
    assert [row[:3] for row in rows] == [
        ["ASSIGNING", 1, "auto"],
        ["PENDING", None, None],
        ["ASSIGNING", None, "auto"],
        ["PENDING", None, "auto"],
    ]
