"""System checks: settings, backends and the models that adopt the mixin.

Ids are stable and never reused (retired ones stay reserved):

* E001 status field missing; E002 status value not a choice; E003 status
  values not distinct; E004 assignee field not a foreign key; E005 a cleared
  field does not exist or is one the library manages; E006 bad model timeout;
  E007 an ``AssignmentMeta`` attribute that is not an option (:mod:`.models`).
* E010 bad ``ASSIGNMENT_TIMEOUT_SECONDS``; E011 bad ``SWEEP_INTERVAL``;
  W012 sweep interval longer than the timeout; E013 bad ``BATCH_SIZE``;
  E014 bad ``MAX_BATCHES``; E015 contenttypes not installed; W016 ``USE_TZ``
  off; E032-E034 the ``DELIVERY_*`` settings (:mod:`.settings`).
* E020 the scheduler backend can not be loaded, E030 / W030 the notifier
  backends (:mod:`.backends`); E021-E027, E031-E038 and E080-E089 (email,
  webhook) are the backends' own.
* E055 bad ``ASSIGNMENT_TIMEOUT_EVENT_RETENTION`` (:mod:`.retention`);
  E056-E059 are reserved for retention.

:mod:`.settings`, :mod:`.backends` and :mod:`.retention` register their checks when imported
(the app's ``ready()`` does it); :mod:`.models` is called by the mixin.
"""

from __future__ import annotations
