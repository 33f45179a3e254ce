"""Reminders: one ``reminded`` event per offer, shortly before its deadline.

A model that declares ``AssignmentMeta.remind_before`` asks for a
``reminded`` event once an open offer's deadline is that close on the
database clock ("1 minute left to accept"). The sweep runs :func:`remind_due`
after its expiry batches; the ``--loop`` also wakes for :func:`next_reminder`.

A reminder is written once per attempt, never per extension: the events'
unique key (assignment, attempt, kind, sequence 0) is the backstop. Each
batch is one ``INSERT ... SELECT ... WHERE NOT EXISTS`` that ignores a
conflict (``ON CONFLICT DO NOTHING``, ``INSERT IGNORE``, ``INSERT OR
IGNORE``), so concurrent sweepers neither duplicate a reminder nor fail.
Where the database can not write an assignment's key as the event stores it
(a UUID key off PostgreSQL), the window is read in pages and the missing
reminders written with ``bulk_create(ignore_conflicts=True)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib.contenttypes.models import ContentType
from django.db import connections, router, transaction
from django.db.models import CharField, Exists, IntegerField, OuterRef, Q
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast

from django_assignment_timeout.clock import (
    DatabaseNow,
    deadline_in,
    seconds_until_earliest,
)
from django_assignment_timeout.conf import app_settings
from django_assignment_timeout.events import AssignmentEvent, EventKind
from django_assignment_timeout.options import (
    ATTEMPT,
    EXPIRES_AT,
    assignment_models,
    integer_keys,
    options_for,
)
from django_assignment_timeout.validation import require_positive_ints

if TYPE_CHECKING:
    from collections.abc import Iterable

    from django.db import models
    from django.db.models import QuerySet

__all__ = ["next_reminder", "remind_due", "reminding_models"]

#: Rows per reminder batch off PostgreSQL (the bulk_create path's parameters
#: must stay under SQLite's and MySQL's limits), as the portable sweep's.
_PORTABLE_MAX_BATCH = 5000


def reminding_models(
    models: Iterable[type[models.Model]] | None = None,
) -> list[type[models.Model]]:
    """The models among ``models`` (default: every adopting one) that declare ``remind_before``."""
    chosen = assignment_models() if models is None else models
    return [m for m in chosen if options_for(m).remind_before is not None]


def remind_due(
    model: type[models.Model] | None = None,
    *,
    batch_size: int | None = None,
    using: str | None = None,
) -> int:
    """Write the ``reminded`` events that are due; how many were written.

    Due: an open offer whose deadline is within ``remind_before`` of the
    database's now and still ahead of it, with no ``reminded`` event for its
    attempt yet. ``model`` defaults to every model that declares
    ``remind_before`` (a model that does not is skipped). Runs batches of at
    most ``batch_size`` rows (default ``ASSIGNMENT_TIMEOUT_BATCH_SIZE``),
    each its own transaction, until one comes back short. With nothing due
    it is one query per model, answered from the deadlines' partial index.
    """
    batch_size = app_settings.BATCH_SIZE if batch_size is None else batch_size
    require_positive_ints(batch_size=batch_size)
    written = 0
    for each in reminding_models(None if model is None else [model]):
        alias = using or router.db_for_write(each)
        size = batch_size
        if connections[alias].vendor != "postgresql":
            size = min(size, _PORTABLE_MAX_BATCH)
        seconds = options_for(each).remind_before_seconds()
        written += _remind_model(each, seconds, size, alias)  # type: ignore[arg-type]
    return written


def next_reminder(
    models: Iterable[type[models.Model]] | None = None,
) -> float | None:
    """Seconds until the next reminder falls due among ``models``; ``None``: none.

    Negative when one is due already (an offer in its window has no reminder
    yet: how long ago it entered the window, so a loop can tell a reminder
    it failed to write from one that fell due while it ran), otherwise the
    earliest deadline beyond the window minus ``remind_before``. Read on the
    database clock, from the deadlines' partial index. What
    ``expire_assignments --loop`` adds to the moments it sleeps until.
    """
    earliest: float | None = None
    for model in reminding_models(models):
        seconds = options_for(model).remind_before_seconds()
        assert seconds is not None  # reminding_models() kept only those
        opts = options_for(model)
        using = router.db_for_write(model)
        later = model._base_manager.using(using).filter(
            **{
                opts.status_field: opts.offered,
                f"{EXPIRES_AT}__gt": deadline_in(seconds),
            }
        )
        candidates = [seconds_until_earliest(later, EXPIRES_AT)]
        if _sql_path(model, using):
            # (Off it, reminded and unreminded offers in the window can not
            # be told apart in SQL: those wait for the next sweep.)
            window = _unreminded(_window(model, seconds, using), model, using)
            candidates.append(seconds_until_earliest(window, EXPIRES_AT))
        for until in candidates:
            if until is not None and (earliest is None or until - seconds < earliest):
                earliest = until - seconds
    return earliest


# -- internals ---------------------------------------------------------------


def _remind_model(
    model: type[models.Model], seconds: float, batch_size: int, using: str
) -> int:
    written = 0
    if _sql_path(model, using):
        while True:
            with transaction.atomic(using=using):
                count = _insert_batch(model, seconds, batch_size, using)
            written += count
            # A short batch: nothing more is due, or another sweeper wrote
            # some of these first (its reminders count there, not here).
            if count < batch_size:
                return written
    after: tuple[Any, Any] | None = None
    while True:
        with transaction.atomic(using=using):
            count, seen, after = _bulk_batch(model, seconds, batch_size, using, after)
        written += count
        if seen < batch_size:
            return written


def _sql_path(model: type[models.Model], using: str) -> bool:
    """Whether the database writes the model's keys as the events store them."""
    if connections[using].vendor == "postgresql":
        return True  # uuid::varchar is str(uuid), as every key's text is
    return integer_keys(model)


