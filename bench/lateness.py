#!/usr/bin/env python3
"""How late is each scheduler at expiring offers, and at announcing them?

    python bench/lateness.py [--offers 1000] [--outstanding 100000]
                             [--modes loop-pg,loop-sqlite,celery,huey,sweep]

Needs PostgreSQL on 127.0.0.1:5432 (user postgres), Redis on 127.0.0.1:6379
(database 1) and the ``celery`` and ``huey`` extras. Every mode runs against
the same two workloads, each run on a fresh database (PostgreSQL, copied from
a migrated template the benchmark creates and drops; SQLite, a copied file)
with its scheduler a real child process:

* ``loop-pg``: ``manage.py expire_assignments --loop`` (default interval,
  60 s) on PostgreSQL, woken by ``NOTIFY``;
* ``loop-sqlite``: the same on SQLite, probing every
  ``ASSIGNMENT_TIMEOUT_WAKE_PROBE_INTERVAL`` (0.25 s);
* ``celery``: Celery precise (``apply_async(eta=deadline)``) on Redis, one
  ``celery worker --beat --pool threads --concurrency 4`` with the sweep
  every 60 s, on PostgreSQL;
* ``huey``: Huey precise (``schedule(eta=deadline)``) on RedisHuey, one
  ``manage.py run_huey --workers 4`` (threads), on PostgreSQL;
* ``sweep``: the fixed-interval sweep as before issue 18: a cron-like
  one-shot ``manage.py expire_assignments`` every 60 s, on PostgreSQL.

Workloads: (a) ``--offers`` offers with deadlines spread over 60 s; (b)
``--outstanding`` open offers with deadlines spread over an hour, of which
the first ``--offers`` (one per 3.6 s of the hour per thousand) fall due
while it measures. In (b) the later offers are written in bulk (rows and
their ``offered`` events, on the database clock, their notifications counted
as sent) and the precise modes get their ETA tasks through the scheduler's
own ``schedule_expiry``, as ``offer()`` would have sent them. The measured
offers are made by ``offer()``: ``--arrival paced`` (the default) makes each
five seconds before its deadline, so offers arrive at the rate they fall due,
as in service; ``--arrival burst`` makes them all at once, up front (the
producer then competes with the scheduler for the CPU while the first
deadlines pass).

Lateness is the expired event's ``created_at`` minus the offer's deadline,
both on the database clock. RSS is the peak (VmHWM) of the scheduler's
process, summed over its process tree, read just before it is stopped (for
``sweep``, the largest of its one-shot runs). ``offer_push_s`` (loop-pg,
workload a only): from the commit of each offer (an ``on_commit`` callback
registered before the library's own) to the moment the loop's relay handed it
to the notifier (``tests.support.recording_notifier``, which appends
``event_id time.time()`` to a file this process reads).

The last lines are ``offer_push_p99_s=<float>``, ``loop_sqlite_p99_s=<float>``
and ``loop_p99_s=<float> celery_p99_s=<float> loop_rss_mb=<float>
celery_worker_rss_mb=<float>`` (workload b, PostgreSQL). Not run in CI.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
MODES = ("loop-pg", "loop-sqlite", "celery", "huey", "sweep")
REDIS_URL = "redis://127.0.0.1:6379/1"
CELERY = "django_assignment_timeout.schedulers.celery.CeleryScheduler"
HUEY = "django_assignment_timeout.schedulers.huey.HueyScheduler"
#: The Celery worker: threads (one process, its beat embedded), INFO logging as
#: in service; its beat schedule file and queue follow.
CELERY_WORKER = [
    sys.executable, "-m", "celery", "-A", "tests.support.celery_app:app", "worker",
    "--pool", "threads", "--concurrency", "4", "--without-gossip",
    "--without-mingle", "--without-heartbeat", "--loglevel", "INFO",
    "--beat", "--schedule",
]  # fmt: skip
#: Seconds from the start of the measured offers to the first deadline.
LEAD = 5.0
#: Seconds before the first of workload (b)'s unmeasured deadlines.
QUIET = 300.0
#: The sweep interval of every mode (the library's default).
INTERVAL = 60.0


# -- in the orchestrating process ---------------------------------------------


def admin_sql(statement: str) -> None:
    import psycopg

    with psycopg.connect(
        host="127.0.0.1", user="postgres", dbname="postgres", autocommit=True
    ) as conn:
        conn.execute(statement)


def base_env(vendor: str, db_name: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="tests.support.child_settings",
        TEST_DATABASE=vendor,
        CHILD_DB_NAME=db_name,
        CHILD_APP_NAME="bench-lateness",
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
        PYTHONUNBUFFERED="1",
    )
    return env


def migrate(env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "-m", "django", "migrate", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
    )


class Databases:
    """Migrated templates, and a fresh copy of one for every run."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.prefix = f"bench_lateness_{os.getpid()}"
        self.pg_template: str | None = None
        self.sqlite_template = workdir / "template.sqlite3"
        self.runs = 0

    def fresh(self, vendor: str) -> str:
        self.runs += 1
        if vendor == "sqlite":
            if not self.sqlite_template.exists():
                migrate(base_env("sqlite", str(self.sqlite_template)))
            path = self.workdir / f"run{self.runs}.sqlite3"
            shutil.copy(self.sqlite_template, path)
            return str(path)
        if self.pg_template is None:
            self.pg_template = f"{self.prefix}_template"
            admin_sql(f"CREATE DATABASE {self.pg_template}")
            migrate(base_env("postgresql", self.pg_template))
        name = f"{self.prefix}_{self.runs}"
        admin_sql(f"CREATE DATABASE {name} TEMPLATE {self.pg_template}")
        return name

    def drop(self, vendor: str, name: str) -> None:
        if vendor == "postgresql":
            admin_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def close(self) -> None:
        if self.pg_template is not None:
            admin_sql(f"DROP DATABASE IF EXISTS {self.pg_template} WITH (FORCE)")


