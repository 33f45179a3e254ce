"""Helpers shared by the test modules, one concern per module.

* ``children``: Django (and other) child processes that share the running
  test's database, log to files and are always stopped and reaped;
* ``child_settings``: the one settings module of those children (``CHILD_*``);
* ``celery_app``: the Celery apps of the workers and of the pytest process;
* ``polling``: ``wait_for``, polling with a deadline;
* ``ports``: ``free_port``;
* ``fcm_fake``: the local fake of FCM and Google's token endpoint;
* ``assertions``: reading expired events and offer state;
* child programs, run as ``python -m tests.support.<name> ...``:
  ``blocked_imports``, ``producer``, ``import_probe``, ``queue_probe``,
  ``missing_fcm``, ``stop_anywhere``, ``example_demo``.

Nothing here imports an optional extra at package import, so the suite
without extras can use what it needs.
"""