def _window(model: type[models.Model], seconds: float, using: str) -> QuerySet[Any]:
    """Open offers whose deadline is ahead but within ``seconds``, on the database clock."""
    opts = options_for(model)
    return model._base_manager.using(using).filter(
        **{
            opts.status_field: opts.offered,
            f"{EXPIRES_AT}__gt": DatabaseNow(),
            f"{EXPIRES_AT}__lte": deadline_in(seconds),
        }
    )


def _content_type_id(model: type[models.Model], using: str) -> int:
    return int(ContentType.objects.db_manager(using).get_for_model(model).pk)


def _unreminded(
    queryset: QuerySet[Any], model: type[models.Model], using: str
) -> QuerySet[Any]:
    """``queryset`` without the offers whose attempt already has its reminder."""
    reminded = AssignmentEvent.objects.using(using).filter(
        content_type_id=_content_type_id(model, using),
        object_pk=Cast(OuterRef("pk"), CharField()),
        attempt=OuterRef(ATTEMPT),
        kind=EventKind.REMINDED,
        sequence=0,
    )
    return queryset.filter(~Exists(reminded))


def _insert_batch(
    model: type[models.Model], seconds: float, batch_size: int, using: str
) -> int:
    """One ``INSERT ... SELECT ... WHERE NOT EXISTS`` of at most ``batch_size`` reminders."""
    connection = connections[using]
    qn = connection.ops.quote_name
    opts = options_for(model)
    # The content type id (an integer from our own table) and the kind are
    # inlined: as untyped parameters in a SELECT list, server-side binding
    # would type them as text (see the PostgreSQL sweep).
    selection = (
        _unreminded(_window(model, seconds, using), model, using)
        .annotate(
            _event_type=RawSQL(
                str(_content_type_id(model, using)), [], output_field=IntegerField()
            ),
            _event_pk=Cast("pk", CharField()),
            _event_kind=RawSQL(
                f"'{EventKind.REMINDED.value}'", [], output_field=CharField()
            ),
            _event_assignee=Cast(opts.assignee_attname, CharField()),
        )
        .order_by(EXPIRES_AT, "pk")
        .values_list(
            "_event_type",
            "_event_pk",
            ATTEMPT,
            "_event_kind",
            "_event_assignee",
            EXPIRES_AT,
        )[:batch_size]
    )
    select_sql, params = selection.query.get_compiler(using).as_sql()
    meta = AssignmentEvent._meta
    columns = ", ".join(
        qn(str(meta.get_field(name).column))  # type: ignore[union-attr]
        for name in (
            "content_type",
            "object_pk",
            "attempt",
            "kind",
            "assignee_pk",
            "deadline",
        )
    )
    table = qn(meta.db_table)
    if connection.vendor == "postgresql":
        sql = f"INSERT INTO {table} ({columns}) {select_sql} ON CONFLICT DO NOTHING"
    elif connection.vendor == "mysql":
        sql = f"INSERT IGNORE INTO {table} ({columns}) {select_sql}"
    else:
        sql = f"INSERT OR IGNORE INTO {table} ({columns}) {select_sql}"
    with connection.cursor() as cursor:
        # A params list (even empty) makes every backend unescape "%%".
        cursor.execute(sql, list(params))
        return max(int(cursor.rowcount), 0)


def _bulk_batch(
    model: type[models.Model],
    seconds: float,
    batch_size: int,
    using: str,
    after: tuple[Any, Any] | None,
) -> tuple[int, int, tuple[Any, Any] | None]:
    """One page of the window, its missing reminders written; (written, seen, last)."""
    opts = options_for(model)
    window = _window(model, seconds, using)
    if after is not None:
        deadline, pk = after
        window = window.filter(
            Q(**{f"{EXPIRES_AT}__gt": deadline})
            | Q(**{EXPIRES_AT: deadline, "pk__gt": pk})
        )
    rows = list(
        window.order_by(EXPIRES_AT, "pk").values_list(
            "pk", ATTEMPT, opts.assignee_attname, EXPIRES_AT
        )[:batch_size]
    )
    if not rows:
        return 0, 0, after
    content_type_id = _content_type_id(model, using)
    done = set(
        AssignmentEvent.objects.using(using)
        .filter(
            content_type_id=content_type_id,
            object_pk__in=[str(pk) for pk, *_ in rows],
            kind=EventKind.REMINDED,
            sequence=0,
        )
        .values_list("object_pk", "attempt")
    )
    missing = [
        AssignmentEvent(
            content_type_id=content_type_id,
            object_pk=str(pk),
            attempt=attempt,
            kind=EventKind.REMINDED,
            assignee_pk=None if assignee is None else str(assignee),
            deadline=deadline,
        )
        for pk, attempt, assignee, deadline in rows
        if (str(pk), attempt) not in done
    ]
    # A concurrent sweeper may write some first: the unique key drops ours.
    AssignmentEvent.objects.using(using).bulk_create(missing, ignore_conflicts=True)
    last = rows[-1]
    return len(missing), len(rows), (last[3], last[0])