def mode_env(mode: str, vendor: str, db_name: str, run_dir: Path) -> dict[str, str]:
    """The settings the run and its scheduler process share."""
    settings: dict[str, Any] = {
        "ASSIGNMENT_TIMEOUT_NOTIFIERS": {
            "default": {
                "BACKEND": "tests.support.recording_notifier.RecordingNotifier",
                "OPTIONS": {"path": str(run_dir / "arrivals.txt")},
            }
        }
    }
    env = base_env(vendor, db_name)
    if mode == "celery":
        env.update(CHILD_BROKER_URL=REDIS_URL, CHILD_QUEUE=f"bench-{run_dir.name}")
        env["CHILD_SWEEP_INTERVAL"] = str(INTERVAL)
        settings["ASSIGNMENT_TIMEOUT_SCHEDULER"] = {
            "BACKEND": CELERY,
            "OPTIONS": {"app": "tests.support.celery_app.app"},
        }
    elif mode == "huey":
        settings["HUEY"] = {
            "huey_class": "huey.RedisHuey",
            "name": f"bench-{run_dir.name}",
            "connection": {"host": "127.0.0.1", "port": 6379, "db": 1},
            "immediate": False,
        }
        settings["ASSIGNMENT_TIMEOUT_SCHEDULER"] = {"BACKEND": HUEY}
    env["CHILD_SETTINGS"] = json.dumps(settings)
    return env


def run_one(mode: str, workload: str, options: argparse.Namespace,
            databases: Databases, workdir: Path) -> dict[str, Any]:  # fmt: skip
    vendor = "sqlite" if mode == "loop-sqlite" else "postgresql"
    db_name = databases.fresh(vendor)
    run_dir = workdir / f"{mode}-{workload}-{uuid.uuid4().hex[:6]}"
    run_dir.mkdir()
    env = mode_env(mode, vendor, db_name, run_dir)
    args = [sys.executable, __file__, "--run", mode, workload, str(run_dir)]
    args += ["--offers", str(options.offers), "--outstanding", str(options.outstanding)]
    args += ["--spread", str(options.spread), "--span", str(options.span)]
    args += ["--arrival", options.arrival]
    runner = subprocess.Popen(
        args,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = runner.communicate()
    finally:
        if runner.poll() is None:  # interrupted: let it stop its scheduler
            runner.terminate()
            runner.wait(150)
        databases.drop(vendor, db_name)
    if runner.returncode != 0:
        logs = "".join(
            p.read_text(errors="replace")[-3000:] for p in run_dir.glob("*.log")
        )
        raise SystemExit(f"{mode} ({workload}) failed:\n{err[-4000:]}\n{logs}")
    return json.loads(out.strip().splitlines()[-1])


# -- in a run's process: one mode, one workload, one fresh database -----------


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def tree_peak_rss_mb(pid: int) -> float:
    """VmHWM summed over ``pid`` and its descendants (a prefork pool, an embedded beat)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rpartition(")")[2].split()[1])
    tree, grew = {pid}, True
    while grew:
        more = {child for child, parent in parents.items() if parent in tree}
        grew = not more <= tree
        tree |= more
    total = 0
    for each in tree:
        try:
            for line in Path(f"/proc/{each}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def own_peak_rss_mb() -> float:
    return tree_peak_rss_mb(os.getpid())


class Scheduler:
    """The mode's real scheduler process, its output in ``run_dir``."""

    READY = {"loop": "sweeping every", "celery": " ready.", "huey": "started with"}

    def __init__(self, mode: str, run_dir: Path) -> None:
        self.mode, self.run_dir = mode, run_dir
        self.kind = "loop" if mode.startswith("loop") else mode
        self.log = run_dir / f"{mode}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.cron: threading.Thread | None = None
        self.stopping = threading.Event()
        self.cron_rss: list[float] = []
        self.rss = float("nan")

    def start(self) -> None:
        if self.kind == "sweep":
            self.cron = threading.Thread(target=self._cron, daemon=True)
            self.cron.start()
            return
        django = [sys.executable, "-m", "django"]
        queue = os.environ.get("CHILD_QUEUE", "")
        args = {
            "loop": [*django, "expire_assignments", "--loop"],
            "huey": [*django, "run_huey", "--workers", "4", "--flush-locks"],
            "celery": [*CELERY_WORKER, str(self.run_dir / "beat"), "-Q", queue],
        }[self.kind]
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                args, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        limit = time.monotonic() + 120
        while self.READY[self.kind] not in self.log.read_text(errors="replace"):
            if self.process.poll() is not None or time.monotonic() > limit:
                raise SystemExit(f"{self.mode} did not start:\n{self.log.read_text()}")
            time.sleep(0.1)

    def _cron(self) -> None:
        """``expire_assignments`` once every INTERVAL, as a crontab line would."""
        started = time.monotonic()
        while not self.stopping.is_set():
            done = subprocess.run(
                [sys.executable, __file__, "--sweep-once"],
                cwd=ROOT, capture_output=True, text=True,
            )  # fmt: skip
            if done.returncode == 0:
                self.cron_rss.append(float(done.stdout.split()[-1]))
            started += INTERVAL
            self.stopping.wait(max(started - time.monotonic(), 0))

    def stop(self) -> float:
        """Stop it (once; again does nothing); its peak RSS (MB)."""
        if self.cron is not None:
            self.stopping.set()
            self.cron.join(120)
            return max(self.cron_rss, default=float("nan"))
        if self.process is None or self.process.poll() is not None:
            return self.rss
        self.rss = tree_peak_rss_mb(self.process.pid)
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(120)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        return self.rss


def insert_outstanding(count: int, start: float, spread: float, driver_pk: int) -> None:
    """``count`` open offers with deadlines from ``start`` s over ``spread`` s, in bulk.

    The rows and ``offered`` events ``offer()`` writes, on the database clock;
    their notifications count as sent (the relay has the measured ones to send).
    """
    from django.contrib.contenttypes.models import ContentType
    from django.db import connection
    from tests.testapp.models import StockRequest

    from django_assignment_timeout.models import AssignmentEvent

    table, events = StockRequest._meta.db_table, AssignmentEvent._meta.db_table
    step = spread / max(count, 1)
    if connection.vendor == "postgresql":
        rows = "generate_series(0, %s - 1) AS s(g)"
        started = "now()"
        deadline = "now() + make_interval(secs => (%s + g * %s)::float8)"
    else:
        rows = "(WITH RECURSIVE s(g) AS (SELECT 0 UNION ALL SELECT g + 1 FROM s "
        rows += "WHERE g + 1 < %s) SELECT g FROM s)"
        started = "strftime('%%Y-%%m-%%d %%H:%%M:%%f', 'now')"
        deadline = (
            "strftime('%%Y-%%m-%%d %%H:%%M:%%f', 'now', "
            "'+' || printf('%%.3f', %s + g * %s) || ' seconds')"
        )
    content_type = ContentType.objects.get_for_model(StockRequest).pk
    if count <= 0:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (status, target_driver_id, assignment_mode, note, "
            "assignment_started_at, assignment_expires_at, assignment_attempt) "
            f"SELECT 'ASSIGNING', %s, 'AUTO', 'outstanding', {started}, {deadline}, 1 "
            f"FROM {rows}",
            [driver_pk, start, step, count],
        )
        cursor.execute(
            f"INSERT INTO {events} (content_type_id, object_pk, attempt, kind, "
            "assignee_pk, deadline, delivery_state, next_attempt_at, delivered_at) "
            "SELECT %s, CAST(id AS TEXT), 1, 'offered', CAST(target_driver_id AS TEXT), "
            f"assignment_expires_at, 'delivered', NULL, {started} FROM {table} "
            "WHERE note = 'outstanding'",
            [content_type],
        )
        cursor.execute(f"ANALYZE {table}")


def arm_outstanding() -> int:
    """Give the bulk offers what ``offer()`` would have: the scheduler's ETA tasks."""
    from tests.testapp.models import StockRequest

    from django_assignment_timeout.schedulers import get_scheduler

    scheduler = get_scheduler()
    rows = StockRequest.objects.filter(note="outstanding").order_by(
        "assignment_expires_at"
    )
    count = 0
    for pk, deadline in rows.values_list("pk", "assignment_expires_at").iterator(5000):
        scheduler.schedule_expiry(StockRequest, pk, 1, deadline)
        count += 1
    return count


def drained(mode: str) -> bool:
    """Whether the worker took every ETA task from the broker (its queue is empty)."""
    if mode == "huey":
        from huey.contrib.djhuey import HUEY

        return HUEY.pending_count() == 0
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        return client.llen(os.environ["CHILD_QUEUE"]) == 0
    finally:
        client.close()


def run(mode: str, workload: str, run_dir: Path, options: argparse.Namespace) -> dict:
    import django

    django.setup()
    from tests.testapp.models import Driver

    offers, outstanding, span = options.offers, options.outstanding, options.span
    driver = Driver.objects.create(name=mode)
    spread = (
        options.spread if workload == "a" else span * offers / max(outstanding, offers)
    )
    if workload == "b":
        # The rest of the hour, after the measured offers: none falls due while
        # the ETA tasks are sent and the measured offers run.
        later = max(outstanding - offers, 0)
        insert_outstanding(later, QUIET + spread, span - spread, driver.pk)
    scheduler = Scheduler(mode, run_dir)
    scheduler.start()
    try:
        return measure(
            mode, workload, run_dir, scheduler, driver, offers, spread, options.arrival
        )
    finally:
        scheduler.stop()
        _clean_broker(mode, run_dir)


def measure(mode: str, workload: str, run_dir: Path, scheduler: Scheduler,
            driver: Any, offers: int, spread: float, arrival: str) -> dict:  # fmt: skip
    from django.db import transaction
    from tests.support.recording_notifier import read_arrivals
    from tests.testapp.models import StockRequest

    from django_assignment_timeout.models import AssignmentEvent

    armed = 0
    if workload == "b" and mode in ("celery", "huey"):
        armed = arm_outstanding()
        limit = time.monotonic() + 120
        while not drained(mode) and time.monotonic() < limit:
            time.sleep(0.5)
    pks = [
        each.pk
        for each in StockRequest.objects.bulk_create(
            StockRequest(note="measured") for _ in range(offers)
        )
    ]
    committed: dict[int, float] = {}
    began = time.monotonic()
    for i, pk in enumerate(pks):
        due_in = LEAD + spread * i / offers  # from ``began``, either way
        if arrival == "paced":  # made LEAD seconds before its deadline
            time.sleep(max(began + due_in - LEAD - time.monotonic(), 0))
        timeout = due_in - (time.monotonic() - began)
        with transaction.atomic():
            # Runs first of the commit's callbacks, before the library's wake.
            transaction.on_commit(lambda pk=pk: committed.setdefault(pk, time.time()))
            StockRequest.objects.offer(pk, driver, timeout=max(timeout, 0.001))
    offering_s = time.monotonic() - began
    events = AssignmentEvent.objects.filter(object_pk__in=[str(pk) for pk in pks])
    expired = events.filter(kind="expired")
    limit = time.monotonic() + LEAD + spread + 2 * INTERVAL + 60
    while expired.count() < offers and time.monotonic() < limit:
        time.sleep(0.5)
    rows = list(expired.values_list("created_at", "deadline"))
    rss = scheduler.stop()
    if len(rows) < offers:
        raise SystemExit(f"{mode}: only {len(rows)} of {offers} offers expired")
    early = AssignmentEvent.objects.filter(kind="expired").count() - offers
    if early:
        raise SystemExit(f"{mode}: {early} expiries beyond the measured offers")
    lateness = [(created - deadline).total_seconds() for created, deadline in rows]
    arrivals = read_arrivals(str(run_dir / "arrivals.txt"))
    offered = dict(events.filter(kind="offered").values_list("pk", "object_pk"))
    push = [
        arrivals[event] - committed[int(pk)]
        for event, pk in offered.items()
        if event in arrivals and int(pk) in committed
    ]
    return {
        "n": len(lateness),
        "p50": percentile(lateness, 50),
        "p99": percentile(lateness, 99),
        "max": max(lateness),
        "rss_mb": rss,
        "armed": armed,
        "offering_s": offering_s,
        "push_n": len(push),
        "push_p99": percentile(push, 99) if push else None,
    }


def _clean_broker(mode: str, run_dir: Path) -> None:
    if mode == "celery":
        import redis

        queue = os.environ["CHILD_QUEUE"]
        client = redis.Redis.from_url(REDIS_URL)
        # The queue, and the binding kombu keeps for its exchange.
        client.delete(queue, f"_kombu.binding.{queue}")
        client.close()
    elif mode == "huey":
        from huey import RedisHuey

        RedisHuey(f"bench-{run_dir.name}", host="127.0.0.1", db=1).storage.flush_all()


def sweep_once() -> None:
    """One ``expire_assignments`` in this fresh process, then its peak RSS (MB)."""
    import django
    from django.core.management import call_command

    django.setup()
    call_command("expire_assignments", verbosity=0)
    print(f"{own_peak_rss_mb():.1f}")


# -- the report ----------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--offers", type=int, default=1000)
    parser.add_argument("--outstanding", type=int, default=100_000)
    parser.add_argument(
        "--spread", type=float, default=60.0, help="seconds of (a)'s deadlines"
    )
    parser.add_argument(
        "--span", type=float, default=3600.0, help="seconds of (b)'s deadlines"
    )
    parser.add_argument(
        "--arrival",
        choices=("paced", "burst"),
        default="paced",
        help="paced: each measured offer made LEAD s before its deadline, as "
        "offers arrive in service; burst: all made at once, up front",
    )
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--run", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--sweep-once", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args()
    # SIGTERM unwinds like Ctrl-C: schedulers stopped, databases dropped.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    if options.sweep_once:
        sweep_once()
        return
    if options.run:
        mode, workload, run_dir = options.run
        result = run(mode, workload, Path(run_dir), options)
        print(json.dumps(result))
        return
    modes = [m for m in options.modes.split(",") if m]
    if unknown := set(modes) - set(MODES):
        parser.error(f"unknown modes {sorted(unknown)}; known: {', '.join(MODES)}")
    results: dict[tuple[str, str], dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-lateness-") as tmp:
        databases = Databases(Path(tmp))
        try:
            for workload in ("a", "b"):
                for mode in modes:
                    result = run_one(mode, workload, options, databases, Path(tmp))
                    results[mode, workload] = result
                    print(
                        f"({workload}) {mode:11s} n={result['n']} "
                        f"p50={result['p50']:.3f}s p99={result['p99']:.3f}s "
                        f"max={result['max']:.3f}s rss={result['rss_mb']:.1f}MB "
                        f"offers_made_in={result['offering_s']:.1f}s"
                        + (f" eta_tasks={result['armed']}" if result["armed"] else ""),
                        flush=True,
                    )
        finally:
            databases.close()
    report(results, options)


def report(results: dict[tuple[str, str], dict[str, Any]], options: Any) -> None:
    def figure(mode: str, key: str, workload: str = "b") -> float:
        value = results.get((mode, workload), {}).get(key)
        return float("nan") if value is None else float(value)

    print(
        f"workload (a): {options.offers} offers over {options.spread:g} s; (b): "
        f"{options.outstanding} outstanding over {options.span:g} s, "
        f"the first {options.offers} measured; offers {options.arrival}"
    )
    if ("celery", "a") in results and ("celery", "b") in results:
        extra = max(options.outstanding - options.offers, 1)
        per_offer = (
            figure("celery", "rss_mb") - figure("celery", "rss_mb", "a")
        ) / extra
        print(f"celery worker RSS per outstanding ETA task: {per_offer * 1024:.2f} kB")
    print(f"offer_push_p99_s={figure('loop-pg', 'push_p99', 'a'):.3f}")
    print(f"loop_sqlite_p99_s={figure('loop-sqlite', 'p99'):.3f}")
    print(
        f"loop_p99_s={figure('loop-pg', 'p99'):.3f} "
        f"celery_p99_s={figure('celery', 'p99'):.3f} "
        f"loop_rss_mb={figure('loop-pg', 'rss_mb'):.1f} "
        f"celery_worker_rss_mb={figure('celery', 'rss_mb'):.1f}"
    )


if __name__ == "__main__":
    main()
